// The red-flag rule: once an Observation is stored (an agency's or a caregiver app's report),
// the readings it carries are checked against the patient's transition (red-flags.ts); a crossing
// creates an urgent Task for the care coordinator in the same transaction, written as carebridge,
// owned by the coordinator's Organization (CareTeam participant onBehalfOf), so the outbox routes it
// to that organization's peers and Subscriptions. One Task per episode: while a red-flag Task of
// that kind is open for the patient, further readings add nothing; once it is completed or
// cancelled, the next crossing opens a new episode. Task.authoredOn is the reading's time, not the
// wall clock: the rule is deterministic.
import { parseSearchRequest } from '@medplum/core';
import type { CarePlan, CareTeam, Condition, Observation, Resource, Task } from '@medplum/fhirtypes';
import { SYSTEMS } from '../model/terminology.ts';
import type { VitalSign } from '../model/transition-plan.ts';
import { VITAL_SIGNS } from '../model/vital-signs.ts';
import type { Reading } from './red-flags.ts';
import { careCoordinatorOf } from './transition-deadlines.ts';
import { RED_FLAG_SYSTEM, evaluateReading, isHeartFailure, readingsOf, rulesFor } from './red-flags.ts';

/** Statuses of a red-flag Task that keep its episode open. */
export const OPEN_STATUSES = ['draft', 'requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold'];
/** Earlier weights looked at: a week of daily readings, several a day, is far below this. */
const MAX_EARLIER = 200;

export interface RedFlagStore {
  read(resourceType: string, id: string): Promise<{ deleted: boolean; resource?: Resource } | undefined>;
  search(request: ReturnType<typeof parseSearchRequest>): Promise<{ resources: Resource[] }>;
  create(resource: Resource): Promise<unknown>;
}

const search = async <T extends Resource>(store: RedFlagStore, query: string, count = 100): Promise<T[]> => (await store.search({ ...parseSearchRequest(query), count })).resources as T[];

const VITAL_BY_LOINC = new Map(Object.entries(VITAL_SIGNS).map(([sign, v]) => [v.loinc, sign as VitalSign]));

function thresholdsOf(tasks: Task[]): { vitalSign: VitalSign; low?: number; high?: number; unit: string }[] {
  return tasks.flatMap((t) =>
    (t.input ?? []).flatMap((i) => {
      const loinc = i.type.coding?.find((c) => c.system === SYSTEMS.loinc)?.code;
      const isThreshold = i.type.coding?.some((c) => c.system === SYSTEMS.taskInput && c.code === 'report-threshold');
      const vitalSign = loinc ? VITAL_BY_LOINC.get(loinc) : undefined;
      const range = i.valueRange;
      const unit = range?.low?.code ?? range?.high?.code;
      return isThreshold && vitalSign && unit ? [{ vitalSign, low: range?.low?.value, high: range?.high?.value, unit }] : [];
    }),
  );
}

async function coordinatorOf(store: RedFlagStore, carePlan: CarePlan): Promise<{ reference: string; display?: string } | undefined> {
  for (const ref of carePlan.careTeam ?? []) {
    const id = ref.reference?.startsWith('CareTeam/') ? ref.reference.slice('CareTeam/'.length) : undefined;
    const team = id ? ((await store.read('CareTeam', id))?.resource as CareTeam | undefined) : undefined;
    const coordinator = careCoordinatorOf(team);
    const owner = coordinator?.onBehalfOf?.reference ?? coordinator?.member?.reference;
    if (owner) {
      return { reference: owner, display: coordinator?.onBehalfOf ? coordinator.onBehalfOf.display : coordinator?.member?.display };
    }
  }
  return undefined;
}

export async function raiseRedFlags(observation: Observation, system: RedFlagStore): Promise<void> {
  const readings = readingsOf(observation);
  const patient = observation.subject?.reference;
  if (readings.length === 0 || !patient?.startsWith('Patient/')) {
    return;
  }
  const plans = await search<CarePlan>(system, `CarePlan?subject=${encodeURIComponent(patient)}&status=active`);
  const carePlan = plans.sort((a, b) => ((a.meta?.lastUpdated ?? '') < (b.meta?.lastUpdated ?? '') ? 1 : -1))[0];
  if (!carePlan) {
    return; // no open transition: nobody to tell
  }
  const tasks = (await search<Task>(system, `Task?based-on=CarePlan/${carePlan.id ?? ''}`, 1000)).filter((t) => t.intent === 'plan');
  const conditions = await search<Condition>(system, `Condition?subject=${encodeURIComponent(patient)}`);
  const heartFailure = conditions.some((c) => c.code?.coding?.some(isHeartFailure));
  const rules = rulesFor(thresholdsOf(tasks), heartFailure);
  let earlier: Reading[] = [];
  if (heartFailure && readings.some((r) => r.vitalSign === 'body-weight')) {
    const weights = await search<Observation>(system, `Observation?subject=${encodeURIComponent(patient)}&code=${SYSTEMS.loinc}|${VITAL_SIGNS['body-weight'].loinc}`, MAX_EARLIER);
    earlier = weights.filter((o) => o.id === undefined || o.id !== observation.id).flatMap(readingsOf);
  }
  const flags = readings.flatMap((r) => evaluateReading(r, earlier, rules).map((f) => ({ ...f, reading: r })));
  if (flags.length === 0) {
    return;
  }
  const owner = await coordinatorOf(system, carePlan);
  for (const flag of flags) {
    const open = await search<Task>(system, `Task?patient=${encodeURIComponent(patient)}&code=${RED_FLAG_SYSTEM}|${flag.kind}&status=${OPEN_STATUSES.join(',')}`, 1);
    if (open.length > 0) {
      continue; // the episode's Task is open already: once per episode, not once per reading
    }
    const task: Task = {
      resourceType: 'Task',
      status: 'requested',
      // A coordinator's to-do (intent "plan": the care-task lifecycle), not a referral.
      intent: 'plan',
      priority: 'urgent',
      code: { coding: [{ system: RED_FLAG_SYSTEM, code: flag.kind, display: `Red flag: ${flag.kind}` }], text: 'Caregiver report crossed a red-flag threshold' },
      description: `${flag.text}: call the patient or caregiver`,
      // The reading as stored (the rule runs once the write's ids are known): what to act on, and why.
      ...(observation.id ? { focus: { reference: `Observation/${observation.id}` }, reasonReference: { reference: `Observation/${observation.id}` } } : {}),
      for: { reference: patient },
      authoredOn: new Date(flag.reading.at).toISOString(),
      ...(owner ? { owner } : {}),
      input: [{ type: { coding: [{ system: SYSTEMS.loinc, code: VITAL_SIGNS[flag.reading.vitalSign].loinc, display: VITAL_SIGNS[flag.reading.vitalSign].display }] }, valueQuantity: { value: flag.reading.value, unit: flag.reading.unit, system: SYSTEMS.ucum, code: flag.reading.unit } }],
    };
    await system.create(task);
  }
}
