// The certificates section of the domains tab: how each custom domain is
// served over HTTPS, uploading and removing certificates, and the app's
// HTTPS settings. The controls shown are those the API says the user may
// use (the list's "allowed"), so that none is refused.

import { api, get, appPath } from './api.js';
import { h, replace, table, when, badge, cli, confirmDialog, toast, errorText, errorBox, showError, clearError, busy, loading } from './ui.js';

const statusKind = { active: 'ok', issued: 'ok', pending: 'warn', expired: 'bad', failed: 'bad', none: '' };

// certificatesSection returns the section and the function that loads
// it, which the domains list calls whenever it loads.
export function certificatesSection(app) {
  const body = h('div', {}, loading());
  const section = h('section', { class: 'panel', 'aria-labelledby': 'certs-h' },
    h('h2', { id: 'certs-h' }, 'HTTPS certificates'), body, cli(`platform certs -a ${app.name}`));
  let list = null;

  const removeButton = (d) => {
    const b = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove the certificate of ${d.domain}` }, 'Remove');
    b.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Remove the certificate of ${d.domain}?`,
        body: [`Certificate ${d.certificate_id} stops serving ${app.name}. Its domains get an automatic certificate if the platform makes them, or plain HTTP.`,
          cli(`platform certs:remove ${d.certificate_id} -a ${app.name}`)],
        confirm: 'Remove certificate', danger: true,
      });
      if (!ok) return;
      try {
        await busy(b, 'Removing…', () => api('DELETE', appPath(app.name, 'certificates', String(d.certificate_id))));
        toast(`Removed certificate ${d.certificate_id}`);
        await load();
      } catch (e) { toast(errorText(e), 'error'); }
    });
    return b;
  };

  const uploadForm = () => {
    const err = errorBox();
    const cert = h('input', { type: 'file', id: 'cert-file', name: 'certificate', accept: '.pem,.crt,.cer' });
    const key = h('input', { type: 'file', id: 'cert-key', name: 'private_key', accept: '.pem,.key' });
    const add = h('button', { type: 'submit', class: 'primary' }, 'Upload certificate');
    const form = h('form', { novalidate: true, id: 'cert-upload' },
      h('div', { class: 'form-row' },
        h('div', { class: 'field' }, h('label', { for: 'cert-file' }, 'Certificate (PEM, then its intermediates)'), cert),
        h('div', { class: 'field' }, h('label', { for: 'cert-key' }, 'Private key (PEM)'), key),
        add),
      err, cli(`platform certs:add CERT_FILE KEY_FILE -a ${app.name}`));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearError(err, form);
      if (!cert.files.length) { showError(err, { message: 'Choose the certificate file.', field: 'certificate' }, form); return; }
      if (!key.files.length) { showError(err, { message: 'Choose the private key file.', field: 'private_key' }, form); return; }
      try {
        const [certificate, privateKey] = await Promise.all([cert.files[0].text(), key.files[0].text()]);
        const c = await busy(add, 'Uploading…', () => api('POST', appPath(app.name, 'certificates'), { certificate, private_key: privateKey }));
        toast(`Certificate ${c.id} serves ${c.domains.join(', ')}`);
        await load();
      } catch (e) { showError(err, e, form); }
    });
    return form;
  };

  const httpsControls = () => {
    const s = list.https;
    const redirect = h('button', { type: 'button', id: 'https-redirect' }, s.redirect ? 'Stop redirecting HTTP' : 'Redirect HTTP to HTTPS');
    redirect.addEventListener('click', async () => {
      try {
        await busy(redirect, 'Applying…', () => api('PATCH', appPath(app.name, 'https'), { redirect: !s.redirect }));
        toast(s.redirect ? 'Plain HTTP is answered as it is' : 'Plain HTTP is redirected to HTTPS');
        await load();
      } catch (e) { toast(errorText(e), 'error'); }
    });
    const maxAge = h('input', { type: 'number', id: 'hsts-max-age', min: '0', max: '63072000', value: String(s.hsts_max_age || 31536000) });
    const save = h('button', { type: 'submit' }, s.hsts_max_age ? 'Change HSTS' : 'Turn HSTS on');
    const off = h('button', { type: 'button', class: 'danger', disabled: !s.hsts_max_age }, 'Turn HSTS off');
    const err = errorBox();
    const form = h('form', { novalidate: true, id: 'hsts-form' },
      h('div', { class: 'form-row' },
        h('div', { class: 'field' }, h('label', { for: 'hsts-max-age' }, 'HSTS max-age (seconds)'), maxAge), save, off), err);
    const patch = async (button, body) => {
      clearError(err, form);
      try {
        await busy(button, 'Applying…', () => api('PATCH', appPath(app.name, 'https'), body));
        toast(body.hsts_max_age ? `HTTPS responses carry HSTS for ${body.hsts_max_age} s` : 'HSTS is off');
        await load();
      } catch (e) { showError(err, e, form); }
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const n = Number(maxAge.value);
      if (!Number.isInteger(n) || n < 1) { showError(err, { message: 'Give the max-age in whole seconds, at least 1 (a year is 31536000).', field: 'hsts_max_age' }, form); return; }
      patch(save, { hsts_max_age: n });
    });
    off.addEventListener('click', () => patch(off, { hsts_max_age: 0 }));
    const h2c = s.backend_protocol === 'h2c';
    const backend = h('button', { type: 'button', id: 'https-backend' }, h2c ? 'Speak HTTP/1.1 to the app' : 'Speak h2c to the app (gRPC)');
    backend.addEventListener('click', async () => {
      try {
        await busy(backend, 'Applying…', () => api('PATCH', appPath(app.name, 'https'), { backend_protocol: h2c ? 'http1' : 'h2c' }));
        toast(h2c ? 'The router speaks HTTP/1.1 to the app' : 'The router speaks HTTP/2 without TLS (h2c) to the app');
        await load();
      } catch (e) { toast(errorText(e), 'error'); }
    });
    return [h('div', { class: 'form-row' }, redirect, backend), h('p', { class: 'muted small' }, 'Turn HSTS on only once HTTPS works on every domain: browsers that saw it refuse plain HTTP until it expires.'), form];
  };

  const draw = () => {
    const s = list.https;
    replace(body,
      table([
        { label: 'Domain', cell: (d) => d.domain },
        { label: 'Source', cell: (d) => d.source },
        { label: 'Issuer', cell: (d) => d.issuer || h('span', { class: 'muted' }, '—') },
        { label: 'Expires', cell: (d) => (d.expires_at ? h('time', { datetime: d.expires_at, title: new Date(d.expires_at).toLocaleString() }, new Date(d.expires_at).toLocaleDateString()) : h('span', { class: 'muted' }, '—')) },
        { label: 'Status', cell: (d) => badge(d.status, statusKind[d.status]) },
        { label: 'Last error', cell: (d) => (d.last_error ? h('span', {}, d.last_error, d.next_attempt ? h('span', { class: 'muted' }, ' — next attempt ', when(d.next_attempt)) : null) : '') },
        { label: '', class: 'actions', cell: (d) => (d.source === 'uploaded' && list.allowed.remove ? removeButton(d) : '') },
      ], list.domains, { empty: 'No custom domains: add one above, then its certificate here.' }),
      h('p', {}, 'Plain HTTP to a domain with a certificate: ', h('strong', {}, s.redirect ? 'redirected to HTTPS' : 'answered as it is'),
        '. HSTS: ', h('strong', {}, s.hsts_max_age ? `max-age=${s.hsts_max_age}${s.hsts_include_subdomains ? '; includeSubDomains' : ''}` : 'off'),
        '. The router speaks ', h('strong', { id: 'https-backend-now' }, s.backend_protocol === 'h2c' ? 'HTTP/2 without TLS (h2c)' : 'HTTP/1.1'), ' to the app.'),
      list.allowed.change_https ? httpsControls() : null,
      list.allowed.upload ? [h('h3', {}, 'Upload a certificate'), uploadForm()]
        : h('p', { class: 'muted', id: 'cert-upload-refusal' }, list.allowed.upload_refusal));
  };

  const load = async () => {
    try {
      list = await get(appPath(app.name, 'certificates'));
      draw();
    } catch (e) {
      replace(body, h('p', { class: 'error', role: 'alert' }, errorText(e)));
    }
  };
  return { section, load };
}
