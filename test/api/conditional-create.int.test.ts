// Conditional create never duplicates: 50 identical POST /fhir/Patient with If-None-Exist fired
// at once over HTTP create exactly one Patient — on SQLite (one process, then two on one file),
// and on two server processes sharing one PostgreSQL schema, the second a `carebridge serve` child.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type { ChildServer } from './support/child-server.ts';
import { startChildServer } from './support/child-server.ts';
import type { TestServer } from './support/server.ts';
import { startPostgresServer, startSqliteServer, uniqueSchema } from './support/server.ts';

const REQUESTS = 50;
const SYSTEM = 'urn:carebridge-test:mrn';
/** Each server's FHIR base → the admin's access token there (tokens name their server as audience). */
const TOKENS = new Map<string, string>();

function auth(fhirBase: string): Record<string, string> {
  return { authorization: `Bearer ${TOKENS.get(fhirBase) ?? ''}` };
}

/** POST /fhir/Patient with If-None-Exist, spread over the base URLs in turn, all at once. */
async function fireConditionalCreates(fhirBases: string[], value: string): Promise<{ status: number; id?: string }[]> {
  const body = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Concurrent' }], identifier: [{ system: SYSTEM, value }] });
  return Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const response = await fetch(`${fhirBases[i % fhirBases.length]}/Patient`, {
        method: 'POST',
        headers: { ...auth(fhirBases[i % fhirBases.length] as string), 'content-type': 'application/fhir+json', 'if-none-exist': `identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}` },
        body,
      });
      return { status: response.status, id: ((await response.json()) as Patient).id };
    }),
  );
}

async function countMatches(fhirBase: string, value: string): Promise<number> {
  const response = await fetch(`${fhirBase}/Patient?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}&_summary=count`, { headers: auth(fhirBase) });
  expect(response.status).toBe(200);
  return ((await response.json()) as Bundle).total as number;
}

/** One 201, the rest 200, every answer naming the same Patient, and one Patient stored. */
async function expectOnePatient(fhirBases: string[]): Promise<void> {
  const value = randomUUID();
  const outcomes = await fireConditionalCreates(fhirBases, value);
  expect(outcomes.filter((o) => o.status === 201)).toHaveLength(1);
  expect(outcomes.filter((o) => o.status === 200)).toHaveLength(REQUESTS - 1);
  expect(new Set(outcomes.map((o) => o.id)).size).toBe(1);
  for (const base of fhirBases) {
    expect(await countMatches(base, value)).toBe(1);
  }
}

describe.each([
  ['SQLite', startSqliteServer],
  ['PostgreSQL', () => startPostgresServer(uniqueSchema('carebridge_cc'))],
])('conditional create under concurrency, %s', (_name, start) => {
  let server: TestServer;
  let child: ChildServer;

  beforeAll(async () => {
    server = await start();
    child = await startChildServer(server.database);
    TOKENS.set(server.fhir, server.token);
    TOKENS.set(child.fhir, child.token);
  });

  afterAll(async () => {
    // The child first: the server's stop removes the database they share.
    await child?.stop();
    await server?.stop();
  });

  it(`${REQUESTS} identical If-None-Exist creates at once to one process make one Patient`, async () => {
    await expectOnePatient([server.fhir]);
  });

  it(`${REQUESTS / 2} to each of two processes at once make one Patient`, async () => {
    await expectOnePatient([server.fhir, child.fhir]);
  });

  it('conditional updates (PUT /Patient?identifier=…) to both processes at once make one Patient', async () => {
    const value = randomUUID();
    const url = `Patient?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}`;
    const body = JSON.stringify({ resourceType: 'Patient', identifier: [{ system: SYSTEM, value }] });
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => fetch(`${[server.fhir, child.fhir][i % 2]}/${url}`, { method: 'PUT', headers: { ...auth([server.fhir, child.fhir][i % 2] as string), 'content-type': 'application/fhir+json' }, body }).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    expect(await countMatches(server.fhir, value)).toBe(1);
  });

  it.each([
    ['POST with ifNoneExist', (value: string) => ({ method: 'POST' as const, url: 'Patient', ifNoneExist: `identifier=${SYSTEM}|${value}` })],
    ['PUT Patient?identifier=', (value: string) => ({ method: 'PUT' as const, url: `Patient?identifier=${SYSTEM}|${value}` })],
  ])('transactions racing to create a Patient (%s) and refer to it by urn:uuid make one Patient, and every reference resolves', async (_name, request) => {
    const value = randomUUID();
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:5b7c9e20-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }] }, request: request(value) },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: value }, subject: { reference: 'urn:uuid:5b7c9e20-0000-4000-8000-000000000001' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch([server.fhir, child.fhir][i % 2] as string, { method: 'POST', headers: { ...auth([server.fhir, child.fhir][i % 2] as string), 'content-type': 'application/fhir+json' }, body: JSON.stringify(bundle) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Bundle })),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(responses.map(() => 200));
    expect(await countMatches(server.fhir, value)).toBe(1);
    const subjects = new Set(responses.map((r) => (r.body.entry?.[1]?.resource as { subject?: { reference?: string } }).subject?.reference));
    expect(subjects.size).toBe(1);
    const [subject] = [...subjects];
    expect((await fetch(`${server.fhir}/${subject}`, { headers: auth(server.fhir) })).status).toBe(200);
  });
});
