// carebridge's API as the board calls it: same origin, the session's bearer token, JSON. A 401
// ends the session (the sign-in page comes back); any other failure is an ApiError whose message
// is the server's own words (an OperationOutcome's text).
import { signOut, token } from './session.ts';
import type { BoardList, BoardRow, Delivery, DestinationHealth, Timeline, TransitionState } from './types.ts';

export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

interface Outcome {
  issue?: { details?: { text?: string }; diagnostics?: string }[];
}

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const bearer = token();
  if (!bearer) {
    signOut();
    throw new ApiError(401, 'Not signed in');
  }
  const response = await fetch(path, {
    method,
    credentials: 'omit',
    cache: 'no-store',
    headers: { authorization: `Bearer ${bearer}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json().catch(() => undefined)) as unknown;
  if (response.status === 401) {
    signOut('Your session ended: sign in again');
    throw new ApiError(401, 'Your session ended');
  }
  if (!response.ok) {
    const text = (answer as Outcome | undefined)?.issue?.map((i) => i.details?.text ?? i.diagnostics).filter(Boolean).join('; ');
    throw new ApiError(response.status, text || `carebridge answered ${response.status}`);
  }
  return answer as T;
}

const id = (value: string): string => encodeURIComponent(value);

export const api = {
  transitions: (filters: string[], cursor?: string): Promise<BoardList> => {
    const query = new URLSearchParams();
    if (filters.length > 0) {
      query.set('filter', filters.join(','));
    }
    if (cursor) {
      query.set('_cursor', cursor);
    }
    return request('GET', `/board/api/transitions${query.size > 0 ? `?${query.toString()}` : ''}`);
  },
  row: (transition: string): Promise<BoardRow> => request('GET', `/board/api/transitions/${id(transition)}`),
  state: (transition: string): Promise<TransitionState> => request('GET', `/transitions/${id(transition)}`),
  timeline: (transition: string): Promise<Timeline> => request('GET', `/transitions/${id(transition)}/timeline`),
  syncHealth: (): Promise<{ destinations: DestinationHealth[] }> => request('GET', '/board/api/sync-health'),
  deadDeliveries: (): Promise<{ deliveries: Delivery[] }> => request('GET', '/admin/outbox/deliveries?state=dead&_count=100'),
  replay: (selector: { id: number } | { peer: string }): Promise<{ replayed: number }> => request('POST', '/admin/outbox/replay', selector),
};
