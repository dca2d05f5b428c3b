// A caregiver's daily task: Task (intent "plan") owned by whoever does it. Task has no timing of
// its own, so how often, the vital-sign thresholds to report and the goals served are Task.input
// values (Timing, Range, Reference), typed with carebridge's task-input codes.
import type { Reference, RelatedPerson, Practitioner, Task, TaskInput } from '@medplum/fhirtypes';
import type { CaregiverTask, CaregiverTaskKind, ReportThreshold, TaskFrequency, VitalSign } from '../model/transition-plan.ts';
import { PROFILES } from '../model/profiles.ts';
import { CAREGIVER_TASKS, SYSTEMS, TASK_INPUTS } from '../model/terminology.ts';
import { VITAL_SIGNS } from '../model/vital-signs.ts';
import { ref } from './bundle-builder.ts';
import type { BundleReader } from './bundle-reader.ts';
import { codeIn, defined } from './datatypes.ts';
import { planItemIdentifier, readPlanItem } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

function inputType(code: keyof typeof TASK_INPUTS, ...more: { system: string; code: string; display?: string }[]): TaskInput['type'] {
  return { coding: [{ system: SYSTEMS.taskInput, code, display: TASK_INPUTS[code].display }, ...more] };
}

function quantity(value: number | undefined, unit: string): { value: number; unit: string; system: string; code: string } | undefined {
  return value === undefined ? undefined : { value, unit, system: SYSTEMS.ucum, code: unit };
}

export function addCaregiverTasks(state: ToFhirState, carePlan: string): void {
  for (const task of state.plan.caregiverTasks ?? []) {
    const kind = CAREGIVER_TASKS[task.kind];
    const input: TaskInput[] = [
      {
        type: inputType('frequency'),
        valueTiming: { repeat: { frequency: task.frequency.count, period: task.frequency.period, periodUnit: task.frequency.periodUnit } },
      },
      ...(task.thresholds ?? []).map((t): TaskInput => {
        const vital = VITAL_SIGNS[t.vitalSign];
        return {
          type: inputType('report-threshold', { system: SYSTEMS.loinc, code: vital.loinc, display: vital.display }),
          valueRange: defined({ low: quantity(t.low, t.unit), high: quantity(t.high, t.unit) }),
        };
      }),
      ...(task.goals ?? []).map((goal): TaskInput => ({ type: inputType('goal'), valueReference: ref(state.goals.get(goal) as string) })),
    ];
    const resource: Task = defined({
      resourceType: 'Task',
      meta: { profile: [PROFILES.caregiverTask] },
      identifier: [planItemIdentifier(state.key, 'caregiver-task', task.id)],
      basedOn: [ref(carePlan)],
      status: 'requested',
      intent: 'plan',
      code: { coding: [{ system: SYSTEMS.caregiverTask, code: task.kind, display: kind.display }, ...(kind.standard ? [{ ...kind.standard }] : [])], text: kind.display },
      description: task.description,
      for: ref(state.patient),
      encounter: ref(state.encounter),
      authoredOn: state.plan.created,
      requester: ref(state.members.get(state.plan.author) as string),
      owner: ref(state.members.get(task.performer) as string),
      input,
    });
    state.activities.push(state.builder.add(resource, 'conditional-update'));
  }
}

export function fromCaregiverTask(task: Task, reader: BundleReader, memberIds: Map<object, string>, goalIds: Map<object, string>): CaregiverTask {
  const performer = reader.requireOneOf<Practitioner | RelatedPerson>(task.owner, ['Practitioner', 'RelatedPerson'], 'Task.owner');
  const inputs = task.input ?? [];
  const ofType = (code: string): TaskInput[] => inputs.filter((i) => codeIn(i.type, SYSTEMS.taskInput) === code);
  const repeat = ofType('frequency')[0]?.valueTiming?.repeat;
  const frequency: TaskFrequency = { count: repeat?.frequency ?? 1, period: repeat?.period ?? 1, periodUnit: (repeat?.periodUnit ?? 'd') as TaskFrequency['periodUnit'] };
  const thresholds = ofType('report-threshold').map((i): ReportThreshold => {
    const loinc = codeIn(i.type, SYSTEMS.loinc);
    const vitalSign = (Object.entries(VITAL_SIGNS).find(([, v]) => v.loinc === loinc)?.[0] ?? 'heart-rate') as VitalSign;
    const range = i.valueRange;
    return defined({ vitalSign, low: range?.low?.value, high: range?.high?.value, unit: range?.low?.code ?? range?.high?.code ?? '' });
  });
  const goals = ofType('goal').map((i, k) => goalIds.get(reader.require(i.valueReference as Reference, 'Goal', `Task.input[${k}].valueReference`)) ?? '');
  return defined<CaregiverTask>({
    id: readPlanItem(task.identifier)?.localId ?? task.id ?? '',
    kind: (codeIn(task.code, SYSTEMS.caregiverTask) ?? 'companionship') as CaregiverTaskKind,
    description: task.description,
    performer: memberIds.get(performer) ?? '',
    frequency,
    thresholds: thresholds.length > 0 ? thresholds : undefined,
    goals: goals.length > 0 ? goals : undefined,
  });
}
