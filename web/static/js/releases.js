// The releases tab: every release of the app, newest first, with a
// rollback button on the earlier ones that succeeded.

import { api, get, appPath } from './api.js';
import { h, replace, table, when, badge, cli, confirmDialog, toast, errorText, poller, loading } from './ui.js';

export function renderReleases(body, ctx, app) {
  const list = h('div', {}, loading());
  const status = h('div', { 'aria-live': 'polite', id: 'release-status' });
  replace(body, h('section', { class: 'panel', 'aria-labelledby': 'releases-h' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'releases-h' }, 'Releases')),
    status, list,
    cli(`platform releases -a ${app.name}`),
    app.canWrite ? cli(`platform releases:rollback vN -a ${app.name}`) : null));

  let releases = null;
  let rolling = false;

  // Redrawn only when something changed, so that focus stays put.
  let drawn = '';
  const draw = () => {
    const key = JSON.stringify([releases, rolling]);
    if (key === drawn) return;
    drawn = key;
    const current = releases.find((r) => r.current);
    const currentVersion = current ? current.version : 0;
    replace(list, table([
      { label: 'Version', cell: (r) => h('span', { class: 'nowrap' }, h('strong', {}, `v${r.version}`), r.current ? [' ', badge('current', 'accent')] : null) },
      { label: 'Description', cell: (r) => h('span', {}, r.description, r.commit ? h('span', { class: 'muted small mono' }, ` ${r.commit.slice(0, 7)}`) : null) },
      { label: 'Author', cell: (r) => r.author || h('span', { class: 'muted' }, '—') },
      { label: 'When', cell: (r) => when(r.created_at) },
      { label: 'Status', cell: (r) => h('span', {}, badge(r.status), r.status_reason ? h('span', { class: 'muted small', title: r.status_reason }, ` ${r.status_reason.split('\n')[0]}`) : null) },
      {
        label: '', class: 'actions', cell: (r) => {
          if (r.status !== 'succeeded' || r.current || r.version >= currentVersion) return null;
          const b = h('button', {
            type: 'button', class: 'rollback', 'data-version': r.version,
            disabled: !app.canWrite || rolling,
            title: app.canWrite ? null : 'Viewers cannot roll back',
            'aria-label': `Roll back to v${r.version}`,
          }, `Roll back to v${r.version}`);
          b.addEventListener('click', () => rollback(r, currentVersion));
          return b;
        },
      },
    ], releases, { empty: 'No releases yet: push the app to make v1.' }));
  };

  const refresh = async () => {
    try {
      const page = await get(appPath(app.name, 'releases') + '?limit=50');
      releases = page.items;
      draw();
    } catch (e) {
      if (!releases) replace(list, h('p', { class: 'error', role: 'alert' }, errorText(e)));
    }
  };

  const rollback = async (r, currentVersion) => {
    const ok = await confirmDialog({
      title: `Roll back ${app.name} to v${r.version}?`,
      body: [
        `This makes a new release with v${r.version}'s image, config and formation, and rolls it out in place of v${currentVersion}.`,
        r.description ? h('p', { class: 'muted' }, `v${r.version}: ${r.description}`) : null,
      ].filter(Boolean),
      confirm: `Roll back to v${r.version}`,
    });
    if (!ok) return;
    rolling = true;
    draw();
    replace(status, h('p', { class: 'progress' }, `Rolling back to v${r.version}: releasing and rolling out…`));
    try {
      const rel = await api('POST', appPath(app.name, 'releases'), { rollback_to: r.version });
      replace(status, h('p', { class: 'notice ok' }, `v${rel.version} is live: rolled back to v${r.version}.`));
      toast(`Rolled back ${app.name} to v${r.version} as v${rel.version}`);
    } catch (e) {
      replace(status, h('p', { class: 'error', role: 'alert' }, errorText(e)));
      toast(errorText(e), 'error');
    } finally {
      rolling = false;
      await refresh();
    }
  };

  const p = poller(refresh, () => (rolling || (releases || []).some((r) => r.status === 'pending' || r.status === 'deploying') ? 1500 : 10000));
  return () => p.stop();
}
