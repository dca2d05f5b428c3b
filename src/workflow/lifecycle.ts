// A Task lifecycle as a table: from each status, which statuses each side may set, and why.
// Pure: no I/O, no HTTP. The write rules (write-rules.ts) turn a refusal into an
// OperationOutcomeError; the /transitions API may ask `allowedNext` to show the buttons.
import type { Task } from '@medplum/fhirtypes';

export type TaskStatus = Task['status'];

/** The two sides of a Task: who asked for it (hospital, care coordinator) and who does it (agency). */
export type WorkflowActor = 'requester' | 'performer';

export interface Edge {
  to: TaskStatus;
  by: readonly WorkflowActor[];
  /** One line: why this edge exists. */
  why: string;
}

export interface Lifecycle {
  /** "referral" or "to-do": named in refusals. */
  name: string;
  /** Statuses a new Task of this kind may start in. */
  initial: readonly TaskStatus[];
  edges: Readonly<Record<TaskStatus, readonly Edge[]>>;
  /** Statuses that need Task.statusReason (text or a code). */
  reasonRequired: ReadonlySet<TaskStatus>;
  /** How refusals name each side ("hospital", "agency"). */
  actors: Readonly<Record<WorkflowActor, string>>;
}

export const TASK_STATUSES: readonly TaskStatus[] = [
  'draft', 'requested', 'received', 'accepted', 'rejected', 'ready', 'cancelled', 'in-progress', 'on-hold', 'failed', 'completed', 'entered-in-error',
];

/** A refused change of status: the HTTP status it answers and the sentence that explains it. */
export interface Refusal {
  status: 403 | 409 | 422;
  text: string;
  /** What this caller may set from the current status instead. */
  allowed: TaskStatus[];
}

/** Statuses nothing but entered-in-error leaves. */
export function isTerminal(lifecycle: Lifecycle, status: TaskStatus): boolean {
  return (lifecycle.edges[status] ?? []).every((e) => e.to === 'entered-in-error');
}

/** What `actor` may set from `from`. */
export function allowedNext(lifecycle: Lifecycle, actor: WorkflowActor, from: TaskStatus): TaskStatus[] {
  return (lifecycle.edges[from] ?? []).filter((e) => e.by.includes(actor)).map((e) => e.to);
}

/** Statuses `actor` may set from some status. */
export function settableBy(lifecycle: Lifecycle, actor: WorkflowActor): Set<TaskStatus> {
  return new Set(Object.values(lifecycle.edges).flatMap((edges) => edges.filter((e) => e.by.includes(actor)).map((e) => e.to)));
}

function choices(lifecycle: Lifecycle, actor: WorkflowActor, from: TaskStatus, allowed: TaskStatus[]): string {
  return `From ${from}, ${lifecycle.actors[actor]} may set: ${allowed.length > 0 ? allowed.join(', ') : 'nothing'}`;
}

/**
 * Why `actor` may not move a Task from `from` to `to`, or undefined when it may. Checked in this
 * order: a status the side may never set (403), a status it may set but not from here (409), a
 * missing reason (422).
 */
export function checkTransition(lifecycle: Lifecycle, actor: WorkflowActor, from: TaskStatus, to: TaskStatus, hasReason: boolean): Refusal | undefined {
  if (from === to) {
    return undefined;
  }
  const allowed = allowedNext(lifecycle, actor, from);
  if (!settableBy(lifecycle, actor).has(to)) {
    return { status: 403, allowed, text: `${capitalized(lifecycle.actors[actor])} may not set a ${lifecycle.name} Task to ${to}. ${choices(lifecycle, actor, from, allowed)}` };
  }
  if (!allowed.includes(to)) {
    return { status: 409, allowed, text: `A ${lifecycle.name} Task cannot go from ${from} to ${to}. ${choices(lifecycle, actor, from, allowed)}` };
  }
  if (lifecycle.reasonRequired.has(to) && !hasReason) {
    return { status: 422, allowed, text: `Setting a ${lifecycle.name} Task to ${to} needs Task.statusReason (a code or a text saying why)` };
  }
  return undefined;
}

/** Why a new Task may not start in `status`, or undefined. */
export function checkInitial(lifecycle: Lifecycle, status: TaskStatus): Refusal | undefined {
  return lifecycle.initial.includes(status) ? undefined : { status: 422, allowed: [...lifecycle.initial], text: `A new ${lifecycle.name} Task starts as ${lifecycle.initial.join(' or ')}, not ${status}` };
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Builds the edge table, adding entered-in-error (by the requester) from every other status. */
export function withEnteredInError(edges: Record<Exclude<TaskStatus, 'entered-in-error'>, Edge[]>): Record<TaskStatus, readonly Edge[]> {
  const out = {} as Record<TaskStatus, readonly Edge[]>;
  for (const [from, list] of Object.entries(edges) as [TaskStatus, Edge[]][]) {
    out[from] = [...list, { to: 'entered-in-error', by: ['requester'], why: 'a Task made by mistake is withdrawn from the record, whatever its state' }];
  }
  out['entered-in-error'] = [];
  return out;
}
