// Two carebridge instances on one PostgreSQL schema: agencies of one broadcast accept at the same
// instant through both. The plan's lock (an advisory lock taken before any row lock) lets exactly
// one acceptance through; every other agency gets 409 and the reason.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, OperationOutcome, Task } from '@medplum/fhirtypes';
import type { TestServer } from '../api/support/server.ts';
import { fhirFetch, startPostgresServer, uniqueSchema } from '../api/support/server.ts';
import { defaultMappingContext } from '../../src/mapping/context.ts';
import { toFhir } from '../../src/mapping/to-fhir.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient, tokenFor } from '../support/auth.ts';
import { HOSPITAL_NPI, NPI, agencyNpi, broadcastPlan } from './support/broadcast.ts';

const RACERS = 20;
let a: TestServer & { schema: string };
let b: TestServer & { schema: string };
let hospital: TestClient;
let agencies: TestClient[];

beforeAll(async () => {
  hospital = await makeClient('hospital', { system: NPI, value: HOSPITAL_NPI }, ['system/*.cruds']);
  agencies = await Promise.all(Array.from({ length: RACERS }, (_, i) => makeClient('agency', { system: NPI, value: agencyNpi(i) }, ['system/*.cruds'])));
  const schema = uniqueSchema('carebridge_race');
  a = await startPostgresServer(schema, { clients: [hospital, ...agencies] });
  b = await startPostgresServer(schema, { clients: [hospital, ...agencies], shared: true });
});

afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

describe('two instances on one PostgreSQL store', () => {
  it(`let exactly one of ${RACERS} simultaneous acceptances of a broadcast through`, async () => {
    const hospitalToken = await tokenFor(a, hospital);
    const pushed = await fhirFetch<Bundle>(a, '', { method: 'POST', json: toFhir(broadcastPlan('pg-race', RACERS), defaultMappingContext()), token: hospitalToken, headers: { prefer: 'return=representation' } });
    expect(pushed.status).toBe(200);
    const tasks = (pushed.body.entry ?? []).map((e) => e.resource).filter((r): r is Task => r?.resourceType === 'Task' && r.intent === 'order');
    expect(tasks).toHaveLength(RACERS);
    const tokens = await Promise.all(agencies.map((agency, i) => tokenFor(i % 2 ? b : a, agency)));
    // Each agency finds its own referral (the others' stay hidden from it).
    const own = await Promise.all(agencies.map(async (_agency, i) => (await fhirFetch<Bundle>(i % 2 ? b : a, 'Task?code=fulfill', { token: tokens[i] })).body.entry?.[0]?.resource as Task));
    expect(new Set(own.map((t) => t.id)).size).toBe(RACERS);
    const answers = await Promise.all(
      own.map((task, i) => fhirFetch<OperationOutcome>(i % 2 ? b : a, `Task/${task.id}`, { method: 'PUT', json: { ...task, status: 'accepted' }, token: tokens[i], headers: { 'if-match': `W/"${task.meta?.versionId}"` } })),
    );
    expect(answers.map((x) => x.status).sort()).toEqual([200, ...Array<number>(RACERS - 1).fill(409)]);
    for (const lost of answers.filter((x) => x.status === 409)) {
      expect(lost.body.issue?.[0]?.details?.text).toContain('another agency accepted this referral');
    }
    const after = await Promise.all(tasks.map(async (t) => (await fhirFetch<Task>(a, `Task/${t.id}`, { token: hospitalToken })).body.status));
    expect(after.filter((s) => s === 'accepted')).toHaveLength(1);
    expect(after.filter((s) => s === 'cancelled')).toHaveLength(RACERS - 1);
  });
});
