// A failure the client did not cause answers 500 with an OperationOutcome that says so, never the
// error's message (a database's names its tables and may quote values); the log has the error,
// by name and code, under the request id.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle } from '@medplum/fhirtypes';
import type { Principal } from '../../src/auth/principal.ts';
import { parseScopes } from '../../src/auth/scopes.ts';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';

const HOSPITAL: Principal = { clientId: 'riverside-client', clientName: 'riverside', role: 'hospital', organization: { system: 'urn:orgs', value: 'riverside' }, scopes: parseScopes('system/*.cruds').scopes };
const QUOTED = 'invalid input syntax for type uuid: "Okonkwo-1958-03-14" in relation idx_token';

let server: AuthTestServer;
let restore: (() => void) | undefined;

beforeAll(async () => {
  server = await startAuthTestServer({ principals: [HOSPITAL] });
});

afterAll(async () => {
  restore?.();
  await server.stop();
});

/** Every request's store fails with a database-like error until restored. */
function breakTheStore(): void {
  const forCaller = server.store.forCaller.bind(server.store);
  server.store.forCaller = () => {
    throw Object.assign(new Error(QUOTED), { code: '22P02' });
  };
  restore = () => {
    server.store.forCaller = forCaller;
  };
}

describe('a failure the client did not cause', () => {
  it('answers 500 without the error message, to a read and a search, and logs it by name and code', async () => {
    const hospital = server.as(HOSPITAL);
    breakTheStore();
    try {
      for (const [method, path] of [['GET', 'Patient/abc'], ['GET', 'Patient?name=x']] as const) {
        const answer = await hospital(method, path);
        expect(answer.status).toBe(500);
        expect(answer.body?.resourceType).toBe('OperationOutcome');
        expect(JSON.stringify(answer.body)).not.toMatch(/Okonkwo|idx_token|uuid/);
        expect(JSON.stringify(answer.body)).toContain('X-Request-Id');
      }
    } finally {
      restore?.();
      restore = undefined;
    }
    const failed = server.logs.filter((line) => line.includes('FHIR request failed'));
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.join('\n')).toContain('22P02');
    expect(server.logs.join('\n')).not.toContain('Okonkwo');
    // With the store back, the same requests work.
    expect((await hospital('GET', 'Patient?name=x')).body as Bundle).toMatchObject({ resourceType: 'Bundle' });
  });
});
