// The sign-in page: an e-mail address and password, or an API token.

import { signIn } from './api.js';
import { h, replace, errorBox, showError, clearError, busy, cli } from './ui.js';

export function renderSignIn(main, { onSignedIn }) {
  document.title = 'Sign in · platform';

  const pwErr = errorBox();
  const email = h('input', { type: 'email', id: 'signin-email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', id: 'signin-password', name: 'password', autocomplete: 'current-password', required: true });
  const pwButton = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const pwForm = h('form', { class: 'stack', id: 'signin-password-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'signin-email' }, 'E-mail address'), email),
    h('div', { class: 'field' }, h('label', { for: 'signin-password' }, 'Password'), password),
    pwErr, pwButton);

  const tokErr = errorBox();
  const token = h('input', { type: 'password', id: 'signin-token', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true });
  const tokButton = h('button', { type: 'submit' }, 'Sign in with token');
  const tokForm = h('form', { class: 'stack', id: 'signin-token-form', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'signin-token' }, 'API token', h('span', { class: 'hint' }, ' — starts with plt_')),
      token),
    tokErr, tokButton, cli('platform login'));

  const submit = (form, box, button, body) => async (ev) => {
    ev.preventDefault();
    clearError(box, form);
    const b = body();
    if (Object.values(b).some((v) => !v.trim())) {
      showError(box, { message: 'Fill in every field to sign in.' });
      return;
    }
    try {
      await busy(button, 'Signing in…', () => signIn(b));
    } catch (e) {
      showError(box, e, form);
      return;
    }
    onSignedIn();
  };
  pwForm.addEventListener('submit', submit(pwForm, pwErr, pwButton, () => ({ email: email.value, password: password.value })));
  tokForm.addEventListener('submit', submit(tokForm, tokErr, tokButton, () => ({ token: token.value })));

  replace(main, h('div', { class: 'signin', 'data-page': 'signin' },
    h('h1', {}, 'Sign in'),
    h('section', { class: 'panel', 'aria-labelledby': 'signin-pw-h' },
      h('h2', { id: 'signin-pw-h' }, 'With your password'), pwForm),
    h('p', { class: 'or' }, 'or'),
    h('section', { class: 'panel', 'aria-labelledby': 'signin-tok-h' },
      h('h2', { id: 'signin-tok-h' }, 'With an API token'), tokForm)));
  email.focus();
}
