// The builds tab (every build, with the log of the one chosen: the latest
// by default) and the logs tab (the app's output, streamed live).

import { get, text, stream, appPath, isAbort, ApiError } from './api.js';
import { h, replace, table, when, badge, cli, errorText, poller, loading, duration } from './ui.js';

const maxLogChars = 400000;

export function renderBuilds(body, ctx, app, sub) {
  const list = h('div', {}, loading());
  const logHead = h('h2', { id: 'build-log-h' }, 'Build log');
  const logMeta = h('p', { class: 'muted small' });
  const log = h('pre', { class: 'log', id: 'build-log', tabindex: '0', 'aria-labelledby': 'build-log-h' });
  const logCli = cli('');
  replace(body,
    h('section', { class: 'panel', 'aria-labelledby': 'builds-h' },
      h('h2', { id: 'builds-h' }, 'Builds'), list, cli(`platform builds -a ${app.name}`)),
    h('section', { class: 'panel', 'aria-labelledby': 'build-log-h' }, logHead, logMeta, log, logCli));

  let builds = null;
  let chosen = sub ? Number(sub) : 0;
  let shownLog = -1;
  const base = `/apps/${encodeURIComponent(app.name)}/builds`;

  let drawn = '';
  const draw = () => {
    const key = JSON.stringify([builds, chosen]);
    if (key === drawn) return;
    drawn = key;
    replace(list, table([
      { label: 'Build', cell: (b) => h('a', { href: `${base}/${b.id}`, 'aria-current': b.id === chosen ? 'true' : null }, `#${b.id}`) },
      { label: 'Status', cell: (b) => h('span', {}, badge(b.status), b.error ? h('span', { class: 'muted small' }, ` ${b.error.split('\n')[0]}`) : null) },
      { label: 'Commit', cell: (b) => h('code', {}, b.commit.slice(0, 7)) },
      { label: 'Author', cell: (b) => b.author || '—' },
      { label: 'Stack', cell: (b) => b.stack || '—' },
      { label: 'Started', cell: (b) => when(b.created_at) },
      { label: 'Took', cell: (b) => duration(b.started_at || b.created_at, b.finished_at) || '—' },
    ], builds, { empty: 'No builds yet: git push to build.', rowClass: (b) => (b.id === chosen ? 'selected' : null) }));
  };

  const showLog = async (b) => {
    logHead.textContent = `Build log of #${b.id}`;
    logMeta.replaceChildren(badge(b.status), ` commit `, h('code', {}, b.commit.slice(0, 12)), b.author ? ` by ${b.author}` : '', ' · ', when(b.created_at));
    logCli.set(`platform builds:output ${b.id} -a ${app.name}`);
    try {
      const t = await text(appPath(app.name, 'builds', String(b.id), 'log'));
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 20;
      log.textContent = t || '(no output)';
      if (atEnd || shownLog !== b.id) log.scrollTop = log.scrollHeight;
      shownLog = b.id;
    } catch (e) {
      log.textContent = errorText(e);
    }
  };

  const refresh = async () => {
    try {
      builds = (await get(appPath(app.name, 'builds') + '?limit=25')).items;
    } catch (e) {
      replace(list, h('p', { class: 'error', role: 'alert' }, errorText(e)));
      log.textContent = '';
      return;
    }
    if (!chosen && builds.length) chosen = builds[0].id;
    draw();
    let b = builds.find((x) => x.id === chosen);
    if (!b && chosen) {
      try { b = await get(appPath(app.name, 'builds', String(chosen))); } catch (e) {
        log.textContent = e instanceof ApiError && e.status === 404 ? `There is no build #${chosen} of ${app.name}.` : errorText(e);
        return;
      }
    }
    if (!b) { log.textContent = 'No builds yet.'; return; }
    // A finished build's log does not change: fetch it once.
    if (shownLog !== b.id || b.status === 'pending' || b.status === 'running') await showLog(b);
  };
  const running = () => (builds || []).some((b) => b.status === 'pending' || b.status === 'running');
  const p = poller(refresh, () => (running() ? 2000 : 15000));
  return () => p.stop();
}

export function renderLogs(body, ctx, app) {
  if (!app.canWrite) {
    // The API refuses viewers the runtime logs: an app's output may print
    // its config values, which viewers never see.
    replace(body, h('section', { class: 'panel', 'aria-labelledby': 'logs-h' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'logs-h' }, 'Logs')),
      h('p', { class: 'muted', id: 'logs-viewer' },
        'You are a viewer of this tenant: runtime logs need the member role, since an app\'s output may print its config values. Builds and their output are yours to read.')));
    return null;
  }
  const log = h('pre', { class: 'log', id: 'runtime-log', tabindex: '0', 'aria-label': `Output of ${app.name}`, 'aria-live': 'off' });
  const state = h('span', { class: 'muted', id: 'log-state', 'aria-live': 'polite' });
  const proc = h('select', { id: 'log-process' }, h('option', { value: '' }, 'all processes'));
  const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
  const pause = h('button', { type: 'button', id: 'log-pause' }, 'Pause');
  const clear = h('button', { type: 'button' }, 'Clear');
  const command = cli(`platform logs --tail -a ${app.name}`);
  replace(body, h('section', { class: 'panel', 'aria-labelledby': 'logs-h' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'logs-h' }, 'Logs'), state),
    h('div', { class: 'log-bar' },
      h('div', { class: 'field' }, h('label', { for: 'log-process' }, 'Process type'), proc),
      h('label', { class: 'check' }, follow, 'Keep scrolled to the end'),
      pause, clear),
    log, command));

  get(appPath(app.name, 'formation')).then((f) => {
    for (const p of f.items) proc.append(h('option', { value: p.type }, p.type));
  }).catch(() => { /* the stream says what is wrong */ });

  let ctrl = null;
  let paused = false;
  let retry = null;
  let stopped = false;

  let size = 0;
  const add = (t) => {
    log.append(document.createTextNode(t));
    size += t.length;
    if (size > maxLogChars) {
      log.textContent = log.textContent.slice(-maxLogChars / 2);
      size = log.textContent.length;
    }
    if (follow.checked) log.scrollTop = log.scrollHeight;
  };

  const start = async () => {
    clearTimeout(retry);
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const mine = ctrl;
    const q = new URLSearchParams({ follow: 'true', lines: '100' });
    if (proc.value) q.set('process', proc.value);
    command.set(`platform logs --tail${proc.value ? ' --process ' + proc.value : ''} -a ${app.name}`);
    state.className = 'live';
    state.textContent = 'Streaming live';
    try {
      await stream(`${appPath(app.name, 'logs')}?${q}`, add, mine.signal);
      if (mine.signal.aborted || stopped) return;
      state.className = 'muted';
      state.textContent = 'The stream ended: reconnecting…';
      retry = setTimeout(start, 3000);
    } catch (e) {
      if (isAbort(e) || mine.signal.aborted || stopped) return;
      state.className = 'error';
      state.textContent = errorText(e);
      if (!(e instanceof ApiError) || e.status === 0 || e.status >= 500 && e.status !== 501) retry = setTimeout(start, 5000);
    }
  };

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (paused) {
      clearTimeout(retry);
      if (ctrl) ctrl.abort();
      state.className = 'muted';
      state.textContent = 'Paused';
    } else {
      add('\n');
      start();
    }
  });
  clear.addEventListener('click', () => { log.textContent = ''; size = 0; });
  proc.addEventListener('change', () => { log.textContent = ''; size = 0; if (!paused) start(); });
  start();
  return () => { stopped = true; clearTimeout(retry); if (ctrl) ctrl.abort(); };
}
