// Board sessions, transport-free: a person signs in with a username and password (or, in development
// mode only, as one of the keyless demo clients, without one) and gets an access token issued and
// verified exactly as the token endpoint's, for the client the session acts as. Tokens are short
// (config auth.accessTokenSeconds); the board renews its token before it runs out, for at most
// MAX_SESSION_HOURS after the sign-in, then the person signs in again.
import { decodeJwt } from 'jose';
import type { AuthService } from './auth-service.ts';
import { BOARD_USER_PREFIX } from '../config/config.ts';
import { DEV_CLIENTS, isDevClientId } from './dev-mode.ts';
import { boardUserClientId } from './board-users.ts';
import type { ClientRole, OrganizationIdentity } from './principal.ts';
import type { TokenResponse } from './token-request.ts';

export const BOARD_SESSION_PATH = '/auth/board/session';
/** A working day and a little: a board left open overnight asks for the password again. */
export const MAX_SESSION_HOURS = 12;
const MAX_USERNAME = 64;
/** Long passphrases are welcome; megabytes into scrypt are not. */
const MAX_PASSWORD = 1024;
/** Failed sign-ins per username before it is refused for the rest of the window (guessing one account from many addresses). */
export const MAX_FAILURES = 10;
export const FAILURE_WINDOW_MS = 15 * 60_000;
/** Usernames whose failures are remembered at once; the oldest are forgotten first. */
const MAX_TRACKED = 10_000;

export type SessionErrorCode = 'invalid_request' | 'invalid_grant' | 'unauthorized_client' | 'slow_down';

/** A refused sign-in or renewal, answered as OAuth-style JSON (like the token endpoint's refusals). */
export class SessionError extends Error {
  readonly error: SessionErrorCode;
  readonly status: 400 | 401 | 403 | 429;

  constructor(error: SessionErrorCode, status: SessionError['status'], description: string) {
    super(description);
    this.name = 'SessionError';
    this.error = error;
    this.status = status;
  }
}

export type SessionRequest = { username: string; password: string } | { devClient: string };

/** Who the board shows as signed in. */
export interface SessionUser {
  clientId: string;
  name: string;
  organization: OrganizationIdentity;
  role: ClientRole;
}

export interface SessionAnswer extends TokenResponse {
  user: SessionUser;
  /** When the session ends whatever the renewals (ISO instant). */
  session_ends_at: string;
}

/** The body's fields, checked: exactly a username and a password, or a devClient. */
export function parseSessionRequest(fields: Record<string, unknown>): SessionRequest {
  const text = (name: string, max: number): string | undefined => {
    const value = fields[name];
    if (value === undefined || value === '') {
      return undefined;
    }
    if (typeof value !== 'string' || value.length > max) {
      throw new SessionError('invalid_request', 400, `${name} must be a string of at most ${max} characters`);
    }
    return value;
  };
  const devClient = text('devClient', 128);
  const username = text('username', MAX_USERNAME);
  const password = text('password', MAX_PASSWORD);
  if (devClient !== undefined && username === undefined && password === undefined) {
    return { devClient };
  }
  if (devClient === undefined && username !== undefined && password !== undefined) {
    return { username, password };
  }
  throw new SessionError('invalid_request', 400, 'Sign in with a username and a password');
}

/** Is this client id one whose tokens a board session may renew? */
function isSessionClient(auth: AuthService, clientId: string): boolean {
  return clientId.startsWith(BOARD_USER_PREFIX) || (auth.devMode && isDevClientId(clientId));
}

export class BoardSessions {
  private readonly auth: AuthService;
  private readonly now: () => number;
  private readonly failures = new Map<string, number[]>();

  constructor(auth: AuthService, now: () => number = Date.now) {
    this.auth = auth;
    this.now = now;
  }

  /** What the sign-in page offers: development mode's demo clients, when it is on. */
  options(): { devMode: boolean; devClients: SessionUser[] } {
    const devClients = this.auth.devMode ? DEV_CLIENTS.map((c) => ({ clientId: c.clientId, name: c.name, organization: c.organization, role: c.role })) : [];
    return { devMode: this.auth.devMode, devClients };
  }

  /** Signs in; the client id the attempt claimed goes to `claimed` first (for the audit record, refused or not). */
  async open(request: SessionRequest, base: string, claimed: (clientId: string) => void): Promise<SessionAnswer> {
    const authTime = Math.floor(this.now() / 1000);
    if ('devClient' in request) {
      claimed(request.devClient);
      if (!this.auth.devMode || !isDevClientId(request.devClient)) {
        throw new SessionError('unauthorized_client', 400, 'Signing in without a password is for development mode\'s demo clients only');
      }
      return this.answer(request.devClient, base, authTime);
    }
    claimed(boardUserClientId(request.username));
    this.refuseIfThrottled(request.username);
    const user = await this.auth.boardUsers.check(request.username, request.password);
    if (!user) {
      this.recordFailure(request.username);
      throw new SessionError('invalid_grant', 401, 'Unknown username or wrong password');
    }
    this.failures.delete(request.username);
    return this.answer(boardUserClientId(user.username), base, authTime);
  }

  /** A new token for the session the bearer token belongs to; InvalidTokenError when it is not valid. */
  async renew(authorization: string | undefined, base: string, claimed: (clientId: string) => void): Promise<SessionAnswer> {
    const principal = await this.auth.authenticate(authorization, base);
    claimed(principal.clientId);
    if (!isSessionClient(this.auth, principal.clientId)) {
      throw new SessionError('unauthorized_client', 403, 'Only board sessions are renewed here; a client asks the token endpoint');
    }
    const authTime = decodeJwt((authorization ?? '').replace(/^Bearer +/i, '').trim()).auth_time;
    if (typeof authTime !== 'number' || this.now() / 1000 - authTime > MAX_SESSION_HOURS * 3600) {
      throw new SessionError('invalid_grant', 401, 'The session has ended: sign in again');
    }
    return this.answer(principal.clientId, base, authTime);
  }

  private async answer(clientId: string, base: string, authTime: number): Promise<SessionAnswer> {
    const grant = await this.auth.sessionToken(clientId, base, authTime);
    const client = this.auth.clients.get(clientId)?.config;
    if (!client) {
      throw new SessionError('invalid_grant', 401, 'The session\'s user is no longer configured');
    }
    return {
      ...grant.response,
      user: { clientId, name: client.name, organization: client.organization, role: client.role },
      session_ends_at: new Date((authTime + MAX_SESSION_HOURS * 3600) * 1000).toISOString(),
    };
  }

  private recent(username: string): number[] {
    const since = this.now() - FAILURE_WINDOW_MS;
    return (this.failures.get(username) ?? []).filter((at) => at > since);
  }

  private refuseIfThrottled(username: string): void {
    if (this.recent(username).length >= MAX_FAILURES) {
      throw new SessionError('slow_down', 429, `Too many failed sign-ins for this username: try again in ${FAILURE_WINDOW_MS / 60_000} minutes`);
    }
  }

  private recordFailure(username: string): void {
    const recent = [...this.recent(username), this.now()];
    this.failures.delete(username);
    if (this.failures.size >= MAX_TRACKED) {
      this.failures.delete(this.failures.keys().next().value as string);
    }
    this.failures.set(username, recent);
  }
}
