// One transition: who and when, each referral's answer, the transitional-care timeline with its
// evidence, the follow-ups, the caregiver tasks and red flags, the Coverage findings and the last
// report-back — from the board row, GET /transitions/{id} and its timeline.
import { ApiError, api } from '../api.ts';
import { badge, h, mount, notVisible } from '../dom.ts';
import { DEADLINE, REFERRAL_STATE, SEVERITY, day, dayTime, findingTone, instant, referralTone } from '../format.ts';
import type { BoardRow, Timeline, TransitionState } from '../types.ts';

function section(id: string, title: string, ...content: (Node | string | null)[]): HTMLElement {
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

function facts(row: BoardRow, state: TransitionState | undefined): HTMLElement {
  const referral = REFERRAL_STATE[row.referralState] ?? { tone: 'muted' as const, label: row.referralState };
  const pairs: [string, Node | string][] = [
    ['Patient', row.patient ? `${row.patient.name ?? row.patient.reference}${row.patient.birthDate ? `, born ${day(row.patient.birthDate)}` : ''}` : 'not visible to your role'],
    ['Discharged', dayTime(row.dischargedAt)],
    ['Plan status', row.status],
    ['Agency', row.acceptedBy ? badge('ok', `Placed with ${row.acceptedBy}`) : badge(referral.tone, referral.label)],
    ['Readmission', state?.readmission ? badge('danger', `Readmitted ${day(state.readmission.admittedOn)}`, `(${state.readmission.daysAfterDischarge} days after discharge)`) : 'None recorded'],
  ];
  return h('dl', { class: 'facts' }, pairs.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]).flat());
}

function referrals(state: TransitionState | undefined, row: BoardRow): HTMLElement {
  if (row.referrals === null || !state) {
    return section('referrals-title', 'Referrals', notVisible());
  }
  if (state.referrals.length === 0) {
    return section('referrals-title', 'Referrals', h('p', {}, 'No agency has been referred.'));
  }
  return section(
    'referrals-title',
    'Referrals',
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, ['Agency', 'Status', 'Reason', 'Progress', 'Last change'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, state.referrals.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.agency.display ?? r.task), h('td', {}, badge(referralTone(r.status), r.status)), h('td', {}, r.statusReason ?? '—'), h('td', {}, r.businessStatus ?? '—'), h('td', {}, instant(r.lastUpdated))))),
    ),
  );
}

function timeline(data: Timeline | undefined, row: BoardRow): HTMLElement {
  if (row.deadlines === null || !data) {
    return section('timeline-title', 'Transitional-care timeline', notVisible());
  }
  const items: HTMLElement[] = [];
  if (data.dischargedAt) {
    items.push(h('li', { class: 'event' }, h('span', { class: 'when' }, dayTime(data.dischargedAt)), h('span', { class: 'what' }, 'Discharged')));
  }
  for (const d of data.deadlines) {
    const state = DEADLINE[d.state];
    items.push(
      h(
        'li',
        { class: `event deadline-${d.state}` },
        h('span', { class: 'when' }, `due ${day(d.due)}`),
        h(
          'span',
          { class: 'what' },
          badge(state.tone, state.label),
          ` ${d.display}`,
          d.metAt ? h('div', { class: 'sub' }, `met ${dayTime(d.metAt)}`) : null,
          d.evidence.length > 0 ? h('div', { class: 'sub' }, `evidence: ${d.evidence.map((e) => `${e.resource}${e.outcome === 'attempt' ? ' (unsuccessful attempt)' : ''}`).join(', ')}`) : null,
          d.recorded.businessStatus === 'overdue' ? h('div', { class: 'sub' }, 'the overdue sweep recorded it as overdue') : null,
        ),
      ),
    );
  }
  if (data.readmission) {
    items.push(h('li', { class: 'event' }, h('span', { class: 'when' }, day(data.readmission.admittedOn)), h('span', { class: 'what' }, badge('danger', 'Readmitted'), ` ${data.readmission.daysAfterDischarge} days after discharge`)));
  }
  return section('timeline-title', 'Transitional-care timeline', h('p', { class: 'sub' }, `Judged at ${instant(data.now)}`), h('ol', { class: 'timeline' }, items));
}

