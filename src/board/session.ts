// The signed-in person's session: the access token lives in this tab only (sessionStorage, gone
// when the tab closes; never a cookie, so no other site can make the browser use it), and is
// renewed a minute before it runs out until the session's end, when the person signs in again.
import type { Session, SessionUser, SignInOptions } from './types.ts';

const KEY = 'carebridge-board-session';
/** Renew this long before the token expires (tokens live at most five minutes). */
const RENEW_EARLY_MS = 60_000;
const MIN_RENEW_DELAY_MS = 5_000;

interface Stored {
  token: string;
  expiresAt: number;
  user: SessionUser;
  endsAt: string;
}

export class SessionEnded extends Error {}

let current: Stored | undefined;
let timer: number | undefined;
const listeners: ((signedIn: boolean, reason?: string) => void)[] = [];

export function onSessionChange(listener: (signedIn: boolean, reason?: string) => void): void {
  listeners.push(listener);
}

function save(session: Session): void {
  current = { token: session.access_token, expiresAt: Date.now() + session.expires_in * 1000, user: session.user, endsAt: session.session_ends_at };
  sessionStorage.setItem(KEY, JSON.stringify(current));
  schedule();
}

function schedule(): void {
  window.clearTimeout(timer);
  if (current) {
    timer = window.setTimeout(() => void renew(), Math.max(MIN_RENEW_DELAY_MS, current.expiresAt - Date.now() - RENEW_EARLY_MS));
  }
}

async function postSession(path: string, init: RequestInit): Promise<Session> {
  const response = await fetch(path, { ...init, method: 'POST', credentials: 'omit', cache: 'no-store' });
  const body = (await response.json().catch(() => ({}))) as Partial<Session> & { error_description?: string };
  if (!response.ok || !body.access_token) {
    throw new SessionEnded(body.error_description ?? `Sign-in failed (${response.status})`);
  }
  return body as Session;
}

export async function signIn(fields: { username: string; password: string } | { devClient: string }): Promise<SessionUser> {
  save(await postSession('/auth/board/session', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) }));
  listeners.forEach((l) => l(true));
  return (current as Stored).user;
}

async function renew(): Promise<void> {
  if (!current) {
    return;
  }
  try {
    save(await postSession('/auth/board/session/renew', { headers: { authorization: `Bearer ${current.token}` } }));
  } catch (err) {
    signOut(err instanceof SessionEnded ? err.message : 'Your session ended: sign in again');
  }
}

export function signOut(reason?: string): void {
  current = undefined;
  window.clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l(false, reason));
}

/** The session kept by this tab, if it is still good (a reload keeps the person signed in). */
export function restore(): SessionUser | undefined {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Stored | null;
    if (stored && stored.expiresAt > Date.now() + MIN_RENEW_DELAY_MS) {
      current = stored;
      schedule();
      return stored.user;
    }
  } catch {
    // a damaged entry: start over
  }
  sessionStorage.removeItem(KEY);
  return undefined;
}

export function user(): SessionUser | undefined {
  return current?.user;
}

export function token(): string | undefined {
  return current?.token;
}

export async function signInOptions(): Promise<SignInOptions> {
  const response = await fetch('/auth/board/sign-in-options', { credentials: 'omit', cache: 'no-store' });
  return response.ok ? ((await response.json()) as SignInOptions) : { devMode: false, devClients: [] };
}
