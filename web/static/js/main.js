// The dashboard's entry point: it finds out who is signed in, draws the
// header and routes each URL to its page, in the browser.

import { get, loadSession, session, signOut, whenSignedOut } from './api.js';
import { h, replace, toast, errorText, notFound, loading } from './ui.js';
import { renderSignIn } from './signin.js';
import { renderApps } from './apps.js';
import { renderApp } from './app.js';
import { renderTenants, renderTenant, renderUsers, renderAudit } from './admin.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

// ctx is what every page gets: the account, the role in a tenant, and
// navigation.
const ctx = {
  account: null,
  // role is the user's role in tenant: admin, owner, member, viewer or
  // null.
  role(tenant) {
    if (!this.account) return null;
    if (this.account.admin) return 'admin';
    const m = this.account.memberships.find((x) => x.tenant === tenant);
    return m ? m.role : null;
  },
  // can reports whether the user's role in tenant is at least need.
  can(tenant, need) {
    const rank = { viewer: 1, member: 2, owner: 3, admin: 4 };
    return (rank[this.role(tenant)] || 0) >= rank[need];
  },
  ownedTenants() {
    if (!this.account) return [];
    return this.account.memberships.filter((m) => m.role === 'owner').map((m) => m.tenant);
  },
  navigate,
};

let cleanup = null;

// routes map a path to a page; the first match wins.
const routes = [
  [/^\/$/, () => renderApps(main, ctx)],
  [/^\/apps\/?$/, () => renderApps(main, ctx)],
  [/^\/apps\/([^/]+)(?:\/(overview|releases|config|domains|builds|logs|settings))?(?:\/([^/]+))?\/?$/,
    (m) => renderApp(main, ctx, decodeURIComponent(m[1]), m[2] || 'overview', m[3] ? decodeURIComponent(m[3]) : '')],
  [/^\/admin\/?$/, () => navigate('/admin/tenants', { replace: true })],
  [/^\/admin\/tenants\/?$/, () => renderTenants(main, ctx)],
  [/^\/admin\/tenants\/([^/]+)\/?$/, (m) => renderTenant(main, ctx, decodeURIComponent(m[1]))],
  [/^\/admin\/users\/?$/, () => renderUsers(main, ctx)],
  [/^\/admin\/audit\/?$/, () => renderAudit(main, ctx)],
];

function route() {
  if (cleanup) { try { cleanup(); } catch { /* a page's own */ } cleanup = null; }
  const path = location.pathname;
  if (!session.current) {
    drawHeader();
    cleanup = renderSignIn(main, { onSignedIn: start });
    return;
  }
  if (path === '/signin') { navigate('/', { replace: true }); return; }
  drawHeader();
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (m) {
      const c = page(m);
      cleanup = typeof c === 'function' ? c : null;
      return;
    }
  }
  notFound(main);
}

export function navigate(path, { replace: rep = false } = {}) {
  if (rep) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
  if (!rep) {
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }
}

function drawHeader() {
  if (!session.current || !ctx.account) {
    replace(nav);
    replace(who);
    return;
  }
  const path = location.pathname;
  const link = (href, label, active) => h('a', { href, 'aria-current': active ? 'page' : null }, label);
  const items = [link('/', 'Apps', path === '/' || path.startsWith('/apps'))];
  if (ctx.account.admin) {
    items.push(link('/admin/tenants', 'Tenants', path.startsWith('/admin/tenants')));
    items.push(link('/admin/users', 'Users', path.startsWith('/admin/users')));
    items.push(link('/admin/audit', 'Audit log', path.startsWith('/admin/audit')));
  } else {
    for (const t of ctx.ownedTenants()) {
      items.push(link(`/admin/tenants/${encodeURIComponent(t)}`, `Team ${t}`, path === `/admin/tenants/${t}`));
    }
    if (ctx.ownedTenants().length) items.push(link('/admin/audit', 'Audit log', path.startsWith('/admin/audit')));
  }
  replace(nav, items);
  const out = h('button', { type: 'button', class: 'link', id: 'signout' }, 'Sign out');
  out.addEventListener('click', async () => {
    out.disabled = true;
    try {
      await signOut();
      ctx.account = null;
      history.pushState(null, '', '/signin');
      route();
      toast('Signed out', 'info');
    } catch (e) {
      out.disabled = false;
      toast(errorText(e), 'error');
    }
  });
  replace(who, h('span', { class: 'email', title: session.current.email }, session.current.email,
    ctx.account.admin ? ' (admin)' : ''), out);
}

// start loads the session and the account, then draws the page.
async function start() {
  replace(main, loading());
  try {
    await loadSession();
    ctx.account = session.current ? await get('/account') : null;
  } catch (e) {
    replace(main, h('p', { class: 'error', role: 'alert' }, errorText(e)),
      h('p', {}, h('button', { type: 'button', onclick: start }, 'Try again')));
    return;
  }
  route();
}

whenSignedOut((e) => {
  ctx.account = null;
  route();
  toast(errorText(e), 'error');
});

document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
  ev.preventDefault();
  if (url.pathname + url.search === location.pathname + location.search) return;
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);

start();
