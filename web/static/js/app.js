// The app page: a header, tabs, and the overview tab (formation with a
// slider per process type, the running processes, the git remote).

import { api, get, appPath, ApiError } from './api.js';
import { h, replace, badge, cli, copy, when, table, toast, errorText, poller, notFound, loading, busy } from './ui.js';
import { renderReleases } from './releases.js';
import { renderConfig } from './config.js';
import { renderBuilds, renderLogs } from './logs.js';
import { renderDomains, renderSettings } from './settings.js';

const tabs = [
  ['overview', 'Overview'],
  ['releases', 'Releases'],
  ['config', 'Config vars'],
  ['domains', 'Domains'],
  ['builds', 'Builds'],
  ['logs', 'Logs'],
  ['settings', 'Settings'],
];

export function renderApp(main, ctx, name, tab, sub) {
  document.title = `${name} · platform`;
  replace(main, loading());
  let stop = null;
  let gone = false;
  (async () => {
    let info;
    try {
      info = await get(appPath(name));
    } catch (e) {
      if (gone) return;
      if (e instanceof ApiError && e.status === 404) {
        notFound(main, `There is no app named “${name}”, or you have no access to it.`);
      } else {
        replace(main, h('p', { class: 'error', role: 'alert' }, errorText(e)));
      }
      return;
    }
    if (gone) return;
    const role = ctx.role(info.tenant);
    const app = {
      ...info,
      role,
      canWrite: ctx.can(info.tenant, 'member'),
      canOwn: ctx.can(info.tenant, 'owner'),
    };
    const body = h('div', { id: 'tab-body' });
    const base = `/apps/${encodeURIComponent(app.name)}`;
    replace(main, h('div', { 'data-page': 'app', 'data-role': role || '' },
      h('div', { class: 'crumbs' }, h('a', { href: '/' }, 'Apps'), ' / ', app.tenant),
      h('div', { class: 'page-head' },
        h('div', {},
          h('h1', {}, app.name),
          h('p', { class: 'sub' },
            h('span', {}, 'tenant ', h('strong', {}, app.tenant)),
            app.release ? h('span', {}, 'release ', h('strong', {}, `v${app.release.version}`), ' ', badge(app.release.status)) : h('span', { class: 'muted' }, 'not deployed yet'),
            role === 'viewer' ? badge('viewer: read only', 'accent') : null)),
        app.web_url ? h('a', { class: 'button', href: app.web_url, target: '_blank', rel: 'noopener' }, 'Open app ↗') : null),
      h('nav', { class: 'tabs', 'aria-label': `${app.name} sections` },
        tabs.map(([key, label]) => h('a', { href: key === 'overview' ? base : `${base}/${key}`, 'aria-current': key === tab ? 'page' : null }, label))),
      body));
    const pages = {
      overview: renderOverview,
      releases: renderReleases,
      config: renderConfig,
      domains: renderDomains,
      builds: renderBuilds,
      logs: renderLogs,
      settings: renderSettings,
    };
    stop = pages[tab](body, ctx, app, sub) || null;
  })();
  return () => { gone = true; if (stop) stop(); };
}

function renderOverview(body, ctx, app) {
  const formation = h('section', { class: 'panel', 'aria-labelledby': 'formation-h', id: 'formation' });
  const ps = h('section', { class: 'panel', 'aria-labelledby': 'ps-h', id: 'processes' });
  replace(body, formation, ps, gitPanel(app));
  return formationAndProcesses(formation, ps, app);
}

function gitPanel(app) {
  if (!app.git_url) return null;
  const remote = h('code', { id: 'git-remote' }, app.git_url);
  return h('section', { class: 'panel', 'aria-labelledby': 'git-h' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'git-h' }, 'Deploy with git'),
      h('button', { type: 'button', class: 'copy', onclick: () => copy(app.git_url), 'aria-label': 'Copy the git remote' }, 'Copy remote')),
    h('p', {}, 'Git remote: ', remote),
    cli(`git remote add platform ${app.git_url}`),
    cli('git push platform main'),
    cli(`platform git:remote -a ${app.name}`));
}

