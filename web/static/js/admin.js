// The admin's pages: tenants (create, quota, suspend, delete), a tenant's
// members and their roles, the platform's users, and the audit log. A
// tenant's owners get the members page of their tenants and its audit log.

import { api, get, getAll, ApiError } from './api.js';
import { h, replace, table, when, badge, cli, confirmDialog, toast, errorText, errorBox, showError, clearError, busy, loading, notFound } from './ui.js';

const roles = ['owner', 'member', 'viewer'];

function sizeOptions(sizes, selected) {
  return sizes.map((s) => h('option', { value: s.name, selected: s.name === selected }, s.name));
}

async function sizeList() {
  try { return (await get('/sizes')).items; } catch { return [{ name: 'small' }, { name: 'standard' }, { name: 'large' }]; }
}

function quotaText(q) {
  return `${q.max_apps} apps, ${q.max_processes} processes, ${q.max_size} at most`;
}

export function renderTenants(main, ctx) {
  document.title = 'Tenants · platform';
  if (!ctx.account.admin) { notFound(main, 'Only platform admins manage tenants.'); return null; }
  const list = h('div', {}, loading());
  const err = errorBox();
  const name = h('input', { type: 'text', id: 'tenant-name', name: 'name', autocomplete: 'off', spellcheck: 'false', required: true });
  const maxApps = h('input', { type: 'number', id: 'tenant-max-apps', name: 'quota.max_apps', min: 0, value: 10 });
  const maxProcs = h('input', { type: 'number', id: 'tenant-max-processes', name: 'quota.max_processes', min: 0, value: 20 });
  const maxSize = h('select', { id: 'tenant-max-size', name: 'quota.max_size' });
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create tenant');
  const command = cli('');
  const sync = () => command.set(`platform tenants:create ${name.value.trim() || 'NAME'} --max-apps ${maxApps.value} --max-processes ${maxProcs.value} --max-size ${maxSize.value || 'standard'}`);
  for (const el of [name, maxApps, maxProcs, maxSize]) el.addEventListener('input', sync);
  const form = h('form', { novalidate: true, id: 'tenant-create' },
    h('div', { class: 'form-row' },
      h('div', { class: 'field' }, h('label', { for: 'tenant-name' }, 'Name'), name),
      h('div', { class: 'field narrow' }, h('label', { for: 'tenant-max-apps' }, 'Max apps'), maxApps),
      h('div', { class: 'field narrow' }, h('label', { for: 'tenant-max-processes' }, 'Max processes'), maxProcs),
      h('div', { class: 'field narrow' }, h('label', { for: 'tenant-max-size' }, 'Max size'), maxSize),
      create),
    err, command);
  replace(main, h('div', { 'data-page': 'admin-tenants' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Tenants'), h('p', { class: 'sub' }, 'Organisations that own apps, each with a quota.'))),
    h('section', { class: 'panel', 'aria-label': 'Tenants' }, list, cli('platform tenants')),
    h('section', { class: 'panel', 'aria-labelledby': 'tenant-new-h' }, h('h2', { id: 'tenant-new-h' }, 'New tenant'), form)));

  sizeList().then((sizes) => { replace(maxSize, sizeOptions(sizes, 'standard')); sync(); });

  const load = async () => {
    try {
      const [tenants, apps] = await Promise.all([getAll('/tenants'), getAll('/apps').catch(() => [])]);
      const count = new Map();
      for (const a of apps) count.set(a.tenant, (count.get(a.tenant) || 0) + 1);
      replace(list, table([
        { label: 'Tenant', class: 'primary-cell', cell: (t) => h('a', { href: `/admin/tenants/${encodeURIComponent(t.name)}` }, h('strong', {}, t.name)) },
        { label: 'Apps', cell: (t) => `${count.get(t.name) || 0} of ${t.quota.max_apps}` },
        { label: 'Processes', cell: (t) => `up to ${t.quota.max_processes}` },
        { label: 'Max size', cell: (t) => t.quota.max_size },
        { label: 'State', cell: (t) => (t.suspended_at ? h('span', {}, badge('suspended'), ' ', when(t.suspended_at)) : badge('active')) },
        { label: 'Created', cell: (t) => when(t.created_at) },
      ], tenants, { empty: 'No tenants yet: create the first one below.' }));
    } catch (e) {
      replace(list, h('p', { class: 'error', role: 'alert' }, errorText(e)));
    }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(err, form);
    const body = {
      name: name.value.trim(),
      quota: { max_apps: Number(maxApps.value), max_processes: Number(maxProcs.value), max_size: maxSize.value },
    };
    try {
      const t = await busy(create, 'Creating…', () => api('POST', '/tenants', body));
      toast(`Created tenant ${t.name}`);
      name.value = '';
      sync();
      await load();
    } catch (e) { showError(err, e, form); }
  });
  load();
  return null;
}

