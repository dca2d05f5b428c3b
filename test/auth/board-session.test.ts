// Board sessions without HTTP: a session renews for MAX_SESSION_HOURS after the sign-in and no
// longer, whatever its tokens; the failure count of a username forgets old failures.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuthService } from '../../src/auth/auth-service.ts';
import { BoardSessions, FAILURE_WINDOW_MS, MAX_FAILURES, MAX_SESSION_HOURS, SessionError } from '../../src/auth/board-session.ts';
import { hashPassword } from '../../src/auth/password-hash.ts';
import { parseConfig } from '../../src/config/config.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { sqliteStores } from '../support/sqlite.ts';

const BASE = 'https://carebridge.example';
const stores = sqliteStores('carebridge-board-session');
let store: FhirStore;
let auth: AuthService;

beforeAll(async () => {
  store = await stores.open();
  const passwordHash = await hashPassword('pass phrase', { N: 2 ** 14, r: 8, p: 1 });
  const config = parseConfig({ clients: [], boardUsers: [{ username: 'nurse', name: 'Agency nurse', organization: { system: 'urn:test', value: 'agency' }, role: 'agency', scopes: ['system/*.rs'], passwordHash }] });
  auth = await AuthService.init({ config, store, env: {} });
});

afterAll(async () => {
  await stores.dispose(store);
});

const refusal = (promise: Promise<unknown>): Promise<SessionError> => promise.then(() => Promise.reject(new Error('not refused')), (err: unknown) => err as SessionError);

describe('BoardSessions', () => {
  it('renews a session until MAX_SESSION_HOURS after its sign-in, then asks for the password', async () => {
    let now = Date.now();
    const sessions = new BoardSessions(auth, () => now);
    const opened = await sessions.open({ username: 'nurse', password: 'pass phrase' }, BASE, () => undefined);
    expect(opened.user).toMatchObject({ clientId: 'board:nurse', role: 'agency' });
    expect(Date.parse(opened.session_ends_at)).toBe(Math.floor(now / 1000) * 1000 + MAX_SESSION_HOURS * 3_600_000);
    now += (MAX_SESSION_HOURS - 1) * 3_600_000;
    const renewed = await sessions.renew(`Bearer ${opened.access_token}`, BASE, () => undefined);
    now += 2 * 3_600_000;
    const ended = await refusal(sessions.renew(`Bearer ${renewed.access_token}`, BASE, () => undefined));
    expect(ended).toBeInstanceOf(SessionError);
    expect({ status: ended.status, message: ended.message }).toEqual({ status: 401, message: 'The session has ended: sign in again' });
  });

  it('counts a username\'s failures over a sliding window', async () => {
    let now = Date.now();
    const sessions = new BoardSessions(auth, () => now);
    for (let i = 0; i < MAX_FAILURES; i += 1) {
      expect((await refusal(sessions.open({ username: 'nurse', password: 'no' }, BASE, () => undefined))).status).toBe(401);
    }
    expect((await refusal(sessions.open({ username: 'nurse', password: 'pass phrase' }, BASE, () => undefined))).status).toBe(429);
    now += FAILURE_WINDOW_MS + 1;
    expect((await sessions.open({ username: 'nurse', password: 'pass phrase' }, BASE, () => undefined)).user.clientId).toBe('board:nurse');
  });
});
