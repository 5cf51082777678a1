// The config vars tab. Values stay hidden until revealed, one by one or
// all at once; viewers see the names only (the API gives them no values).
// Every change makes a release that is rolled out before the API answers;
// meanwhile the page follows the new release.

import { api, get, appPath } from './api.js';
import { h, replace, cli, confirmDialog, toast, errorText, errorBox, showError, clearError, busy, loading, badge } from './ui.js';

export function renderConfig(body, ctx, app) {
  const list = h('div', {}, loading());
  const status = h('div', { id: 'config-status', 'aria-live': 'polite' });
  const section = h('section', { class: 'panel', 'aria-labelledby': 'config-h' });
  body.replaceChildren(section);

  if (!app.canWrite) {
    replace(section,
      h('div', { class: 'panel-head' }, h('h2', { id: 'config-h' }, 'Config vars')),
      h('p', { class: 'muted' }, 'You are a viewer of this tenant: you see the names of the config vars, never their values.'),
      list);
    viewerKeys(app, list);
    return null;
  }

  let vars = null;
  const revealed = new Set();
  let allShown = false;
  let saving = false;

  const revealAll = h('button', { type: 'button', id: 'config-reveal-all', 'aria-pressed': 'false' }, 'Reveal all');
  revealAll.addEventListener('click', () => {
    allShown = !allShown;
    revealed.clear();
    revealAll.textContent = allShown ? 'Hide all' : 'Reveal all';
    revealAll.setAttribute('aria-pressed', String(allShown));
    draw();
  });

  // The form sets one var: a new one, or the one being edited.
  const err = errorBox();
  const keyIn = h('input', { type: 'text', id: 'config-key', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'NAME' });
  const valIn = h('textarea', { id: 'config-value', name: 'value', rows: 1, autocomplete: 'off', spellcheck: 'false' });
  const save = h('button', { type: 'submit', class: 'primary', id: 'config-save' }, 'Set');
  const command = cli(`platform config:set KEY=VALUE -a ${app.name}`);
  keyIn.addEventListener('input', () => command.set(`platform config:set ${keyIn.value.trim() || 'KEY'}=VALUE -a ${app.name}`));
  const form = h('form', { id: 'config-form', novalidate: true },
    h('div', { class: 'form-row' },
      h('div', { class: 'field key' }, h('label', { for: 'config-key' }, 'Key'), keyIn),
      h('div', { class: 'field' }, h('label', { for: 'config-value' }, 'Value'), valIn),
      save),
    err, command);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(err, form);
    const key = keyIn.value.trim();
    if (!key) { showError(err, { message: 'Give the config var a key, such as DATABASE_URL.', field: 'key' }, form); return; }
    const ok = await change({ [key]: valIn.value }, `Setting ${key}`, save);
    if (ok) { keyIn.value = ''; valIn.value = ''; command.set(`platform config:set KEY=VALUE -a ${app.name}`); }
  });

  replace(section,
    h('div', { class: 'panel-head' }, h('h2', { id: 'config-h' }, 'Config vars'), revealAll),
    status, list,
    h('h3', {}, 'Set a config var'), form,
    cli(`platform config -a ${app.name}`),
    cli(`platform config:unset KEY -a ${app.name}`));

  // change sends a config change and follows the release it makes.
  const change = async (changes, what, button) => {
    if (saving) return false;
    saving = true;
    draw();
    const progress = h('p', { class: 'progress' }, `${what}: making a new release and rolling it out…`);
    replace(status, progress);
    const before = await latestVersion(app).catch(() => 0);
    const follow = setInterval(async () => {
      try {
        const r = (await get(appPath(app.name, 'releases') + '?limit=1')).items[0];
        if (r && r.version > before && saving) {
          replace(progress, `${what}: v${r.version} is ${r.status === 'deploying' ? 'rolling out' : r.status}…`);
        }
      } catch { /* the answer to the change says what happened */ }
    }, 1000);
    try {
      const res = await busy(button || save, 'Saving…', () => api('PATCH', appPath(app.name, 'config'), { vars: changes }));
      replace(status, h('p', { class: 'notice ok', id: 'config-released' },
        `Released v${res.release.version}: ${res.keys.join(', ')} ${Object.values(changes).some((v) => v === null) ? 'unset' : 'set'}. `,
        h('a', { href: `/apps/${encodeURIComponent(app.name)}/releases` }, 'See the releases')));
      toast(`Released v${res.release.version} of ${app.name}`);
      return true;
    } catch (e) {
      replace(status, h('p', { class: 'error', role: 'alert' }, errorText(e)));
      toast(errorText(e), 'error');
      return false;
    } finally {
      clearInterval(follow);
      saving = false;
      await load();
    }
  };

  const edit = (key) => {
    keyIn.value = key;
    valIn.value = vars[key];
    command.set(`platform config:set ${key}=VALUE -a ${app.name}`);
    valIn.focus();
    form.scrollIntoView({ block: 'nearest' });
  };

  const remove = async (key, button) => {
    const ok = await confirmDialog({
      title: `Remove ${key}?`,
      body: `This makes a new release of ${app.name} without ${key}, and rolls it out.`,
      confirm: `Remove ${key}`, danger: true,
    });
    if (ok) await change({ [key]: null }, `Removing ${key}`, button);
  };

  const draw = () => {
    if (!vars) return;
    const keys = Object.keys(vars).sort();
    if (!keys.length) {
      replace(list, h('p', { class: 'empty' }, 'No config vars yet.'));
      return;
    }
    replace(list, h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'config-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')))),
      h('tbody', {}, keys.map((k) => {
        const shown = allShown || revealed.has(k);
        const toggle = h('button', { type: 'button', class: 'link', 'aria-label': `${shown ? 'Hide' : 'Reveal'} the value of ${k}` }, shown ? 'Hide' : 'Reveal');
        toggle.addEventListener('click', () => { if (revealed.has(k)) revealed.delete(k); else revealed.add(k); draw(); });
        const editB = h('button', { type: 'button', class: 'link', disabled: saving, 'aria-label': `Edit ${k}` }, 'Edit');
        editB.addEventListener('click', () => edit(k));
        const rm = h('button', { type: 'button', class: 'link', disabled: saving, 'aria-label': `Remove ${k}` }, 'Remove');
        rm.addEventListener('click', () => remove(k, rm));
        return h('tr', { 'data-key': k },
          h('td', { 'data-label': 'Key' }, h('strong', { class: 'mono' }, k)),
          h('td', { 'data-label': 'Value' }, shown
            ? h('span', { class: 'value', 'data-value': '' }, vars[k])
            : h('span', { class: 'masked', 'aria-label': 'hidden' }, '••••••••')),
          h('td', { class: 'actions' }, toggle, editB, rm));
      })))));
  };

  const load = async () => {
    try {
      vars = (await get(appPath(app.name, 'config'))).vars || {};
      draw();
    } catch (e) {
      replace(list, h('p', { class: 'error', role: 'alert' }, errorText(e)));
    }
  };
  load();
  return null;
}

async function latestVersion(app) {
  const r = (await get(appPath(app.name, 'releases') + '?limit=1')).items[0];
  return r ? r.version : 0;
}

// viewerKeys lists the names of the config vars of the current release.
async function viewerKeys(app, list) {
  try {
    // Lists leave config_keys out; the release itself has them.
    const rels = (await get(appPath(app.name, 'releases') + '?limit=50')).items;
    const current = rels.find((r) => r.current) || rels[0];
    const full = current ? await get(appPath(app.name, 'releases', String(current.version))) : null;
    const keys = full && full.config_keys ? [...full.config_keys].sort() : [];
    if (!keys.length) { replace(list, h('p', { class: 'empty' }, 'No config vars.')); return; }
    replace(list, h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'config-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'))),
      h('tbody', {}, keys.map((k) => h('tr', { 'data-key': k },
        h('td', { 'data-label': 'Key' }, h('strong', { class: 'mono' }, k)),
        h('td', { 'data-label': 'Value' }, badge('hidden from viewers'))))))));
  } catch (e) {
    replace(list, h('p', { class: 'error', role: 'alert' }, errorText(e)));
  }
}
