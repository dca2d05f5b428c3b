// What meets a TCM deadline (pure): evidence, never a ticked box.
// - interactive contact: a completed Communication (category) or Task (code) "interactive-contact"
//   about the patient, sent before the deadline; or two documented unsuccessful attempts before it
//   (Communication not-done, Task failed) — the CMS rule for patients who cannot be reached;
// - face-to-face visit: a fulfilled Appointment of the patient starting before the deadline;
// - medication reconciliation: a completed Task "medication-reconciliation" before the deadline and
//   no later than the day of the face-to-face visit, when that visit took place;
// - the end of the 30-day period is met by time alone ("ended").
// Only evidence dated on or after the discharge counts: a contact before it belongs to the stay.
import type { Appointment, Communication, Resource, Task } from '@medplum/fhirtypes';
import { SYSTEMS } from '../model/terminology.ts';
import type { DeadlineKind } from './tcm-clock.ts';
import { addDays, localDay, startOfLocalDay, writtenZone } from './tcm-clock.ts';

/** Unsuccessful contact attempts that count as the contact (CMS TCM FAQ: two or more separate attempts). */
export const ATTEMPTS_THAT_COUNT = 2;

export type DeadlineState = 'open' | 'met' | 'met-late' | 'overdue' | 'ended';

export interface Evidence {
  resource: string;
  type: 'Communication' | 'Task' | 'Appointment';
  /** When it happened (sent, completed, the visit's start). */
  at: string;
  outcome: 'met' | 'attempt';
}

export interface DeadlineEvaluation {
  kind: DeadlineKind;
  state: DeadlineState;
  /** When the deadline was met (its evidence's time), if it was. */
  metAt?: string;
  /** The evidence that meets it (or the attempts that do), earliest first; late evidence too. */
  evidence: Evidence[];
}

export interface DeadlineFacts {
  kind: DeadlineKind;
  /** restriction.period.end as written: the last second of the due day in the hospital's zone. */
  due: string;
  /** The discharge (restriction.period.start). */
  dischargedAt: string;
}

const refOf = (r: Resource): string => `${r.resourceType}/${r.id}`;

function hasCode(codings: { system?: string; code?: string }[] | undefined, kind: DeadlineKind): boolean {
  return (codings ?? []).some((c) => c.system === SYSTEMS.tcmDeadline && c.code === kind);
}

function timeOf(value: string | undefined): number {
  return value === undefined ? Number.NaN : Date.parse(value);
}

/** Every piece of evidence for `kind` among the resources, with its time, earliest first. */
function candidates(kind: DeadlineKind, resources: readonly Resource[]): Evidence[] {
  const out: Evidence[] = [];
  for (const r of resources) {
    if (r.resourceType === 'Communication') {
      const c = r as Communication;
      if (hasCode(c.category?.flatMap((x) => x.coding ?? []), kind)) {
        const at = c.sent ?? c.meta?.lastUpdated;
        if (at && c.status === 'completed') {
          out.push({ resource: refOf(c), type: 'Communication', at, outcome: 'met' });
        } else if (at && c.status === 'not-done' && kind === 'interactive-contact') {
          out.push({ resource: refOf(c), type: 'Communication', at, outcome: 'attempt' });
        }
      }
    } else if (r.resourceType === 'Task') {
      const t = r as Task;
      if (hasCode(t.code?.coding, kind) && t.restriction?.period?.end === undefined) {
        const at = t.executionPeriod?.end ?? t.lastModified ?? t.meta?.lastUpdated;
        if (at && t.status === 'completed') {
          out.push({ resource: refOf(t), type: 'Task', at, outcome: 'met' });
        } else if (at && t.status === 'failed' && kind === 'interactive-contact') {
          out.push({ resource: refOf(t), type: 'Task', at, outcome: 'attempt' });
        }
      }
    } else if (r.resourceType === 'Appointment' && kind === 'face-to-face-visit') {
      const a = r as Appointment;
      if (a.status === 'fulfilled' && a.start) {
        out.push({ resource: refOf(a), type: 'Appointment', at: a.start, outcome: 'met' });
      }
    }
  }
  return out.filter((e) => !Number.isNaN(timeOf(e.at))).sort((a, b) => timeOf(a.at) - timeOf(b.at) || (a.resource < b.resource ? -1 : 1));
}

/** The first instant after the due day (restriction.period.end is its last second). */
export function dueEndMs(due: string): number {
  return Math.floor(timeOf(due) / 1000) * 1000 + 1000;
}

/** When the evidence list meets the deadline: the first "met", or the second attempt. */
function meetingTime(evidence: readonly Evidence[]): { at: string; used: Evidence[] } | undefined {
  const met = evidence.find((e) => e.outcome === 'met');
  const attempts = evidence.filter((e) => e.outcome === 'attempt');
  const byAttempts = attempts.length >= ATTEMPTS_THAT_COUNT ? attempts[ATTEMPTS_THAT_COUNT - 1] : undefined;
  if (met && (!byAttempts || timeOf(met.at) <= timeOf(byAttempts.at))) {
    return { at: met.at, used: [met] };
  }
  return byAttempts ? { at: byAttempts.at, used: attempts.slice(0, ATTEMPTS_THAT_COUNT) } : undefined;
}

/**
 * The state of one deadline at `nowMs`, from the resources about the patient (Communications,
 * Tasks, Appointments; others are ignored). `visit`: the face-to-face visit's evaluation, which
 * bounds the medication reconciliation.
 */
export function evaluateDeadline(facts: DeadlineFacts, resources: readonly Resource[], nowMs: number, visit?: DeadlineEvaluation): DeadlineEvaluation {
  const end = dueEndMs(facts.due);
  if (facts.kind === 'tcm-period-end') {
    return { kind: facts.kind, state: nowMs >= end ? 'ended' : 'open', evidence: [] };
  }
  const since = timeOf(facts.dischargedAt);
  const all = candidates(facts.kind, resources).filter((e) => Number.isNaN(since) || timeOf(e.at) >= since);
  let limit = end;
  if (facts.kind === 'medication-reconciliation' && visit?.metAt && (visit.state === 'met' || visit.state === 'met-late')) {
    // No later than the face-to-face visit: the end of the visit's day, in the hospital's zone.
    const zone = writtenZone(facts.due) ?? { offsetMinutes: 0 };
    limit = Math.min(end, startOfLocalDay(zone, addDays(localDay(zone, timeOf(visit.metAt)), 1)));
  }
  const inTime = meetingTime(all.filter((e) => timeOf(e.at) < limit));
  if (inTime) {
    return { kind: facts.kind, state: 'met', metAt: inTime.at, evidence: inTime.used };
  }
  const late = meetingTime(all);
  if (late) {
    // Evidence exists but none before the limit: it came late.
    return { kind: facts.kind, state: 'met-late', metAt: late.at, evidence: late.used };
  }
  return { kind: facts.kind, state: nowMs >= end ? 'overdue' : 'open', evidence: all.filter((e) => e.outcome === 'attempt') };
}

/** Every deadline of a transition, the visit first so it can bound the reconciliation. */
export function evaluateDeadlines(deadlines: readonly DeadlineFacts[], resources: readonly Resource[], nowMs: number): DeadlineEvaluation[] {
  const visitFacts = deadlines.find((d) => d.kind === 'face-to-face-visit');
  const visit = visitFacts ? evaluateDeadline(visitFacts, resources, nowMs) : undefined;
  return deadlines.map((d) => (d.kind === 'face-to-face-visit' && visit ? visit : evaluateDeadline(d, resources, nowMs, visit)));
}
