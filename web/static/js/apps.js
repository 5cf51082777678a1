// The apps list: every app of the user's tenants with its release, its
// processes ready out of desired, its last deploy and its URL.

import { api, get, getAll, appPath, ApiError } from './api.js';
import { h, replace, table, when, badge, cli, errorBox, showError, clearError, busy, toast, poller, loading } from './ui.js';

export function renderApps(main, ctx) {
  document.title = 'Apps · platform';
  const listBox = h('div', {}, loading());
  const creatable = ctx.account.admin ? null : ctx.account.memberships.filter((m) => m.role !== 'viewer').map((m) => m.tenant);
  replace(main, h('div', { 'data-page': 'apps' },
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Apps'),
        h('p', { class: 'sub' }, ctx.account.admin ? 'Every app on the platform.' : 'The apps of your tenants.'))),
    h('section', { class: 'panel', 'aria-label': 'Apps' }, listBox),
    creatable === null || creatable.length ? newAppForm(ctx, creatable) : null));

  // Details per app, kept between refreshes so rows do not flicker.
  const details = new Map();
  let apps = null;
  let firstError = null;

  const columns = [
    { label: 'App', class: 'primary-cell', cell: (a) => h('a', { href: `/apps/${encodeURIComponent(a.name)}`, class: 'app-link' }, h('strong', {}, a.name)) },
    { label: 'Tenant', cell: (a) => a.tenant },
    { label: 'Release', live: true, cell: (a) => releaseCell(details.get(a.name)) },
    { label: 'Processes', live: true, cell: (a) => processCell(details.get(a.name)) },
    { label: 'Last deploy', live: true, cell: (a) => deployCell(details.get(a.name)) },
    { label: 'URL', cell: (a) => (a.web_url ? h('a', { href: a.web_url, target: '_blank', rel: 'noopener' }, a.web_url.replace(/^https?:\/\//, '')) : '—') },
  ];
  // The table is rebuilt only when the apps change; their details are
  // updated in place, so that focus and links stay put.
  let drawn = null;
  const draw = () => {
    if (!apps) return;
    const key = apps.map((a) => `${a.name} ${a.tenant}`).join(',');
    if (key !== drawn) {
      drawn = key;
      replace(listBox, table(columns, apps, {
        empty: h('div', {}, h('p', {}, 'No apps yet.'), cli('platform apps:create NAME --tenant TENANT')),
        rowAttrs: (a) => ({ 'data-app': a.name }),
      }));
      return;
    }
    for (const a of apps) {
      const tr = listBox.querySelector(`tr[data-app="${CSS.escape(a.name)}"]`);
      columns.forEach((c, i) => { if (c.live) replace(tr.querySelector(`td[data-col="${i}"]`), c.cell(a)); });
    }
  };

  const refresh = async () => {
    try {
      apps = await getAll('/apps');
    } catch (e) {
      if (!apps) replace(listBox, h('p', { class: 'error', role: 'alert' }, e.message));
      return;
    }
    draw();
    // Each app's release and formation, a few at a time.
    const queue = [...apps];
    const worker = async () => {
      for (let a = queue.shift(); a; a = queue.shift()) {
        const d = {};
        const [info, formation] = await Promise.allSettled([get(appPath(a.name)), get(appPath(a.name, 'formation'))]);
        if (info.status === 'fulfilled') d.release = info.value.release || null;
        else d.releaseError = info.reason;
        if (formation.status === 'fulfilled') d.formation = formation.value.items;
        else d.formationError = formation.reason;
        if (!firstError && formation.status === 'rejected' && formation.reason instanceof ApiError && formation.reason.status === 501) {
          firstError = formation.reason;
        }
        details.set(a.name, d);
        draw();
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  };
  const p = poller(refresh, () => 15000);
  return () => p.stop();
}

function releaseCell(d) {
  if (!d) return h('span', { class: 'muted' }, '…');
  if (d.releaseError) return h('span', { class: 'muted', title: d.releaseError.message }, '—');
  if (!d.release) return h('span', { class: 'muted' }, 'not deployed');
  return h('span', {}, h('strong', {}, `v${d.release.version}`), ' ', d.release.status !== 'succeeded' ? badge(d.release.status) : null);
}

function processCell(d) {
  if (!d) return h('span', { class: 'muted' }, '…');
  if (d.formationError) return h('span', { class: 'muted', title: d.formationError.message }, '—');
  if (!d.formation.length) return h('span', { class: 'muted' }, 'none');
  return h('span', { class: 'procs-inline' }, d.formation.map((p, i) => [
    i ? ' · ' : '',
    h('span', { class: 'nowrap', title: `${p.type}: ${p.ready} ready of ${p.quantity} wanted` },
      `${p.type} `, h('strong', { class: p.ready === p.quantity ? '' : 'warn' }, `${p.ready}/${p.quantity}`)),
  ]));
}

function deployCell(d) {
  if (!d || !d.release) return h('span', { class: 'muted' }, d ? '—' : '…');
  const r = d.release;
  return h('span', {}, when(r.finished_at || r.created_at), ' ', badge(r.status));
}

// newAppForm creates an app in one of the tenants where the user may.
function newAppForm(ctx, tenants) {
  const err = errorBox();
  const name = h('input', { type: 'text', id: 'new-app-name', name: 'name', required: true, autocomplete: 'off', spellcheck: 'false', pattern: '[a-z][a-z0-9-]*' });
  const tenantField = h('select', { id: 'new-app-tenant', name: 'tenant' }, (tenants || []).map((t) => h('option', { value: t }, t)));
  if (tenants === null) {
    // An admin may create apps in every tenant.
    getAll('/tenants').then((ts) => { replace(tenantField, ts.map((t) => h('option', { value: t.name }, t.name))); sync(); })
      .catch((e) => showError(err, e));
  }
  const button = h('button', { type: 'submit', class: 'primary' }, 'Create app');
  const command = cli('platform apps:create NAME --tenant TENANT');
  const sync = () => command.set(`platform apps:create ${name.value || 'NAME'} --tenant ${tenantField.value || 'TENANT'}`);
  name.addEventListener('input', sync);
  tenantField.addEventListener('input', sync);
  sync();
  const form = h('form', { novalidate: true },
    h('div', { class: 'form-row' },
      h('div', { class: 'field' }, h('label', { for: 'new-app-name' }, 'Name', h('span', { class: 'hint' }, ' — lower-case letters, digits and dashes')), name),
      h('div', { class: 'field' }, h('label', { for: 'new-app-tenant' }, 'Tenant'), tenantField),
      button),
    err, command);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(err, form);
    try {
      const app = await busy(button, 'Creating…', () => api('POST', '/apps', { name: name.value.trim(), tenant: tenantField.value.trim() }));
      toast(`Created ${app.name}: push to ${app.git_url || 'it'} to deploy`);
      ctx.navigate(`/apps/${encodeURIComponent(app.name)}`);
    } catch (e) {
      showError(err, e, form);
    }
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'new-app-h' }, h('h2', { id: 'new-app-h' }, 'New app'), form);
}
