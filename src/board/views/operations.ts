// Operations (admins): each peer's sync health — last success, what waits and how long, dead
// letters, an EHR's last poll — and the dead deliveries, each with a Replay button (as
// `carebridge replay` does): it goes back to the queue and the dispatcher sends it again.
import { ApiError, api } from '../api.ts';
import { badge, h, mount } from '../dom.ts';
import { age, instant } from '../format.ts';
import type { Delivery, DestinationHealth } from '../types.ts';

function lastSuccess(d: DestinationHealth): string {
  const times = [d.lastDeliveredAt, d.poll?.lastSuccessAt].filter((t): t is string => t !== undefined).sort();
  return instant(times.at(-1));
}

function healthBadge(d: DestinationHealth): HTMLElement {
  if (d.dead > 0) {
    return badge('danger', 'Dead letters');
  }
  if (d.poll?.lastErrorAt && (!d.poll.lastSuccessAt || d.poll.lastErrorAt > d.poll.lastSuccessAt)) {
    return badge('danger', 'Last poll failed');
  }
  return (d.oldestPendingAgeSeconds ?? 0) > 300 ? badge('warning', 'Behind') : badge('ok', 'Healthy');
}

export async function renderOperations(main: HTMLElement): Promise<void> {
  document.title = 'Operations — carebridge board';
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Loading…');
  const health = h('div', {});
  const dead = h('div', {});

  const replay = async (selector: { id: number } | { peer: string }, what: string): Promise<void> => {
    try {
      const { replayed } = await api.replay(selector);
      status.textContent = `Replayed ${replayed} ${replayed === 1 ? 'delivery' : 'deliveries'} ${what}: back in the queue, being sent again.`;
      await load(false);
      // The dispatcher sends within moments; look again so the person sees them leave.
      window.setTimeout(() => void load(false), 1500);
    } catch (err) {
      status.textContent = `Replay failed: ${(err as Error).message}`;
    }
  };

  const load = async (announce = true): Promise<void> => {
    try {
      const [{ destinations }, { deliveries }] = await Promise.all([api.syncHealth(), api.deadDeliveries()]);
      mount(
        health,
        destinations.length === 0
          ? h('p', {}, 'No peer has had anything to send or poll yet.')
          : h(
              'table',
              { class: 'health' },
              h('caption', { class: 'visually-hidden' }, 'Sync health per peer'),
              h('thead', {}, h('tr', {}, ['Peer', 'Health', 'Last success', 'Pending', 'Oldest waiting', 'Dead letters', 'Last poll error', 'Action'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                {},
                destinations.map((d) =>
                  h(
                    'tr',
                    { 'data-destination': d.destination },
                    h('th', { scope: 'row' }, d.destination, h('div', { class: 'sub' }, d.kind === 'subscription' ? 'subscription' : d.poll ? 'polled EHR' : 'peer')),
                    h('td', {}, healthBadge(d)),
                    h('td', {}, lastSuccess(d)),
                    h('td', { class: 'num pending-count' }, d.pending),
                    h('td', {}, age(d.oldestPendingAgeSeconds)),
                    h('td', { class: 'num dead-count' }, d.dead),
                    h('td', {}, d.poll?.lastError ? `${d.poll.lastError} (${instant(d.poll.lastErrorAt)})` : '—'),
                    h('td', {}, d.dead > 0 ? h('button', { type: 'button', class: 'secondary', onclick: () => void replay({ peer: d.destination }, `to ${d.destination}`) }, `Replay all ${d.dead} dead`) : '—'),
                  ),
                ),
              ),
            ),
      );
      mount(
        dead,
        deliveries.length === 0
          ? h('p', {}, 'No dead letters.')
          : h(
              'table',
              { class: 'dead-letters' },
              h('caption', { class: deliveries.length === 100 ? undefined : 'visually-hidden' }, deliveries.length === 100 ? 'Dead deliveries (the first 100)' : 'Dead deliveries'),
              h('thead', {}, h('tr', {}, ['Delivery', 'Peer', 'Resource', 'Attempts', 'Last error', 'Given up', 'Action'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                {},
                deliveries.map((d: Delivery) =>
                  h(
                    'tr',
                    { 'data-delivery': d.id },
                    h('th', { scope: 'row' }, `#${d.id}`),
                    h('td', {}, d.destination),
                    h('td', {}, `${d.resourceType}/${d.resourceId}`, h('div', { class: 'sub' }, `version ${d.versionId}`)),
                    h('td', { class: 'num' }, d.attempts),
                    h('td', {}, d.lastError ?? '—'),
                    h('td', {}, instant(d.doneMs)),
                    h('td', {}, h('button', { type: 'button', class: 'secondary', 'aria-label': `Replay delivery ${d.id} to ${d.destination}`, onclick: () => void replay({ id: d.id }, `(delivery ${d.id})`) }, 'Replay')),
                  ),
                ),
              ),
            ),
      );
      if (announce) {
        const total = destinations.reduce((n, d) => n + d.dead, 0);
        status.textContent = `${destinations.length} peers and subscribers; ${total} dead ${total === 1 ? 'letter' : 'letters'}.`;
      }
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        status.textContent = `Operations could not be loaded: ${(err as Error).message}`;
      }
    }
  };

  mount(
    main,
    h('h1', { id: 'page-title', tabindex: '-1' }, 'Operations'),
    status,
    h('section', { class: 'card', 'aria-labelledby': 'health-title' }, h('h2', { id: 'health-title' }, 'Sync health'), health),
    h('section', { class: 'card', 'aria-labelledby': 'dead-title' }, h('h2', { id: 'dead-title' }, 'Dead letters'), dead),
    h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: () => void load() }, 'Refresh')),
  );
  await load();
}