// formationAndProcesses draws the sliders and the process list, and
// polls both: every second while some process type is not at its
// quantity, every five otherwise.
function formationAndProcesses(panel, psPanel, app) {
  const state = {
    procs: null,
    sizes: null,
    limit: null, // {max, maxSize}
    rows: new Map(),
    error: null,
    settleUntil: 0,
  };
  const listEl = h('div', { class: 'procs' }, loading());
  const formErr = h('p', { class: 'error', role: 'alert' });
  replace(panel,
    h('div', { class: 'panel-head' }, h('h2', { id: 'formation-h' }, 'Formation'),
      h('span', { class: 'muted small', id: 'formation-limit' })),
    app.canWrite ? null : h('p', { class: 'muted' }, 'You are a viewer of this tenant: you can see the processes but not scale them.'),
    formErr, listEl);
  const psBody = h('div', {}, loading());
  const restart = h('button', { type: 'button', disabled: !app.canWrite, title: app.canWrite ? null : 'Viewers cannot restart processes' }, 'Restart all');
  restart.addEventListener('click', async () => {
    try {
      await busy(restart, 'Restarting…', () => api('POST', appPath(app.name, 'ps', 'restart'), {}));
      toast(`Restarting every process of ${app.name}`);
      state.settleUntil = Date.now() + 30000;
      p.now();
    } catch (e) { toast(errorText(e), 'error'); }
  });
  replace(psPanel,
    h('div', { class: 'panel-head' }, h('h2', { id: 'ps-h' }, 'Processes'), restart),
    psBody, cli(`platform ps -a ${app.name}`), cli(`platform ps:restart -a ${app.name}`));

  const limitEl = panel.querySelector('#formation-limit');

  const loadLimits = async () => {
    const [sizes, tenant] = await Promise.allSettled([get('/sizes'), get(`/tenants/${encodeURIComponent(app.tenant)}`)]);
    state.sizes = sizes.status === 'fulfilled' ? sizes.value.items : [];
    if (tenant.status === 'fulfilled') {
      state.limit = { max: tenant.value.quota.max_processes, maxSize: tenant.value.quota.max_size, known: true };
      limitEl.textContent = `Tenant limit: ${state.limit.max} processes, ${state.limit.maxSize} at most`;
    } else {
      state.limit = { max: 0, maxSize: '', known: false };
    }
  };

  const sizeAllowed = (name) => {
    if (!state.limit.maxSize || !state.sizes) return true;
    const order = state.sizes.map((s) => s.name);
    return order.indexOf(name) <= order.indexOf(state.limit.maxSize);
  };

  const scaleCommand = (type, row) => `platform ps:scale ${type}=${row.slider.value}${row.size.value ? ':' + row.size.value : ''} -a ${app.name}`;

  const makeRow = (proc) => {
    const sid = `scale-${proc.type}`;
    const slider = h('input', {
      type: 'range', id: sid, name: proc.type, min: 0, step: 1, value: proc.quantity,
      disabled: !app.canWrite, 'aria-describedby': `count-${proc.type}`, 'data-type': proc.type,
    });
    const output = h('output', { for: sid, id: `qty-${proc.type}` }, String(proc.quantity));
    const size = h('select', { id: `size-${proc.type}`, 'aria-label': `Size of the ${proc.type} processes`, disabled: !app.canWrite },
      (state.sizes.length ? state.sizes : [{ name: proc.size }]).map((s) => h('option', {
        value: s.name, disabled: !sizeAllowed(s.name),
        title: s.memory_limit_mib ? `${s.cpu_limit_millicores / 1000} CPU, ${s.memory_limit_mib} MiB` : null,
      }, s.memory_limit_mib ? `${s.name} (${s.memory_limit_mib} MiB)` : s.name)));
    size.value = proc.size;
    const count = h('span', { class: 'count', id: `count-${proc.type}`, 'data-testid': `count-${proc.type}` });
    const msg = h('p', { class: 'pmsg muted', id: `msg-${proc.type}`, 'aria-live': 'polite' });
    const command = cli('');
    const row = { slider, output, size, count, msg, command, pending: null, inflight: false, touched: 0, proc };
    command.set(scaleCommand(proc.type, row));
    slider.addEventListener('input', () => {
      row.touched = Date.now();
      output.textContent = slider.value;
      slider.setAttribute('aria-valuetext', `${slider.value} ${proc.type} process${slider.value === '1' ? '' : 'es'}`);
      command.set(scaleCommand(proc.type, row));
    });
    slider.addEventListener('change', () => {
      clearTimeout(row.pending);
      row.pending = setTimeout(() => { row.pending = null; scale(proc.type, { quantity: Number(slider.value) }); }, 450);
    });
    size.addEventListener('change', () => { command.set(scaleCommand(proc.type, row)); scale(proc.type, { size: size.value }); });
    const el = h('div', { class: 'proc', 'data-process': proc.type },
      h('label', { class: 'ptype', for: sid }, proc.type),
      slider, output, size,
      h('div', { class: 'pstate' }, count, h('span', { class: 'muted small' }, 'ready / wanted')),
      proc.command ? h('p', { class: 'pcmd' }, h('code', {}, proc.command)) : null,
      msg, command);
    row.el = el;
    return row;
  };

  const scale = async (type, change) => {
    const row = state.rows.get(type);
    row.inflight = true;
    const what = change.quantity !== undefined ? `to ${change.quantity}` : `to size ${change.size}`;
    row.msg.className = 'pmsg progress';
    row.msg.textContent = `Scaling ${type} ${what}…`;
    try {
      const f = await api('PATCH', appPath(app.name, 'formation'), { updates: [{ type, ...change }] });
      state.procs = f.items;
      row.msg.className = 'pmsg muted';
      row.msg.textContent = '';
      toast(`Scaled ${type} ${what}`);
      state.settleUntil = Date.now() + 5000;
    } catch (e) {
      row.msg.className = 'pmsg error';
      row.msg.textContent = errorText(e);
      toast(errorText(e), 'error');
    } finally {
      row.inflight = false;
      row.touched = 0;
      draw();
      p.now();
    }
  };

  const draw = () => {
    if (state.error) {
      formErr.textContent = errorText(state.error);
      if (!state.procs) replace(listEl);
      return;
    }
    formErr.textContent = '';
    if (!state.procs) return;
    if (!state.procs.length) {
      replace(listEl, h('p', { class: 'empty' }, 'No process types yet: push the app, and its Procfile (or its detected command) makes them.'));
      state.rows.clear();
      return;
    }
    const types = state.procs.map((p) => p.type).join(',');
    if ([...state.rows.keys()].join(',') !== types) {
      state.rows.clear();
      const noWeb = state.procs.some((p) => p.type === 'web') ? null
        : h('p', { class: 'muted', id: 'no-web' }, 'No web process type: this app gets no HTTP requests, and its URL answers 503. Add a line “web: <command>” to its Procfile to serve HTTP on $PORT.');
      replace(listEl, noWeb, state.procs.map((p) => { const r = makeRow(p); state.rows.set(p.type, r); return r.el; }));
    }
    for (const proc of state.procs) {
      const row = state.rows.get(proc.type);
      row.proc = proc;
      const max = state.limit.known ? state.limit.max : Math.max(10, proc.quantity * 2);
      row.slider.max = String(Math.max(max, proc.quantity));
      // The server's quantity wins unless the user is moving the slider
      // or a change of theirs is on its way.
      if (!row.inflight && row.pending === null && Date.now() - row.touched > 1500) {
        row.slider.value = String(proc.quantity);
        row.output.textContent = String(proc.quantity);
        row.size.value = proc.size;
        row.command.set(scaleCommand(proc.type, row));
      }
      row.count.textContent = `${proc.ready}/${proc.quantity}`;
      row.count.className = `count ${proc.ready === proc.quantity ? 'ok' : 'warn'}`;
      row.count.title = `${proc.ready} of ${proc.quantity} ${proc.type} processes ready`;
      if (!row.inflight && !row.msg.classList.contains('error')) {
        row.msg.className = 'pmsg muted';
        if (proc.ready < proc.quantity) row.msg.textContent = `Starting: ${proc.quantity - proc.ready} more to be ready…`;
        else if (proc.ready > proc.quantity) row.msg.textContent = `Stopping ${proc.ready - proc.quantity}…`;
        else row.msg.textContent = '';
      }
    }
  };

  const drawPs = (dynos, err) => {
    if (err) { replace(psBody, h('p', { class: 'error', role: 'alert' }, errorText(err))); return; }
    replace(psBody, table([
      { label: 'Process', cell: (d) => h('strong', { class: 'mono' }, d.name) },
      { label: 'State', cell: (d) => h('span', {}, badge(d.state), d.reason ? h('span', { class: 'muted small' }, ` ${d.reason}`) : null) },
      { label: 'Release', cell: (d) => (d.release ? `v${d.release}` : '—') },
      { label: 'Size', cell: (d) => d.size },
      { label: 'Restarts', cell: (d) => String(d.restarts) },
      { label: 'Since', cell: (d) => when(d.since) },
    ], dynos, { empty: 'Nothing runs: scale a process type above 0.' }));
  };

  let limitsLoaded = false;
  const refresh = async () => {
    if (!limitsLoaded) { await loadLimits(); limitsLoaded = true; }
    const [f, d] = await Promise.allSettled([get(appPath(app.name, 'formation')), get(appPath(app.name, 'ps'))]);
    if (f.status === 'fulfilled') { state.procs = f.value.items; state.error = null; } else state.error = f.reason;
    draw();
    drawPs(d.status === 'fulfilled' ? d.value.items : null, d.status === 'rejected' ? d.reason : null);
  };
  const settling = () => Date.now() < state.settleUntil ||
    (state.procs || []).some((p) => p.ready !== p.quantity) ||
    [...state.rows.values()].some((r) => r.inflight || r.pending !== null);
  const p = poller(refresh, () => (settling() ? 1000 : 5000));
  return () => { p.stop(); for (const r of state.rows.values()) clearTimeout(r.pending); };
}
