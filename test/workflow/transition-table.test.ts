// Every change of status × every side, over HTTP with real tokens: each from-status × to-status ×
// role answers what the lifecycle tables promise (restated here, independently of src/workflow).
// Tasks are put in their from-status by carebridge itself (the store without a caller).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Resource, Task } from '@medplum/fhirtypes';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import type { Principal } from '../../src/auth/principal.ts';
import { TASK_STATUSES } from '../../src/workflow/lifecycle.ts';
import type { TaskStatus } from '../../src/workflow/lifecycle.ts';
import { HOSPITAL, agencies, agencyNpi, broadcastPlan, pushPlan } from './support/broadcast.ts';

type Side = 'hospital' | 'agency';
const [AGENCY] = agencies(1) as [Principal];
const SIDES: [Side, Principal][] = [['hospital', HOSPITAL], ['agency', AGENCY]];
const EIE_FROM_ALL = (statuses: readonly TaskStatus[]): string[] => statuses.filter((s) => s !== 'entered-in-error').map((s) => `${s}>entered-in-error`);

const REFERRAL = {
  sets: { hospital: new Set(['requested', 'cancelled', 'entered-in-error']), agency: new Set(['received', 'accepted', 'rejected', 'in-progress', 'on-hold', 'failed', 'completed']) },
  edges: new Set([
    'draft>requested', 'draft>cancelled',
    'requested>received', 'requested>accepted', 'requested>rejected', 'requested>cancelled',
    'received>accepted', 'received>rejected', 'received>cancelled',
    'accepted>in-progress', 'accepted>on-hold', 'accepted>failed', 'accepted>cancelled',
    'in-progress>on-hold', 'in-progress>completed', 'in-progress>failed',
    'on-hold>in-progress', 'on-hold>failed', 'on-hold>cancelled',
    ...EIE_FROM_ALL(TASK_STATUSES),
  ]),
};

const TO_DO = {
  sets: { hospital: new Set(['requested', 'ready', 'in-progress', 'on-hold', 'completed', 'failed', 'cancelled', 'entered-in-error']), agency: new Set(['in-progress', 'on-hold', 'completed', 'failed']) },
  edges: new Set([
    'draft>requested', 'draft>ready', 'draft>cancelled',
    'requested>ready', 'requested>in-progress', 'requested>cancelled',
    'ready>in-progress', 'ready>on-hold', 'ready>completed', 'ready>cancelled',
    'in-progress>on-hold', 'in-progress>completed', 'in-progress>failed', 'in-progress>cancelled',
    'on-hold>in-progress', 'on-hold>failed', 'on-hold>cancelled',
    ...EIE_FROM_ALL(TASK_STATUSES),
  ]),
};

/** What the table promises: 403 a status the side never sets, 409 not from here, else 200. */
function expected(table: typeof REFERRAL, side: Side, from: TaskStatus, to: TaskStatus): number {
  if (!table.sets[side].has(to)) {
    return 403;
  }
  return table.edges.has(`${from}>${to}`) ? 200 : 409;
}

let server: AuthTestServer;
let patient: string;
let agencyOrg: string;

beforeAll(async () => {
  server = await startAuthTestServer({ principals: [HOSPITAL, AGENCY] });
  // The plan opens the patient to the hospital (author) and to the agency (its referral stays requested).
  const plan = await pushPlan(server.as(HOSPITAL), broadcastPlan('table', 1));
  patient = plan.patient;
  agencyOrg = (plan.referrals.get(agencyNpi(0)) as Task).owner?.reference as string;
});
afterAll(async () => {
  await server?.stop();
});

async function taskIn(kind: 'referral' | 'to-do', status: TaskStatus): Promise<Task> {
  const task: Task =
    kind === 'referral'
      ? { resourceType: 'Task', status, intent: 'order', code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] }, for: { reference: `Patient/${patient}` }, owner: { reference: agencyOrg } }
      : { resourceType: 'Task', status, intent: 'plan', code: { text: 'Meals' }, for: { reference: `Patient/${patient}` } };
  return (await server.store.create(task as Resource)).version.resource as Task;
}

describe.each([
  ['referral', REFERRAL],
  ['to-do', TO_DO],
] as const)('a %s Task', (kind, table) => {
  it('answers every from × to × role as its table says', async () => {
    const cells: { from: TaskStatus; to: TaskStatus; side: Side; principal: Principal }[] = [];
    for (const from of TASK_STATUSES) {
      for (const to of TASK_STATUSES.filter((s) => s !== from)) {
        for (const [side, principal] of SIDES) {
          cells.push({ from, to, side, principal });
        }
      }
    }
    const wrong: string[] = [];
    for (const { from, to, side, principal } of cells) {
      const task = await taskIn(kind, from);
      const answer = await server.as(principal)('PUT', `Task/${task.id}`, { ...task, status: to, statusReason: { text: 'because' } }, { 'if-match': `W/"${task.meta?.versionId}"` });
      const want = expected(table, side, from, to);
      if (answer.status !== want) {
        wrong.push(`${side} PUT Task ${from} → ${to}: ${answer.status}, expected ${want} (${answer.text?.slice(0, 200)})`);
      }
    }
    expect(cells.length).toBe(TASK_STATUSES.length * (TASK_STATUSES.length - 1) * 2);
    expect(wrong).toEqual([]);
  });
});
