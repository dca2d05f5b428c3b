// The sign-in page: username and password; in development mode also the demo clients, without a
// password, marked as what they are.
import { badge, h, mount } from '../dom.ts';
import { roleName } from '../format.ts';
import { signIn, signInOptions } from '../session.ts';

export async function renderSignIn(main: HTMLElement, reason?: string): Promise<void> {
  document.title = 'Sign in — carebridge board';
  const error = h('p', { class: 'form-error', role: 'alert', id: 'sign-in-error' }, reason ?? '');
  const username = h('input', { id: 'username', name: 'username', type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const attempt = async (fields: Parameters<typeof signIn>[0]): Promise<void> => {
    submit.disabled = true;
    error.textContent = '';
    try {
      await signIn(fields);
    } catch (err) {
      error.textContent = (err as Error).message;
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
    }
  };
  const form = h(
    'form',
    {
      class: 'card sign-in',
      'aria-describedby': 'sign-in-error',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void attempt({ username: username.value.trim(), password: password.value });
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    error,
    submit,
  );
  mount(main, h('h1', { id: 'page-title', tabindex: '-1' }, 'Sign in to the care-coordination board'), h('p', { class: 'lede' }, 'Transitions from hospital to home: referrals, the transitional-care clock, follow-ups and coverage, as your organization may see them.'), form);

  const options = await signInOptions();
  if (options.devMode && options.devClients.length > 0) {
    main.append(
      h(
        'section',
        { class: 'card dev-sign-in', 'aria-labelledby': 'dev-title' },
        h('h2', { id: 'dev-title' }, badge('warning', 'Development mode'), ' Sign in as a demo client, without a password'),
        h('p', {}, 'This server runs in development mode: anyone who can reach it may sign in like this. Never use it with real patient data.'),
        h(
          'ul',
          { class: 'dev-clients' },
          options.devClients.map((client) =>
            h('li', {}, h('button', { type: 'button', class: 'secondary', onclick: () => void attempt({ devClient: client.clientId }) }, `Sign in as ${client.organization.display ?? client.clientId} (${roleName(client.role)}, demo)`)),
          ),
        ),
      ),
    );
  }
  username.focus();
}