export function renderTenant(main, ctx, name) {
  document.title = `${name} · Tenants · platform`;
  const admin = ctx.account.admin;
  if (!admin && !ctx.ownedTenants().includes(name)) {
    notFound(main, `There is no tenant “${name}”, or you do not own it.`);
    return null;
  }
  const head = h('div', { class: 'page-head' });
  const tenantPanel = h('section', { class: 'panel', 'aria-labelledby': 'quota-h' });
  const membersPanel = h('section', { class: 'panel', 'aria-labelledby': 'members-h' });
  const appsPanel = h('section', { class: 'panel', 'aria-labelledby': 'tenant-apps-h' });
  replace(main, h('div', { 'data-page': 'admin-tenant' },
    admin ? h('div', { class: 'crumbs' }, h('a', { href: '/admin/tenants' }, 'Tenants'), ' / ', name) : null,
    head, admin ? tenantPanel : null, membersPanel, appsPanel));
  replace(head, h('div', {}, h('h1', {}, name)));

  const tpath = `/tenants/${encodeURIComponent(name)}`;
  let tenant = null;
  let gone = false;

  const drawTenant = async () => {
    try {
      tenant = await get(tpath);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) { notFound(main, `There is no tenant “${name}”.`); gone = true; return; }
      replace(tenantPanel, h('p', { class: 'error', role: 'alert' }, errorText(e)));
      return;
    }
    const suspended = !!tenant.suspended_at;
    replace(head, h('div', {},
      h('h1', {}, tenant.name),
      h('p', { class: 'sub' }, suspended ? [badge('suspended'), ' since ', when(tenant.suspended_at)] : badge('active'),
        h('span', {}, quotaText(tenant.quota)))));

    const sizes = await sizeList();
    const err = errorBox();
    const maxApps = h('input', { type: 'number', id: 'quota-max-apps', name: 'quota.max_apps', min: 0, value: tenant.quota.max_apps });
    const maxProcs = h('input', { type: 'number', id: 'quota-max-processes', name: 'quota.max_processes', min: 0, value: tenant.quota.max_processes });
    const maxSize = h('select', { id: 'quota-max-size', name: 'quota.max_size' }, sizeOptions(sizes, tenant.quota.max_size));
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save quota');
    const qcli = cli('');
    const sync = () => qcli.set(`platform tenants:quota ${tenant.name} --max-apps ${maxApps.value} --max-processes ${maxProcs.value} --max-size ${maxSize.value}`);
    for (const el of [maxApps, maxProcs, maxSize]) el.addEventListener('input', sync);
    sync();
    const form = h('form', { novalidate: true, id: 'quota-form' },
      h('div', { class: 'form-row' },
        h('div', { class: 'field narrow' }, h('label', { for: 'quota-max-apps' }, 'Max apps'), maxApps),
        h('div', { class: 'field narrow' }, h('label', { for: 'quota-max-processes' }, 'Max processes'), maxProcs),
        h('div', { class: 'field narrow' }, h('label', { for: 'quota-max-size' }, 'Max size'), maxSize),
        save),
      err, qcli);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearError(err, form);
      try {
        await busy(save, 'Saving…', () => api('PATCH', tpath, { quota: { max_apps: Number(maxApps.value), max_processes: Number(maxProcs.value), max_size: maxSize.value } }));
        toast(`Saved the quota of ${tenant.name}`);
        await drawTenant();
      } catch (e) { showError(err, e, form); }
    });

    const suspend = h('button', { type: 'button', id: 'tenant-suspend', class: suspended ? '' : 'danger' }, suspended ? 'Lift the suspension' : 'Suspend');
    suspend.addEventListener('click', async () => {
      const ok = await confirmDialog(suspended
        ? { title: `Lift the suspension of ${tenant.name}?`, body: 'Each app runs its latest release again, with its formation.', confirm: 'Lift suspension' }
        : { title: `Suspend ${tenant.name}?`, body: 'Every app of the tenant is scaled to zero and takes no deploys until the suspension is lifted. Their formations are kept.', confirm: 'Suspend', danger: true });
      if (!ok) return;
      try {
        await busy(suspend, suspended ? 'Resuming…' : 'Suspending…', () => api('PATCH', tpath, { suspended: !suspended }));
        toast(suspended ? `${tenant.name} runs again` : `Suspended ${tenant.name}`);
        await drawTenant();
      } catch (e) { toast(errorText(e), 'error'); }
    });
    const del = h('button', { type: 'button', id: 'tenant-delete', class: 'danger' }, 'Delete tenant');
    del.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Delete ${tenant.name}?`,
        body: ['This destroys every app of the tenant, with everything they have, and removes its members from it. It cannot be undone.'],
        confirm: 'Delete tenant', danger: true, typed: tenant.name,
      });
      if (!ok) return;
      try {
        await busy(del, 'Deleting…', () => api('DELETE', tpath, { confirm: tenant.name }));
        toast(`Deleted tenant ${tenant.name}`);
        ctx.navigate('/admin/tenants');
      } catch (e) { toast(errorText(e), 'error'); }
    });
    replace(tenantPanel,
      h('h2', { id: 'quota-h' }, 'Quota'), form,
      h('h3', {}, 'Suspension and deletion'),
      h('div', { class: 'form-row' }, suspend, del),
      cli(`platform tenants:${suspended ? 'unsuspend' : 'suspend'} ${tenant.name}`),
      cli(`platform tenants:destroy ${tenant.name} --confirm ${tenant.name}`));
  };

  const drawMembers = async () => {
    let members;
    try {
      members = await getAll(`${tpath}/members`);
    } catch (e) {
      replace(membersPanel, h('h2', { id: 'members-h' }, 'Members'), h('p', { class: 'error', role: 'alert' }, errorText(e)));
      return;
    }
    const err = errorBox();
    const email = h('input', { type: 'email', id: 'member-email', name: 'email', autocomplete: 'off', required: true });
    const role = h('select', { id: 'member-role', name: 'role' }, roles.map((r) => h('option', { value: r, selected: r === 'member' }, r)));
    const add = h('button', { type: 'submit', class: 'primary' }, 'Add member');
    const noticeBox = h('div', { 'aria-live': 'polite' });
    const command = cli('');
    const sync = () => command.set(`platform members:add ${email.value.trim() || 'EMAIL'} --tenant ${name} --role ${role.value}`);
    email.addEventListener('input', sync);
    role.addEventListener('input', sync);
    sync();
    const form = h('form', { novalidate: true, id: 'member-add' },
      h('div', { class: 'form-row' },
        h('div', { class: 'field' }, h('label', { for: 'member-email' }, 'E-mail address'), email),
        h('div', { class: 'field narrow' }, h('label', { for: 'member-role' }, 'Role'), role),
        add),
      err, noticeBox, command);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearError(err, form);
      try {
        const added = await busy(add, 'Adding…', () => api('POST', `${tpath}/members`, { email: email.value.trim(), role: role.value }));
        await drawMembers();
        if (added.member) {
          toast(`Added ${added.member.email} as ${added.member.role}`);
        } else if (added.invitation) {
          const inv = added.invitation;
          toast(`Invited ${inv.email}`);
          replace(membersPanel.querySelector('[data-notice-box]'), h('div', { class: 'notice' },
            h('p', {}, `${inv.email} has no account yet, so they are invited as ${inv.role}, until ${when(inv.expires_at)}. Once a platform admin has made their account and they have signed in, they accept with:`),
            cli(`platform invitations:accept ${name}`)));
        }
      } catch (e) { showError(err, e, form); }
    });
    noticeBox.setAttribute('data-notice-box', '');
    replace(membersPanel,
      h('h2', { id: 'members-h' }, 'Members'),
      table([
        { label: 'E-mail', cell: (m) => m.email },
        {
          label: 'Role', cell: (m) => {
            const sel = h('select', { 'aria-label': `Role of ${m.email}` }, roles.map((r) => h('option', { value: r, selected: r === m.role }, r)));
            sel.addEventListener('change', async () => {
              sel.disabled = true;
              try {
                await api('PATCH', `${tpath}/members/${encodeURIComponent(m.email)}`, { role: sel.value });
                toast(`${m.email} is now ${sel.value} of ${name}`);
                m.role = sel.value;
              } catch (e) {
                sel.value = m.role;
                toast(errorText(e), 'error');
              } finally { sel.disabled = false; }
            });
            return sel;
          },
        },
        { label: 'Since', cell: (m) => when(m.created_at) },
        {
          label: '', class: 'actions', cell: (m) => {
            const b = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${m.email} from ${name}` }, 'Remove');
            b.addEventListener('click', async () => {
              const ok = await confirmDialog({ title: `Remove ${m.email} from ${name}?`, body: `They lose access to the tenant's apps at once.`, confirm: 'Remove member', danger: true });
              if (!ok) return;
              try {
                await busy(b, 'Removing…', () => api('DELETE', `${tpath}/members/${encodeURIComponent(m.email)}`));
                toast(`Removed ${m.email} from ${name}`);
                await drawMembers();
              } catch (e) { toast(errorText(e), 'error'); }
            });
            return b;
          },
        },
      ], members, { empty: 'No members yet.' }),
      h('h3', {}, 'Add a member'), form,
      cli(`platform members:role EMAIL --tenant ${name} --role ROLE`),
      cli(`platform members:remove EMAIL --tenant ${name}`),
      cli(`platform invitations --tenant ${name}`));
  };

  const drawApps = async () => {
    try {
      const apps = (await getAll('/apps')).filter((a) => a.tenant === name);
      replace(appsPanel, h('h2', { id: 'tenant-apps-h' }, 'Apps'), table([
        { label: 'App', cell: (a) => h('a', { href: `/apps/${encodeURIComponent(a.name)}` }, a.name) },
        { label: 'Created', cell: (a) => when(a.created_at) },
      ], apps, { empty: 'No apps in this tenant.' }),
      h('p', {}, h('a', { href: `/admin/audit?tenant=${encodeURIComponent(name)}` }, `Audit log of ${name}`)));
    } catch (e) {
      replace(appsPanel, h('p', { class: 'error', role: 'alert' }, errorText(e)));
    }
  };

  (async () => {
    if (admin) await drawTenant();
    if (gone) return;
    await Promise.all([drawMembers(), drawApps()]);
  })();
  return null;
}

