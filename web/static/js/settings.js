// The domains tab (the app's custom host names) and the settings tab
// (destroying the app).

import { api, get, appPath } from './api.js';
import { h, replace, table, when, badge, cli, confirmDialog, toast, errorText, errorBox, showError, clearError, busy, loading } from './ui.js';
import { certificatesSection } from './certs.js';

export function renderDomains(body, ctx, app) {
  const list = h('div', {}, loading());
  const err = errorBox();
  const host = h('input', { type: 'text', id: 'domain-host', name: 'host', autocomplete: 'off', spellcheck: 'false', placeholder: 'www.example.com', disabled: !app.canWrite });
  const add = h('button', { type: 'submit', class: 'primary', disabled: !app.canWrite }, 'Add domain');
  const command = cli(`platform domains:add HOST -a ${app.name}`);
  host.addEventListener('input', () => command.set(`platform domains:add ${host.value.trim() || 'HOST'} -a ${app.name}`));
  const form = h('form', { novalidate: true },
    h('div', { class: 'form-row' },
      h('div', { class: 'field' }, h('label', { for: 'domain-host' }, 'Host name'), host), add),
    err, command);
  const defaultHost = app.web_url ? new URL(app.web_url).hostname : '';
  // Custom domains are served like the default host.
  const scheme = app.web_url ? new URL(app.web_url).protocol : location.protocol;
  const certs = certificatesSection(app);
  replace(body, h('section', { class: 'panel', 'aria-labelledby': 'domains-h' },
    h('h2', { id: 'domains-h' }, 'Domains'),
    defaultHost ? h('p', {}, 'Default host: ', h('code', {}, defaultHost), h('span', { class: 'muted' }, ' — always on')) : null,
    list,
    app.canWrite ? [h('h3', {}, 'Add a domain'), h('p', { class: 'muted small' }, 'Add the name here, then create the DNS TXT record it shows and verify it; point the name at the platform’s router with a CNAME to the default host.'), form]
      : h('p', { class: 'muted' }, 'You are a viewer of this tenant: you cannot change its domains.'),
    cli(`platform domains -a ${app.name}`)), certs.section);

  let domains = null;
  const draw = () => {
    replace(list, table([
      { label: 'Host', cell: (d) => h('a', { href: `${scheme}//${d.host}/`, target: '_blank', rel: 'noopener' }, d.host) },
      {
        label: 'Status', cell: (d) => (d.verification
          ? h('span', {}, badge('pending', 'warn'), ' Not routed until you create the DNS record ',
            h('code', {}, `${d.verification.name} ${d.verification.type} ${d.verification.value}`),
            ' and verify it: ', h('code', {}, `platform domains:verify ${d.host} -a ${app.name}`))
          : badge('verified', 'ok')),
      },
      { label: 'Added', cell: (d) => when(d.created_at) },
      {
        label: '', class: 'actions', cell: (d) => {
          if (d.verification && app.canWrite) {
            const v = h('button', { type: 'button', 'aria-label': `Verify ${d.host}` }, 'Verify');
            v.addEventListener('click', async () => {
              try {
                await busy(v, 'Checking…', () => api('POST', appPath(app.name, 'domains', d.host, 'verify')));
                toast(`${d.host} is verified: ${app.name} answers on it`);
                await load();
              } catch (e) { toast(errorText(e), 'error'); }
            });
            return h('span', {}, v, ' ', removeButton(d));
          }
          return removeButton(d);
        },
      },
    ], domains, { empty: 'No custom domains.' }));
  };
  const removeButton = (d) => {
    const b = h('button', { type: 'button', class: 'danger', disabled: !app.canWrite, 'aria-label': `Remove ${d.host}` }, 'Remove');
    b.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Remove ${d.host}?`,
        body: [`${app.name} stops answering on ${d.host} at once.`, cli(`platform domains:remove ${d.host} -a ${app.name}`)],
        confirm: 'Remove domain', danger: true,
      });
      if (!ok) return;
      try {
        await busy(b, 'Removing…', () => api('DELETE', appPath(app.name, 'domains', d.host)));
        toast(`Removed ${d.host}`);
        await load();
      } catch (e) { toast(errorText(e), 'error'); }
    });
    return b;
  };
  const load = async () => {
    try {
      domains = (await get(appPath(app.name, 'domains'))).items;
      draw();
      certs.load(); // a domain change changes what can be uploaded
    } catch (e) {
      replace(list, h('p', { class: 'error', role: 'alert' }, errorText(e)));
    }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(err, form);
    const name = host.value.trim();
    if (!name) { showError(err, { message: 'Type the host name to add, such as www.example.com.', field: 'host' }, form); return; }
    try {
      const d = await busy(add, 'Adding…', () => api('POST', appPath(app.name, 'domains'), { host: name }));
      toast(d.verification ? `Added ${d.host}: create its DNS record, then verify it` : `${app.name} answers on ${d.host} now`);
      host.value = '';
      await load();
    } catch (e) { showError(err, e, form); }
  });
  load();
  return null;
}

export function renderSettings(body, ctx, app) {
  const destroy = h('button', { type: 'button', class: 'danger', id: 'destroy-app', disabled: !app.canOwn }, `Destroy ${app.name}`);
  destroy.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Destroy ${app.name}?`,
      body: [`This removes ${app.name} for good: its processes, releases, builds, config vars, domains and git repository. It cannot be undone.`],
      confirm: 'Destroy app', danger: true, typed: app.name,
    });
    if (!ok) return;
    try {
      await busy(destroy, 'Destroying…', () => api('DELETE', appPath(app.name), { confirm: app.name }));
      toast(`Destroyed ${app.name}`);
      ctx.navigate('/');
    } catch (e) { toast(errorText(e), 'error'); }
  });
  replace(body,
    h('section', { class: 'panel', 'aria-labelledby': 'info-h' },
      h('h2', { id: 'info-h' }, 'App'),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Name'), h('dd', {}, app.name),
        h('dt', {}, 'Tenant'), h('dd', {}, app.tenant),
        h('dt', {}, 'Your role'), h('dd', {}, app.role || '—'),
        h('dt', {}, 'Created'), h('dd', {}, when(app.created_at)),
        app.git_url ? [h('dt', {}, 'Git remote'), h('dd', {}, h('code', {}, app.git_url))] : null,
        app.web_url ? [h('dt', {}, 'URL'), h('dd', {}, h('a', { href: app.web_url, target: '_blank', rel: 'noopener' }, app.web_url))] : null),
      cli(`platform apps:info -a ${app.name}`)),
    h('section', { class: 'panel', 'aria-labelledby': 'danger-h' },
      h('h2', { id: 'danger-h' }, 'Destroy'),
      h('p', {}, app.canOwn ? 'Destroying an app removes everything it has. You will be asked to type its name.'
        : 'Only owners of the tenant can destroy its apps.'),
      destroy,
      cli(`platform apps:destroy -a ${app.name} --confirm ${app.name}`)));
  return null;
}