function followUps(row: BoardRow): HTMLElement {
  if (row.followUps === null) {
    return section('follow-ups-title', 'Follow-up appointments', notVisible());
  }
  return section(
    'follow-ups-title',
    'Follow-up appointments',
    row.followUps.length === 0 ? h('p', {}, 'None planned.') : h('ul', { class: 'plain spaced' }, row.followUps.map((f) => h('li', {}, h('strong', {}, dayTime(f.start)), ' ', badge(f.status === 'fulfilled' ? 'ok' : 'info', f.status), f.description ? h('div', { class: 'sub' }, f.description) : null))),
  );
}

function care(row: BoardRow, state: TransitionState | undefined): HTMLElement {
  const flags = row.redFlags === null ? notVisible() : row.redFlags.length === 0 ? h('p', {}, 'No open red flags.') : h('ul', { class: 'plain spaced' }, row.redFlags.map((f) => h('li', {}, badge('danger', f.priority === 'urgent' ? 'Urgent' : 'Red flag'), ` ${f.text}`, f.authoredOn ? h('div', { class: 'sub' }, `reported ${instant(f.authoredOn)}, task ${f.status}`) : null)));
  const tasks = !state || row.referrals === null ? notVisible() : state.caregiverTasks.length === 0 ? h('p', {}, 'None.') : h('ul', { class: 'plain' }, state.caregiverTasks.map((t) => h('li', {}, `${t.id ?? t.task} `, badge(t.status === 'completed' ? 'ok' : 'info', t.status ?? 'unknown'))));
  const report = state?.lastReportBack;
  return section(
    'care-title',
    'Caregiver',
    h('h3', {}, 'Red flags'),
    flags,
    h('h3', {}, 'Caregiver tasks'),
    tasks,
    h('h3', {}, 'Last report-back'),
    report ? h('p', {}, `${report.summary} — ${report.agency.display ?? 'agency'}, ${instant(report.at)}`) : h('p', {}, state ? 'None yet.' : 'not visible to your role'),
  );
}

function coverage(row: BoardRow): HTMLElement {
  if (row.coverage === null) {
    return section('coverage-title', 'Coverage', notVisible());
  }
  const c = row.coverage;
  return section(
    'coverage-title',
    'Coverage',
    h('p', {}, c.coveredOnDischarge ? badge('ok', 'Covered on the discharge day') : badge('danger', 'Not covered on the discharge day'), ' ', c.coveredThroughWindow ? badge('ok', 'Covered through the 30 days') : badge('danger', 'Not covered through the 30 days')),
    c.payer ? h('p', {}, `Primary: ${c.payer}${c.plan ? `, ${c.plan}` : ''}`) : null,
    h('ul', { class: 'plain spaced' }, c.findings.map((f) => h('li', {}, badge(findingTone(f), SEVERITY[f.severity]), ` ${f.text}`))),
  );
}

export async function renderDetail(main: HTMLElement, id: string): Promise<void> {
  const back = h('p', {}, h('a', { href: '#/' }, '← Back to the transitions'));
  mount(main, back, h('h1', { id: 'page-title', tabindex: '-1' }, 'Transition'), h('p', { role: 'status' }, 'Loading…'));
  let row: BoardRow;
  try {
    row = await api.row(id);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      mount(main, back, h('h1', { id: 'page-title', tabindex: '-1' }, 'Transition not found'), h('p', { role: 'alert' }, err instanceof ApiError && err.status === 404 ? 'There is no such transition, or your organization may not see it.' : (err as Error).message));
    }
    return;
  }
  // The state and the timeline need Task reads: a role without them gets the row's Coverage view.
  const [state, clock] = row.referrals === null ? [undefined, undefined] : await Promise.all([api.state(id), api.timeline(id)]);
  const name = row.patient?.name ?? 'Patient not visible';
  document.title = `${name} — carebridge board`;
  mount(
    main,
    back,
    h('h1', { id: 'page-title', tabindex: '-1' }, name),
    row.title ? h('p', { class: 'lede' }, row.title) : null,
    h('div', { class: 'detail-grid' }, section('facts-title', 'Transition', facts(row, state)), timeline(clock, row), referrals(state, row), followUps(row), care(row, state), coverage(row)),
  );
}
