// Two carebridge instances on one PostgreSQL schema behind one PUBLIC_URL, as a load balancer
// would have them: an assertion used at one is refused at the other, and a token either issues is
// good at both (they sign with the key kept in the shared store).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestServer } from '../api/support/server.ts';
import { fhirFetch, startPostgresServer, uniqueSchema } from '../api/support/server.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient, postToken, tokenFor, tokenForm } from '../support/auth.ts';

const PUBLIC_URL = 'https://carebridge.example.test';

let a: TestServer & { schema: string };
let b: TestServer & { schema: string };
let hospital: TestClient;

beforeAll(async () => {
  hospital = await makeClient('hospital', { system: 'urn:carebridge-test:org', value: 'riverside' }, ['system/Patient.rs']);
  const schema = uniqueSchema('carebridge_auth2');
  a = await startPostgresServer(schema, { clients: [hospital], publicUrl: PUBLIC_URL });
  b = await startPostgresServer(schema, { clients: [hospital], publicUrl: PUBLIC_URL, shared: true });
});

afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

describe('two instances on one PostgreSQL store', () => {
  it('refuse an assertion replayed at the other instance', async () => {
    const form = await tokenForm(hospital, `${PUBLIC_URL}/auth/token`);
    expect((await postToken(a.url, form)).status).toBe(200);
    const replay = await postToken(b.url, form);
    expect({ status: replay.status, error: replay.body.error, description: replay.body.error_description }).toEqual({ status: 401, error: 'invalid_client', description: 'client_assertion jti has already been used' });
  });

  it('let exactly one of simultaneous uses of one assertion at both instances through', async () => {
    const form = await tokenForm(hospital, `${PUBLIC_URL}/auth/token`);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => postToken((i % 2 ? a : b).url, form)));
    expect(answers.map((x) => x.status).sort()).toEqual([200, ...Array<number>(9).fill(401)]);
  });

  it('accept each other\'s access tokens', async () => {
    const fromA = await tokenFor({ url: a.url, tokenUrl: a.tokenUrl }, hospital);
    expect((await fhirFetch(b, 'Patient', { token: fromA })).status).toBe(200);
    expect((await fhirFetch(a, 'Patient', { token: b.token })).status).toBe(200);
  });

  it('name PUBLIC_URL in discovery, not their own address', async () => {
    const body = (await (await fetch(`${b.url}/.well-known/smart-configuration`)).json()) as { token_endpoint: string };
    expect(body.token_endpoint).toBe(`${PUBLIC_URL}/auth/token`);
  });
});