export function renderUsers(main, ctx) {
  document.title = 'Users · platform';
  if (!ctx.account.admin) { notFound(main, 'Only platform admins list users.'); return null; }
  const list = h('div', {}, loading());
  replace(main, h('div', { 'data-page': 'admin-users' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Users'), h('p', { class: 'sub' }, 'Everyone who can sign in, with their roles. Add people to a tenant from its page.'))),
    h('section', { class: 'panel', 'aria-label': 'Users' }, list, cli('platform users'), cli('platform users:deactivate EMAIL'))));
  getAll('/users').then((users) => {
    replace(list, table([
      { label: 'E-mail', class: 'primary-cell', cell: (u) => h('strong', {}, u.email) },
      { label: 'Status', cell: (u) => (u.deactivated_at ? badge(`deactivated ${when(u.deactivated_at)}`, 'bad') : badge('active')) },
      { label: 'Roles', cell: (u) => h('span', {}, u.admin ? [badge('platform admin', 'accent'), ' '] : null,
        (u.memberships || []).map((m, i) => [i ? ', ' : '', h('a', { href: `/admin/tenants/${encodeURIComponent(m.tenant)}` }, m.tenant), ` ${m.role}`]),
        !u.admin && !(u.memberships || []).length ? h('span', { class: 'muted' }, 'no tenant') : null) },
      { label: 'Since', cell: (u) => when(u.created_at) },
      { label: '', class: 'actions', cell: (u) => h('a', { href: `/admin/audit?actor=${encodeURIComponent(u.email)}` }, 'Audit log') },
    ], users, { empty: 'No users.' }));
  }).catch((e) => replace(list, h('p', { class: 'error', role: 'alert' }, errorText(e))));
  return null;
}

export function renderAudit(main, ctx) {
  document.title = 'Audit log · platform';
  const params = new URLSearchParams(location.search);
  const fields = ['tenant', 'app', 'actor', 'action'];
  const inputs = Object.fromEntries(fields.map((f) => [f, h('input', {
    type: 'search', id: `audit-${f}`, name: f, value: params.get(f) || '', autocomplete: 'off', spellcheck: 'false',
    placeholder: { tenant: 'acme', app: 'shop', actor: 'alice@example.com', action: 'config. or release.rollback' }[f],
  })]));
  const err = errorBox();
  const apply = h('button', { type: 'submit', class: 'primary' }, 'Filter');
  const form = h('form', { id: 'audit-filter', novalidate: true },
    h('div', { class: 'form-row' },
      fields.map((f) => h('div', { class: 'field' }, h('label', { for: `audit-${f}` }, f[0].toUpperCase() + f.slice(1)), inputs[f])),
      apply),
    err);
  const list = h('div', {}, loading());
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const command = cli('');
  replace(main, h('div', { 'data-page': 'admin-audit' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Audit log'), h('p', { class: 'sub' }, 'Who changed what, when, and from where; newest first.'))),
    h('section', { class: 'panel', 'aria-label': 'Filters' }, form),
    h('section', { class: 'panel', 'aria-label': 'Events' }, list, more, command)));

  let events = [];
  let next = '';
  const query = () => {
    const q = new URLSearchParams();
    for (const f of fields) if (inputs[f].value.trim()) q.set(f, inputs[f].value.trim());
    return q;
  };
  const draw = () => {
    replace(list, table([
      { label: 'When', cell: (e) => when(e.at) },
      { label: 'Who', cell: (e) => e.actor || h('span', { class: 'muted' }, 'platform') },
      { label: 'Action', cell: (e) => h('code', {}, e.action) },
      { label: 'Tenant', cell: (e) => e.tenant || '—' },
      { label: 'App', cell: (e) => (e.app ? h('a', { href: `/apps/${encodeURIComponent(e.app)}` }, e.app) : '—') },
      { label: 'Target', cell: (e) => e.target || '—' },
      { label: 'Details', cell: (e) => (e.details && Object.keys(e.details).length ? h('code', { class: 'small' }, JSON.stringify(e.details)) : '—') },
      { label: 'From', cell: (e) => e.remote_addr || '—' },
    ], events, { empty: 'No events match.' }));
    more.hidden = !next;
  };
  const load = async (append) => {
    const q = query();
    q.set('limit', '100');
    if (append && next) q.set('after', next);
    try {
      const page = await get(`/audit?${q}`);
      events = append ? events.concat(page.items) : page.items;
      next = page.next_after || '';
      draw();
    } catch (e) {
      showError(err, e, form);
      replace(list);
    }
  };
  const syncCli = () => {
    const flags = fields.filter((f) => inputs[f].value.trim()).map((f) => ` --${f} ${inputs[f].value.trim()}`).join('');
    command.set(`platform audit${flags}`);
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearError(err, form);
    const q = query();
    history.replaceState(null, '', `/admin/audit${q.toString() ? '?' + q : ''}`);
    syncCli();
    busy(apply, 'Filtering…', () => load(false));
  });
  more.addEventListener('click', () => busy(more, 'Loading…', () => load(true)));
  syncCli();
  load(false);
  return null;
}
