// Small DOM helpers shared by the pages. Everything is built with DOM
// calls and text nodes, never from HTML strings, so nothing the API
// returns can become markup.

// h makes an element: h('a', {href: '/', class: 'x', onclick: fn}, 'text', child, ...).
// Props starting with "on" are listeners; true/false set or drop boolean
// attributes; null and undefined children are skipped, arrays flattened.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// replace empties el and puts children in it.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
export function id(prefix) { uid += 1; return `${prefix}-${uid}`; }

// toast tells the user what just happened. kind: ok, error or info.
export function toast(message, kind = 'ok') {
  const box = document.getElementById('toasts');
  const close = h('button', { type: 'button', 'aria-label': 'Dismiss' }, '×');
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : null }, h('span', {}, message), close);
  close.addEventListener('click', () => t.remove());
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 12000 : 5000);
}

// errorText is what an error says to the user.
export function errorText(e) {
  const m = e && e.message ? e.message : 'something went wrong: ' + String(e);
  return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?:]$/.test(m) ? '' : '.');
}

// busy disables a button while fn runs, with a label saying what happens.
export async function busy(button, label, fn) {
  const old = button.textContent;
  const wasDisabled = button.disabled;
  button.disabled = true;
  button.classList.add('busy');
  if (label) button.textContent = label;
  try {
    return await fn();
  } finally {
    button.classList.remove('busy');
    button.textContent = old;
    button.disabled = wasDisabled;
  }
}

// errorBox is a place for a form's error, read out when it changes.
export function errorBox() {
  return h('p', { class: 'error', role: 'alert', 'aria-live': 'assertive' });
}

// showError puts an error's words in box (and says which field).
export function showError(box, e, form) {
  box.textContent = errorText(e);
  if (form && e && e.field) {
    const input = form.querySelector(`[name="${CSS.escape(e.field)}"]`);
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  }
}

export function clearError(box, form) {
  box.textContent = '';
  if (form) form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
}

// confirmDialog asks before something that cannot be undone. With typed,
// the user must type that text to enable the button. Resolves to true
// when confirmed.
export function confirmDialog({ title, body, confirm = 'Confirm', danger = false, typed = '' }) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'submit', class: danger ? 'danger solid' : 'primary', value: 'yes' }, confirm);
    const no = h('button', { type: 'button' }, 'Cancel');
    let input = null;
    const inputId = id('confirm');
    if (typed) {
      input = h('input', { type: 'text', id: inputId, autocomplete: 'off', spellcheck: 'false' });
      yes.disabled = true;
      input.addEventListener('input', () => { yes.disabled = input.value !== typed; });
    }
    const form = h('form', { method: 'dialog' },
      h('h2', {}, title),
      [].concat(body).map((b) => (b instanceof Node ? b : h('p', {}, b))),
      typed ? h('div', { class: 'field' },
        h('label', { for: inputId }, 'Type ', h('code', {}, typed), ' to confirm'), input) : null,
      h('div', { class: 'buttons' }, no, yes));
    const dlg = h('dialog', { 'aria-label': title }, form);
    let result = false;
    form.addEventListener('submit', (ev) => {
      if (typed && input.value !== typed) { ev.preventDefault(); return; }
      result = true;
    });
    no.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    (input || no).focus();
  });
}

// copy puts text on the clipboard, saying so.
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard', 'info');
  } catch {
    toast('Could not copy: select the text and copy it yourself', 'error');
  }
}

// cli shows the CLI command that does the same as an action, to copy.
export function cli(command) {
  const code = h('code', {}, command);
  const btn = h('button', { type: 'button', class: 'copy', 'aria-label': `Copy the command: ${command}` }, 'Copy');
  btn.addEventListener('click', () => copy(code.textContent));
  const el = h('div', { class: 'cli' }, h('span', { class: 'nowrap' }, 'CLI:'), code, btn);
  el.set = (c) => { code.textContent = c; btn.setAttribute('aria-label', `Copy the command: ${c}`); };
  return el;
}

// when shows a time relative to now, with the exact time on hover.
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: d.toLocaleString() }, ago(d));
}

export function ago(d) {
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const hr = Math.round(m / 60);
  if (hr < 24) return `${hr} h ago`;
  const days = Math.round(hr / 24);
  if (days < 30) return `${days} day${days === 1 ? '' : 's'} ago`;
  return d.toLocaleDateString();
}

export function duration(fromIso, toIso) {
  if (!fromIso || !toIso) return '';
  const s = Math.max(0, Math.round((new Date(toIso) - new Date(fromIso)) / 1000));
  return s < 90 ? `${s}s` : `${Math.floor(s / 60)}m ${s % 60}s`;
}

const statusKinds = {
  succeeded: 'ok', up: 'ok', active: 'ok',
  pending: 'warn', deploying: 'warn', running: 'warn', starting: 'warn', stopping: 'warn',
  failed: 'bad', crashed: 'bad', cancelled: 'bad', suspended: 'bad',
};

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || statusKinds[text] || ''}` }, text);
}

// table builds a table that turns into cards at phone width: columns are
// [{label, cell: row => content, class}]; empty is shown with no rows.
// rowAttrs gives each row's attributes.
export function table(columns, rows, { empty = 'Nothing here yet.', caption, rowClass, rowAttrs } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'cards' },
    caption ? h('caption', { class: 'muted small' }, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', { class: rowClass ? rowClass(r) : null, ...(rowAttrs ? rowAttrs(r) : {}) },
      columns.map((c, i) => h('td', { 'data-label': c.label, 'data-col': i, class: c.class }, c.cell(r))))))));
}

// poller calls fn now and then every interval() ms while the page is
// visible, until stopped. fn's errors are its own business.
export function poller(fn, interval) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    timer = null;
    if (stopped) return;
    if (!document.hidden) {
      try { await fn(); } catch { /* fn shows its errors */ }
    }
    if (!stopped) timer = setTimeout(tick, interval());
  };
  const onVisible = () => { if (!document.hidden && timer !== null) { clearTimeout(timer); tick(); } };
  document.addEventListener('visibilitychange', onVisible);
  tick();
  return {
    stop() { stopped = true; if (timer) clearTimeout(timer); document.removeEventListener('visibilitychange', onVisible); },
    now() { if (timer !== null) { clearTimeout(timer); tick(); } },
  };
}

export function notFound(main, what) {
  document.title = 'Not found · platform';
  replace(main, h('div', { class: 'notfound', 'data-page': 'not-found' },
    h('h1', {}, 'Not found'),
    h('p', { class: 'muted' }, what || 'There is nothing at this address.'),
    h('p', {}, h('a', { href: '/' }, 'Back to your apps'))));
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading' }, text);
}
