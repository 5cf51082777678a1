// The platform's JSON API, as the CLI uses it, from the browser: the
// session cookie authenticates, and every change carries the session's
// CSRF token. Errors are ApiErrors with the API's own message.

const base = '/api/v1';

// session is who is signed in: {email, admin, csrf_token, expires_at},
// null before sign-in.
export const session = { current: null };

// onSignedOut is called when the API says the session has ended.
let onSignedOut = () => {};
export function whenSignedOut(fn) { onSignedOut = fn; }

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || '';
  }
}

function isAbort(e) { return e && e.name === 'AbortError'; }

async function send(method, url, body, { signal, accept = 'application/json' } = {}) {
  const headers = { Accept: accept };
  const init = { method, headers, credentials: 'same-origin', signal, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && session.current) {
    headers['X-CSRF-Token'] = session.current.csrf_token;
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError(0, 'network', 'The platform did not answer: check your connection, then try again.');
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

async function errorOf(res) {
  let code = 'http_' + res.status;
  let message = `The platform answered ${res.status} ${res.statusText || ''}`.trim() + '.';
  let field = '';
  if ((res.headers.get('Content-Type') || '').startsWith('application/json')) {
    try {
      const b = await res.json();
      if (b && b.error) {
        code = b.error.code;
        message = b.error.message;
        field = b.error.field || '';
      }
    } catch { /* keep the status line */ }
  }
  const err = new ApiError(res.status, code, message, field);
  if (res.status === 401 && session.current) {
    session.current = null;
    onSignedOut(err);
  }
  return err;
}

// api calls an API endpoint (a path below /api/v1) and returns its JSON
// answer, or null for 204.
export async function api(method, path, body, opts) {
  const res = await send(method, base + path, body, opts);
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path, opts) => api('GET', path, undefined, opts);

// getAll follows a list's pages to the end (bounded by max items).
export async function getAll(path, max = 2000) {
  const items = [];
  let after = '';
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=500${after ? '&after=' + encodeURIComponent(after) : ''}`);
    items.push(...page.items);
    if (!page.next_after || items.length >= max) return items;
    after = page.next_after;
  }
}

// text fetches a text/plain endpoint whole.
export async function text(path, opts) {
  const res = await send('GET', base + path, undefined, { ...opts, accept: 'text/plain' });
  return res.text();
}

// stream reads a text/plain endpoint as it arrives, handing each piece to
// onText, until it ends or signal aborts.
export async function stream(path, onText, signal) {
  const res = await send('GET', base + path, undefined, { signal, accept: 'text/plain' });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onText(value);
    }
  } finally {
    reader.releaseLock();
  }
}

// The session endpoints live beside the API, at /session.
export async function loadSession() {
  try {
    const res = await send('GET', '/session');
    session.current = await res.json();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) session.current = null;
    else throw e;
  }
  return session.current;
}

export async function signIn(body) {
  const res = await send('POST', '/session', body);
  session.current = await res.json();
  return session.current;
}

export async function signOut() {
  await send('DELETE', '/session');
  session.current = null;
}

// appPath is an app's API path, with further segments escaped.
export function appPath(app, ...rest) {
  return ['/apps', app, ...rest].map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join('/');
}

export { isAbort };
