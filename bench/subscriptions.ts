// The cost of the subscription router on the write path: a referral Task updated by its hospital
// (one write transaction each), with no router, with the router and no Subscriptions, with 100
// Subscriptions of 100 agencies filtered to their own referrals (Task?owner=…), and with the same
// 100 unfiltered (each write checks every agency's visibility). SQLite in-process; PostgreSQL too
// when BENCH_PG_URL is set (a schema of its own, dropped at the end).
import type { Resource, Subscription, Task } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callerFor } from '../src/auth/access/policy.ts';
import type { Principal } from '../src/auth/principal.ts';
import { parseScopes } from '../src/auth/scopes.ts';
import type { FhirStore } from '../src/store/fhir-store.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { FILTER_CRITERIA_URL, PAYLOAD_CONTENT_URL, withSubscriber } from '../src/subscriptions/subscription.ts';
import { SUBSCRIPTION_TOPICS } from '../src/subscriptions/topics.ts';
import { SubscriptionRouter } from '../src/sync/outbox/subscription-router.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';

loadDefinitions();
const AGENCIES = 100;
const WRITES = Number(process.env.BENCH_SUBSCRIPTION_WRITES ?? 400);
const p = (role: Principal['role'], v: string): Principal => ({ clientId: v, clientName: v, role, organization: { system: 'urn:org', value: v }, scopes: parseScopes('system/*.cruds').scopes });
const hospital = p('hospital', 'h');

async function run(label: string, store: FhirStore): Promise<void> {
  const orgIds: string[] = [];
  await store.transaction(async (tx) => {
    for (let j = 0; j < AGENCIES; j++) {
      orgIds.push((await tx.create({ resourceType: 'Organization', identifier: [{ system: 'urn:org', value: `a${j}` }] } as Resource)).version.id);
    }
  });
  const h = store.forCaller(callerFor(hospital));
  const tasks: Task[] = [];
  await h.transaction(async (tx) => {
    for (let j = 0; j < AGENCIES; j++) {
      const pid = (await tx.create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: `p${j}` }] } as Resource)).version.id;
      tasks.push((await tx.create({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${pid}` }, owner: { reference: `Organization/${orgIds[j]}` } } as Resource)).version.resource as Task);
    }
  });
  let n = 0;
  const writes = async (): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < WRITES; i++) {
      const task = tasks[i % tasks.length] as Task;
      const { version } = await h.update({ ...task, note: [{ text: `note ${n++}` }] } as Resource);
      tasks[i % tasks.length] = version.resource as Task;
    }
    return (performance.now() - started) / WRITES;
  };
  const subscriptions: string[] = [];
  const subscribe = async (filtered: boolean): Promise<void> => {
    for (const id of subscriptions.splice(0)) {
      await store.delete('Subscription', id);
    }
    for (let j = 0; j < AGENCIES; j++) {
      const body = {
        resourceType: 'Subscription', status: 'active', reason: 'bench', criteria: SUBSCRIPTION_TOPICS[0]?.url,
        ...(filtered ? { _criteria: { extension: [{ url: FILTER_CRITERIA_URL, valueString: `Task?owner=Organization/${orgIds[j]}` }] } } : {}),
        channel: { type: 'rest-hook', endpoint: 'https://agency.example.org/hook', payload: 'application/fhir+json', _payload: { extension: [{ url: PAYLOAD_CONTENT_URL, valueCode: 'id-only' }] } },
      } as Subscription;
      subscriptions.push((await store.create(withSubscriber(body, { organization: { system: 'urn:org', value: `a${j}` }, role: 'agency', clientId: `a${j}` }))).version.id);
    }
  };
  await writes(); // warm-up
  const none = await writes();
  const router = new SubscriptionRouter();
  store.configure({ outboxRouter: router });
  const zero = await writes();
  await subscribe(true);
  const filtered = await writes();
  await subscribe(false);
  const unfiltered = await writes();
  const queued = (await store.countDeliveries()).filter((c) => c.destination.startsWith('subscription/')).reduce((sum, c) => sum + c.pending, 0);
  console.log(`${label}: ms per referral Task update (${WRITES} each): no router ${none.toFixed(3)} | router, 0 subscriptions ${zero.toFixed(3)} | 100 filtered ${filtered.toFixed(3)} | 100 unfiltered ${unfiltered.toFixed(3)} (cache loads: ${router.loads}; events queued: ${queued})`);
}

const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-subscriptions-'));
const sqlite = await SqliteStore.open(join(dir, 'db.sqlite'));
await run('SQLite', sqlite);
await sqlite.close();
rmSync(dir, { recursive: true, force: true });
if (process.env.BENCH_PG_URL) {
  const schema = `bench_subscriptions_${process.pid}`;
  const pg = await PostgresStore.open(process.env.BENCH_PG_URL, { schema });
  await run('PostgreSQL', pg);
  await pg.dropSchema(schema);
  await pg.close();
}
