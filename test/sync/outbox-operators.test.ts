// What operators have: /admin/outbox over HTTP with real tokens (admins only), and the CLI commands
// carebridge outbox / carebridge replay on the same SQLite file.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import { runOutbox, runReplay } from '../../src/cli/outbox-command.ts';
import type { Io } from '../../src/cli/output.ts';
import type { Delivery, OutboxRouter } from '../../src/store/outbox.ts';
import { ADMIN, HOSPITAL } from '../workflow/support/broadcast.ts';

let server: AuthTestServer;
let env: NodeJS.ProcessEnv;

const toSunrise: OutboxRouter = {
  route: async (written, context) =>
    Promise.all(written.filter((v) => v.resourceType === 'Patient').map(async (v) => ({ destination: 'sunrise', patientId: await context.patientOf(v.resourceType, v.id), resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId }))),
};

function capture(): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (t) => lines.push(t), err: (t) => errors.push(t) };
}

beforeAll(async () => {
  server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN] });
  server.store.configure({ outboxRouter: toSunrise });
  env = { CAREBRIDGE_DATABASE: `sqlite:${server.database}` };
  for (const family of ['Nakamura', 'Osei', 'Lindqvist']) {
    expect((await server.as(HOSPITAL)('POST', 'Patient', { resourceType: 'Patient', name: [{ family }] })).status).toBe(201);
  }
  // Two go dead, one waits.
  const claimed = await server.store.claimDeliveries('test', { limit: 10, leaseMs: 60_000 });
  expect(claimed).toHaveLength(3);
  for (const delivery of claimed.slice(0, 2)) {
    await server.store.settleDelivery('test', delivery.id, { state: 'dead', error: 'peer sunrise refused an entry (422)', status: 422 });
  }
  await server.store.settleDelivery('test', (claimed[2] as Delivery).id, { state: 'retry', nextAttemptMs: Date.now() + 3600_000, error: 'peer sunrise answered 503', status: 503 });
});

afterAll(async () => {
  await server?.stop();
});

describe('/admin/outbox', () => {
  it('shows admins the counts per destination and the deliveries, and refuses everyone else', async () => {
    const summary = await server.http(ADMIN)('GET', '/admin/outbox');
    expect(summary.status).toBe(200);
    expect(summary.body).toEqual({ destinations: [expect.objectContaining({ destination: 'sunrise', pending: 1, dead: 2, delivered: 0, oldestPendingAgeSeconds: expect.any(Number) })] });
    const dead = await server.http(ADMIN)('GET', '/admin/outbox/deliveries?peer=sunrise&state=dead&_count=1');
    expect(dead.status).toBe(200);
    const page = dead.body as { deliveries: Delivery[]; next?: { after: number } };
    expect(page.deliveries).toEqual([expect.objectContaining({ state: 'dead', lastStatus: 422, lastError: 'peer sunrise refused an entry (422)' })]);
    expect(page.next?.after).toBe(page.deliveries[0]?.id);
    const forbidden = await server.http(HOSPITAL)('GET', '/admin/outbox');
    expect(forbidden.status).toBe(403);
    expect((forbidden.body as { resourceType: string }).resourceType).toBe('OperationOutcome');
    expect((await fetch(`${server.url}/admin/outbox`)).status).toBe(401);
  });

  it('answers bad queries and bodies with a 400 OperationOutcome', async () => {
    for (const path of ['/admin/outbox/deliveries?state=lost', '/admin/outbox/deliveries?_count=100000', '/admin/outbox/deliveries?peer=../../etc', '/admin/outbox/deliveries?after=-1']) {
      expect((await server.http(ADMIN)('GET', path)).status).toBe(400);
    }
    for (const body of ['not json', '[]', '{"id": 1, "all": true}', '{"all": false}', '{"peer": "Robert\'); DROP TABLE outbox;--"}', '{"id": "1 OR 1=1"}']) {
      const answer = await server.http(ADMIN)('POST', '/admin/outbox/replay', body, { 'content-type': 'application/json' });
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
    }
    expect((await server.store.countDeliveries())[0]).toMatchObject({ pending: 1, dead: 2 });
  });
});

describe('carebridge outbox and carebridge replay', () => {
  it('lists the destinations and the dead deliveries, as a table or JSON', async () => {
    const table = capture();
    expect(await runOutbox({}, table, env)).toBe(0);
    expect(table.lines[0]).toMatch(/^DESTINATION\s+PENDING\s+OLDEST\s+DEAD\s+DELIVERED\s+SUPERSEDED$/);
    expect(table.lines[1]).toMatch(/^sunrise\s+1\s+\d+s\s+2\s+0\s+0$/);
    const json = capture();
    expect(await runOutbox({ state: 'dead', json: true }, json, env)).toBe(0);
    expect((JSON.parse(json.lines.join('\n')) as { deliveries: Delivery[] }).deliveries).toHaveLength(2);
    expect(await runOutbox({ state: 'gone' }, capture(), env)).toBe(2);
  });

  it('replays a peer\'s dead deliveries and, with --wait, follows them until they have left the queue', async () => {
    const io = capture();
    const replaying = runReplay([], { peer: 'sunrise', wait: true }, io, env, { pollMs: 20, tty: false });
    // The server's dispatcher, played here: it sends what is due.
    for (let round = 0; round < 50; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const delivery of await server.store.claimDeliveries('dispatcher', { limit: 10, leaseMs: 60_000 })) {
        await server.store.settleDelivery('dispatcher', delivery.id, { state: 'delivered', sentVersionId: delivery.versionId });
      }
    }
    expect(await replaying).toBe(0);
    expect(io.lines).toEqual(['Replayed 2 deliveries.']);
    expect(io.errors.at(-1)).toMatch(/^replay \[#{24}\] 100% 3\/3 \d+\/s in \d+s$/);
    expect((await server.store.countDeliveries())[0]).toMatchObject({ pending: 0, dead: 0, delivered: 3 });
    const nothing = capture();
    expect(await runReplay([], { all: true }, nothing, env)).toBe(1);
    expect(nothing.lines).toEqual(['Nothing to replay.']);
    expect(await runReplay(['12', 'x'], {}, capture(), env)).toBe(2);
    expect(await runReplay([], { all: true, peer: 'sunrise' }, capture(), env)).toBe(2);
  });
});
