// The transitions list: one row per open transition the signed-in organization may see, with the
// filters "overdue" and "no agency yet" (judged by carebridge, across every page). Each patient's
// name is a link: Tab reaches it, Enter opens the transition.
import { ApiError, api } from '../api.ts';
import { badge, h, mount, notVisible } from '../dom.ts';
import { DEADLINE, REFERRAL_STATE, day, dayTime, findingLabel, findingTone, referralTone } from '../format.ts';
import type { BoardRow } from '../types.ts';

const FILTERS = [
  { value: 'overdue', label: 'Overdue' },
  { value: 'no-agency', label: 'No agency yet' },
] as const;

/** Filters kept while the person moves between the list and a transition. */
const chosen = new Set<string>();

function patientCell(row: BoardRow): HTMLElement {
  const name = row.patient?.name ?? (row.patient ? row.patient.reference : 'Patient not visible');
  return h(
    'th',
    { scope: 'row' },
    h('a', { href: `#/transitions/${encodeURIComponent(row.id)}`, class: 'row-link' }, name),
    row.patient?.birthDate ? h('div', { class: 'sub' }, `born ${day(row.patient.birthDate)}`) : null,
    row.title ? h('div', { class: 'sub' }, row.title) : null,
  );
}

function referralsCell(row: BoardRow): HTMLElement {
  const state = REFERRAL_STATE[row.referralState] ?? { tone: 'muted' as const, label: row.referralState };
  return h(
    'td',
    {},
    badge(state.tone, row.acceptedBy ? `Placed with ${row.acceptedBy}` : state.label),
    row.referrals === null
      ? h('div', { class: 'sub' }, notVisible())
      : h(
          'ul',
          { class: 'plain' },
          row.referrals.map((r) => h('li', {}, h('span', { class: 'agency' }, r.agency), ' ', badge(referralTone(r.status), r.status), r.statusReason ? h('span', { class: 'reason' }, ` — ${r.statusReason}`) : null)),
        ),
  );
}

function clockCell(row: BoardRow): HTMLElement {
  if (row.deadlines === null) {
    return h('td', {}, notVisible());
  }
  // What needs doing: every overdue deadline, else the next one due; the rest is in the detail.
  const overdue = row.deadlines.filter((d) => d.state === 'overdue');
  const next = row.deadlines.find((d) => d.state === 'open');
  const shown = overdue.length > 0 ? overdue : next ? [next] : [];
  if (shown.length === 0) {
    return h('td', {}, row.deadlines.length === 0 ? 'No deadlines' : badge('ok', 'All met or ended'));
  }
  return h('td', {}, h('ul', { class: 'plain' }, shown.map((d) => h('li', {}, badge(DEADLINE[d.state].tone, DEADLINE[d.state].label), ` ${d.display}`, h('div', { class: 'sub' }, `due ${day(d.due)}`)))));
}

function followUpsCell(row: BoardRow): HTMLElement {
  if (row.followUps === null) {
    return h('td', {}, notVisible());
  }
  if (row.followUps.length === 0) {
    return h('td', {}, 'None');
  }
  return h('td', {}, h('ul', { class: 'plain' }, row.followUps.map((f) => h('li', {}, dayTime(f.start), ' ', badge(f.status === 'fulfilled' ? 'ok' : f.status === 'cancelled' || f.status === 'noshow' ? 'danger' : 'info', f.status)))));
}

function redFlagsCell(row: BoardRow): HTMLElement {
  if (row.redFlags === null) {
    return h('td', {}, notVisible());
  }
  if (row.redFlags.length === 0) {
    return h('td', {}, 'None open');
  }
  return h('td', {}, h('ul', { class: 'plain' }, row.redFlags.map((f) => h('li', {}, badge('danger', f.priority === 'urgent' ? 'Urgent' : 'Red flag'), ` ${f.text}`))));
}

function coverageCell(row: BoardRow): HTMLElement {
  if (row.coverage === null) {
    return h('td', {}, notVisible());
  }
  const problems = row.coverage.findings.filter((f) => f.severity !== 'information');
  return h(
    'td',
    {},
    row.coverage.coveredOnDischarge ? badge('ok', 'Covered') : badge('danger', 'Not covered on discharge'),
    row.coverage.payer ? h('div', { class: 'sub' }, row.coverage.payer) : null,
    problems.length > 0 ? h('ul', { class: 'plain' }, problems.map((f) => h('li', { title: f.text }, badge(findingTone(f), findingLabel(f))))) : null,
  );
}

function tableOf(rows: BoardRow[]): HTMLTableElement {
  return h(
    'table',
    { class: 'transitions' },
    h('caption', { class: 'visually-hidden' }, 'Open transitions'),
    h('thead', {}, h('tr', {}, ['Patient', 'Discharged', 'Referrals', 'Transitional-care clock', 'Follow-ups', 'Red flags', 'Coverage'].map((t) => h('th', { scope: 'col' }, t)))),
    h(
      'tbody',
      {},
      rows.map((row) => h('tr', { class: row.overdue ? 'is-overdue' : undefined, 'data-transition': row.id }, patientCell(row), h('td', {}, dayTime(row.dischargedAt)), referralsCell(row), clockCell(row), followUpsCell(row), redFlagsCell(row), coverageCell(row))),
    ),
  );
}

export async function renderList(main: HTMLElement): Promise<void> {
  document.title = 'Transitions — carebridge board';
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Loading…');
  const results = h('div', { class: 'results' });
  const more = h('div', { class: 'more' });
  let loaded: BoardRow[] = [];

  const load = async (cursor?: string): Promise<void> => {
    status.textContent = 'Loading…';
    try {
      const page = await api.transitions([...chosen], cursor);
      loaded = cursor ? [...loaded, ...page.items] : page.items;
      const only = chosen.size === 0 ? '' : ` (only: ${FILTERS.filter((f) => chosen.has(f.value)).map((f) => f.label).join(', ')})`;
      status.textContent = `${loaded.length} open ${loaded.length === 1 ? 'transition' : 'transitions'}${only}${page.next ? ', more to load' : ''}.`;
      mount(results, loaded.length > 0 ? tableOf(loaded) : h('p', { class: 'empty' }, 'Nothing to show.'));
      mount(more, page.next ? h('button', { type: 'button', class: 'secondary', onclick: () => void load(page.next) }, 'Load more') : null);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        status.textContent = `The list could not be loaded: ${(err as Error).message}`;
      }
    }
  };

  const filters = h(
    'fieldset',
    { class: 'filters' },
    h('legend', {}, 'Show only'),
    FILTERS.map((f) =>
      h(
        'label',
        { class: 'check' },
        h('input', {
          type: 'checkbox',
          name: 'filter',
          value: f.value,
          checked: chosen.has(f.value),
          onchange: (event: Event) => {
            const box = event.target as HTMLInputElement;
            if (box.checked) {
              chosen.add(f.value);
            } else {
              chosen.delete(f.value);
            }
            void load();
          },
        }),
        ` ${f.label}`,
      ),
    ),
  );
  mount(main, h('h1', { id: 'page-title', tabindex: '-1' }, 'Open transitions'), filters, status, results, more);
  await load();
}
