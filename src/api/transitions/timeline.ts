// GET /transitions/{id}/timeline and GET /fhir/CarePlan/{id}/$timeline: the transition's TCM
// clock — each deadline, its due time, whether it is met (in time or late), open or overdue, and
// the evidence — from the deadline Tasks and the evidence the caller may see, judged at `now`.
// A deadline the sweep completed stays met even when its evidence is hidden from this caller.
import type { Parameters, ParametersParameter, Resource, Task } from '@medplum/fhirtypes';
import { forbiddenError, permitted } from '../../auth/access/policy.ts';
import type { Principal } from '../../auth/principal.ts';
import { deadlineKindOf, isDeadlineTask } from '../../mapping/deadline-tasks.ts';
import { SYSTEMS, TCM_DEADLINES } from '../../model/terminology.ts';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import type { Readmission } from '../../workflow/readmission.ts';
import { firstReadmission } from '../../workflow/readmission.ts';
import type { DeadlineKind } from '../../workflow/tcm-clock.ts';
import { DEADLINE_KINDS } from '../../workflow/tcm-clock.ts';
import type { DeadlineEvaluation, DeadlineState, Evidence } from '../../workflow/tcm-evidence.ts';
import { evaluateDeadlines } from '../../workflow/tcm-evidence.ts';
import { deadlineFacts, evidenceFor } from '../../workflow/tcm-sweep.ts';
import type { TransitionResources } from './collect.ts';

export interface TimelineDeadline {
  kind: DeadlineKind;
  display: string;
  task: string;
  due: string;
  state: DeadlineState;
  metAt?: string;
  evidence: Evidence[];
  /** The deadline Task as stored: the sweep's last word (status, and "overdue" once it was told). */
  recorded: { status: string; businessStatus?: string };
}

export interface Timeline {
  id: string;
  carePlan: string;
  /** The instant the clock was read at. */
  now: string;
  dischargedAt?: string;
  deadlines: TimelineDeadline[];
  readmission: Readmission | null;
}

function fromOutput(task: Task): Evidence[] {
  return (task.output ?? []).flatMap((o) => {
    const reference = o.valueReference?.reference;
    const type = reference?.split('/')[0];
    return reference && (type === 'Communication' || type === 'Task' || type === 'Appointment') ? [{ resource: reference, type, at: '', outcome: o.type?.text === 'unsuccessful attempt' ? ('attempt' as const) : ('met' as const) }] : [];
  });
}

/** What the stored Task says, when it says more than the evidence this caller sees. */
function merged(task: Task, live: DeadlineEvaluation): Pick<TimelineDeadline, 'state' | 'metAt' | 'evidence'> {
  const overdueRecorded = task.businessStatus?.coding?.some((c) => c.system === SYSTEMS.tcmDeadline && c.code === 'overdue') === true;
  if (task.status === 'completed' && live.kind !== 'tcm-period-end' && (live.state === 'open' || live.state === 'overdue')) {
    return { state: overdueRecorded ? 'met-late' : 'met', evidence: fromOutput(task) };
  }
  return { state: live.state, ...(live.metAt ? { metAt: live.metAt } : {}), evidence: live.evidence };
}

/**
 * The clock is made of the deadline Tasks: a client that may not read Tasks (the case-management
 * role) is told so with 403, not given a clock without deadlines that reads as "nothing due".
 * Checked before the transition is looked up, so the answer does not depend on what exists.
 */
export function requireClockReader(principal: Principal | undefined): void {
  if (principal && !permitted(principal, 'Task', 'r')) {
    throw forbiddenError("The transitional-care timeline is made of deadline Tasks, which this client's role or token may not read");
  }
}

export async function transitionTimeline(store: StoreTransaction, transition: TransitionResources, nowMs: number): Promise<{ timeline: Timeline; disclosed: Resource[] }> {
  const { carePlan, resources } = transition;
  const tasks = resources.filter((r): r is Task => r.resourceType === 'Task' && isDeadlineTask(r)).sort((a, b) => DEADLINE_KINDS.indexOf(deadlineKindOf(a) as DeadlineKind) - DEADLINE_KINDS.indexOf(deadlineKindOf(b) as DeadlineKind));
  const patient = carePlan.subject?.reference;
  const evidence = tasks.length > 0 && patient?.startsWith('Patient/') ? await evidenceFor(store, patient) : [];
  const facts = tasks.map(deadlineFacts);
  const evaluations = new Map(evaluateDeadlines(facts.filter((f) => f !== undefined), evidence, nowMs).map((e) => [e.kind, e]));
  const deadlines: TimelineDeadline[] = [];
  tasks.forEach((task, i) => {
    const f = facts[i];
    const live = f ? evaluations.get(f.kind) : undefined;
    if (!f || !live) {
      return;
    }
    deadlines.push({
      kind: f.kind,
      display: TCM_DEADLINES[f.kind].display,
      task: `Task/${task.id}`,
      due: f.due,
      ...merged(task, live),
      recorded: { status: task.status, ...(task.businessStatus?.coding?.[0]?.code ? { businessStatus: task.businessStatus.coding[0].code } : {}) },
    });
  });
  const cited = new Set(deadlines.flatMap((d) => d.evidence.map((e) => e.resource)));
  return {
    timeline: {
      id: carePlan.id as string,
      carePlan: `CarePlan/${carePlan.id}`,
      now: new Date(nowMs).toISOString(),
      ...(tasks[0]?.restriction?.period?.start ? { dischargedAt: tasks[0].restriction.period.start } : {}),
      deadlines,
      readmission: firstReadmission(carePlan),
    },
    disclosed: [carePlan, ...tasks, ...evidence.filter((r) => cited.has(`${r.resourceType}/${r.id}`))],
  };
}

/** The same clock as FHIR Parameters (the $timeline operation's answer). */
export function timelineParameters(timeline: Timeline): Parameters {
  const parameter: ParametersParameter[] = [
    { name: 'carePlan', valueReference: { reference: timeline.carePlan } },
    { name: 'now', valueInstant: timeline.now },
    ...(timeline.dischargedAt ? [{ name: 'dischargedAt', valueDateTime: timeline.dischargedAt }] : []),
    ...timeline.deadlines.map(
      (d): ParametersParameter => ({
        name: 'deadline',
        part: [
          { name: 'code', valueCoding: { system: SYSTEMS.tcmDeadline, code: d.kind, display: d.display } },
          { name: 'task', valueReference: { reference: d.task } },
          { name: 'due', valueDateTime: d.due },
          { name: 'state', valueCode: d.state },
          ...(d.metAt ? [{ name: 'metAt', valueDateTime: d.metAt }] : []),
          ...d.evidence.map((e) => ({ name: 'evidence', valueReference: { reference: e.resource } })),
        ],
      }),
    ),
    ...(timeline.readmission
      ? [
          {
            name: 'readmission',
            part: [
              { name: 'encounter', valueReference: { reference: timeline.readmission.encounter } },
              { name: 'admittedOn', valueDate: timeline.readmission.admittedOn },
              { name: 'daysAfterDischarge', valueUnsignedInt: timeline.readmission.daysAfterDischarge },
            ],
          },
        ]
      : []),
  ];
  return { resourceType: 'Parameters', parameter };
}
