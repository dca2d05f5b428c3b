// The overdue sweep: settles every TCM deadline Task whose due time has passed. It reads only the
// deadlines that fell due (Task?open-deadline=lt<now>: the index holds open deadlines only), reads
// the evidence of their patients, and writes each deadline's outcome as carebridge:
// - met in time → status completed, output = the evidence;
// - not met → businessStatus "overdue" (status stays requested: the work is still to do); met after
//   the deadline → completed and overdue both, the evidence in output;
// - the 30-day period → completed, businessStatus "period-ended".
// Every write is an update of the Task, so the outbox routes it to the peers and Subscriptions that
// see the patient: that is how the coordinator is notified. Safe late (evidence is judged against
// the due time, not the sweep's time) and twice (a settled deadline leaves the index; each write
// carries If-Match, so a concurrent push or sweep makes it skip, and the next run sees it again).
import { parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import type { Resource, Task, TaskOutput } from '@medplum/fhirtypes';
import { deadlineKindOf, isDeadlineTask } from '../mapping/deadline-tasks.ts';
import { SYSTEMS, TCM_DEADLINES } from '../model/terminology.ts';
import type { DeadlineEvaluation, DeadlineFacts } from './tcm-evidence.ts';
import { evaluateDeadlines } from './tcm-evidence.ts';

/** Deadlines read per page: a few hundred keeps one page's evidence reads short. */
export const SWEEP_PAGE = 200;
/** Evidence resources read per patient and type: a 30-day window has far fewer. */
const MAX_EVIDENCE = 500;

export interface SweepStore {
  search(request: SearchRequest, options?: { cursor?: string }): Promise<{ resources: Resource[]; next?: string }>;
  update(resource: Resource, options?: { ifMatch?: string }): Promise<unknown>;
}

export interface SweepResult {
  /** Deadlines that fell due and were read. */
  due: number;
  met: number;
  overdue: number;
  ended: number;
  /** Written by someone else meanwhile (412) or not yet past due: left for the next run. */
  skipped: number;
}

const search = (store: Pick<SweepStore, 'search'>, query: string, count: number, cursor?: string): Promise<{ resources: Resource[]; next?: string }> =>
  store.search({ ...parseSearchRequest(query), count }, cursor === undefined ? undefined : { cursor });

/** A deadline Task's facts for evaluateDeadline, or undefined when it is not one. */
export function deadlineFacts(task: Task): DeadlineFacts | undefined {
  const kind = deadlineKindOf(task);
  const due = task.restriction?.period?.end;
  const dischargedAt = task.restriction?.period?.start;
  return kind && due && dischargedAt && isDeadlineTask(task) ? { kind, due, dischargedAt } : undefined;
}

/** The resources that can be evidence for a patient's deadlines (Communications, Tasks, Appointments). */
export async function evidenceFor(store: Pick<SweepStore, 'search'>, patient: string): Promise<Resource[]> {
  const system = encodeURIComponent(`${SYSTEMS.tcmDeadline}|`);
  const [communications, tasks, appointments] = await Promise.all([
    search(store, `Communication?subject=${encodeURIComponent(patient)}&category=${system}`, MAX_EVIDENCE),
    // Not narrowed by code: the patient reference drives, and candidates() reads the codes.
    search(store, `Task?patient=${encodeURIComponent(patient)}`, MAX_EVIDENCE),
    search(store, `Appointment?patient=${encodeURIComponent(patient)}&status=fulfilled`, MAX_EVIDENCE),
  ]);
  return [...communications.resources, ...tasks.resources.filter((t) => !isDeadlineTask(t as Task)), ...appointments.resources];
}

const output = (evaluation: DeadlineEvaluation): TaskOutput[] =>
  evaluation.evidence.map((e) => ({ type: { coding: [{ system: SYSTEMS.tcmDeadline, code: evaluation.kind }], text: e.outcome === 'attempt' ? 'unsuccessful attempt' : 'evidence' }, valueReference: { reference: e.resource } }));

const businessStatus = (code: 'overdue' | 'period-ended'): Task['businessStatus'] => ({ coding: [{ system: SYSTEMS.tcmDeadline, code, display: TCM_DEADLINES[code].display }], text: TCM_DEADLINES[code].display });

/** The Task as the sweep settles it, or undefined when it is not past due yet. */
export function settledTask(task: Task, evaluation: DeadlineEvaluation): { task: Task; outcome: 'met' | 'overdue' | 'ended' } | undefined {
  const { meta: _meta, ...rest } = task;
  const base = task.meta?.profile ? { ...rest, meta: { profile: task.meta.profile } } : rest;
  switch (evaluation.state) {
    case 'met':
      return { task: { ...base, status: 'completed', output: output(evaluation) }, outcome: 'met' };
    case 'met-late':
      return { task: { ...base, status: 'completed', businessStatus: businessStatus('overdue'), output: output(evaluation) }, outcome: 'overdue' };
    case 'overdue':
      return { task: { ...base, businessStatus: businessStatus('overdue'), ...(evaluation.evidence.length > 0 ? { output: output(evaluation) } : {}) }, outcome: 'overdue' };
    case 'ended':
      return { task: { ...base, status: 'completed', businessStatus: businessStatus('period-ended') }, outcome: 'ended' };
    default:
      return undefined;
  }
}

/** A write that lost to a concurrent one (If-Match failed): the next run, or a read again, sees the winner. */
export function isConflict(err: unknown): boolean {
  const outcome = (err as { outcome?: { id?: string; issue?: { code?: string }[] } }).outcome;
  return outcome?.id === 'precondition-failed' || outcome?.issue?.some((i) => i.code === 'conflict') === true || /precondition|version/i.test((err as Error).message ?? '');
}

/** Settles every deadline due at `nowMs`, a page at a time; `store` sees everything and writes as carebridge. */
export async function sweepDeadlines(store: SweepStore, nowMs: number, options: { pageSize?: number; shouldStop?: () => boolean } = {}): Promise<SweepResult> {
  const result: SweepResult = { due: 0, met: 0, overdue: 0, ended: 0, skipped: 0 };
  const now = new Date(nowMs).toISOString();
  let cursor: string | undefined;
  do {
    const page = await search(store, `Task?open-deadline=lt${encodeURIComponent(now)}`, options.pageSize ?? SWEEP_PAGE, cursor);
    cursor = page.next;
    const byPlan = new Map<string, Task[]>();
    for (const task of page.resources as Task[]) {
      const plan = task.basedOn?.[0]?.reference ?? `Task/${task.id}`;
      byPlan.set(plan, [...(byPlan.get(plan) ?? []), task]);
    }
    for (const [plan, due] of byPlan) {
      if (options.shouldStop?.()) {
        return result;
      }
      result.due += due.length;
      const patient = due[0]?.for?.reference;
      const evidence = patient ? await evidenceFor(store, patient) : [];
      // The visit bounds the reconciliation: its deadline is read even when it is not in this page.
      const siblings = plan.startsWith('CarePlan/') ? ((await search(store, `Task?based-on=${encodeURIComponent(plan)}`, MAX_EVIDENCE)).resources as Task[]) : due;
      const facts = siblings.map(deadlineFacts).filter((f): f is DeadlineFacts => f !== undefined);
      const evaluations = new Map(evaluateDeadlines(facts, evidence, nowMs).map((e) => [e.kind, e]));
      for (const task of due) {
        const kind = deadlineKindOf(task);
        const evaluation = kind ? evaluations.get(kind) : undefined;
        const settled = evaluation ? settledTask(task, evaluation) : undefined;
        if (!settled) {
          result.skipped++;
          continue;
        }
        try {
          await store.update(settled.task, { ifMatch: task.meta?.versionId });
          result[settled.outcome]++;
        } catch (err) {
          if (!isConflict(err)) {
            throw err;
          }
          result.skipped++;
        }
      }
    }
  } while (cursor !== undefined);
  return result;
}
