// The board's entry: who is signed in (the header), and which view the URL's fragment names —
// #/ the transitions, #/transitions/<id> one of them, #/operations the sync health (admins).
// After each change of view the focus moves to its heading, so a screen reader announces it.
import './styles.css';
import { h, mount } from './dom.ts';
import { roleName } from './format.ts';
import { onSessionChange, restore, signOut, user } from './session.ts';
import { renderDetail } from './views/detail.ts';
import { renderList } from './views/list.ts';
import { renderOperations } from './views/operations.ts';
import { renderSignIn } from './views/sign-in.ts';

const header = document.getElementById('top') as HTMLElement;
const main = document.getElementById('main') as HTMLElement;

function renderHeader(): void {
  const who = user();
  const route = location.hash.startsWith('#/operations') ? 'operations' : 'transitions';
  mount(
    header,
    h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'carebridge ', h('span', { class: 'brand-sub' }, 'care-coordination board')),
    who
      ? h(
          'nav',
          { 'aria-label': 'Board' },
          h('a', { href: '#/', 'aria-current': route === 'transitions' ? 'page' : undefined }, 'Transitions'),
          who.role === 'admin' ? h('a', { href: '#/operations', 'aria-current': route === 'operations' ? 'page' : undefined }, 'Operations') : null,
        )
      : null,
    who
      ? h(
          'div',
          { class: 'who' },
          h('span', {}, 'Signed in as ', h('strong', {}, who.name), h('span', { class: 'org' }, ` — ${who.organization.display ?? who.organization.value} (${roleName(who.role)})`)),
          h('button', { type: 'button', class: 'link', onclick: () => signOut() }, 'Sign out'),
        )
      : null,
  );
}

async function route(reason?: string): Promise<void> {
  renderHeader();
  const who = user();
  if (!who) {
    await renderSignIn(main, reason);
    return;
  }
  const hash = location.hash;
  const detail = /^#\/transitions\/([^/?#]+)$/.exec(hash);
  if (detail) {
    await renderDetail(main, decodeURIComponent(detail[1] as string));
  } else if (hash === '#/operations' && who.role === 'admin') {
    await renderOperations(main);
  } else {
    await renderList(main);
  }
  document.getElementById('page-title')?.focus();
}

// Only "#/…" fragments are views: the skip link's "#main" just moves the focus.
window.addEventListener('hashchange', () => {
  if (location.hash === '' || location.hash.startsWith('#/')) {
    void route();
  }
});
onSessionChange((signedIn, reason) => {
  if (signedIn && !location.hash.startsWith('#/')) {
    history.replaceState(null, '', '#/');
  }
  void route(reason);
});
restore();
void route();
