// This phone's key (made or imported here, never sent anywhere), shown as npub text and QR; export of the
// secret behind a deliberate tap; trusted verifiers; the operator login.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { state, setSecret, setVerifiers, operatorLogin, operatorLogout } from '../state.js';
import { extras } from '../lazy.js';
import { qrImage } from './qr.js';

export function keysView() {
  const el = h('main', { class: 'keys' }, h('p', null, t('loading')));
  let x = null; // the extras bundle: keys and NIP-19
  const message = h('p', { class: 'message', role: 'status' });
  const fail = (text) => {
    message.className = 'message error';
    message.textContent = text;
  };

  function identity() {
    if (!state.secret) {
      const field = h('input', { name: 'import', id: 'import-key', autocomplete: 'off', autocapitalize: 'off', placeholder: 'nsec1…' });
      return h('section', null, h('h2', null, t('your-key')), h('p', null, t('no-key')),
        h('p', null, h('button', { id: 'create-key', class: 'primary', onclick: () => {
          const secret = x.generateSecret();
          setSecret(secret, x.publicKey(secret));
          draw();
        } }, t('create-key'))),
        h('form', { onsubmit: (ev) => {
          ev.preventDefault();
          try {
            const secret = x.parseSecret(field.value);
            setSecret(secret, x.publicKey(secret));
            draw();
          } catch {
            fail(t('bad-secret'));
          }
        } }, h('label', { class: 'in' }, h('span', null, t('import-key')), field), h('button', { type: 'submit', id: 'import-button' }, t('import'))));
    }
    const npub = x.npubEncode(x.publicKey(state.secret));
    const secretBox = h('div', { class: 'secret' });
    return h('section', null, h('h2', null, t('your-key')),
      h('p', null, t('key-explain')),
      h('code', { id: 'npub', class: 'npub' }, npub), qrImage(npub),
      h('details', { class: 'export', ontoggle: (ev) => {
        if (ev.target.open) {
          const nsec = x.nsecEncode(state.secret);
          mount(secretBox, h('p', { class: 'warning' }, t('secret-warning')), h('code', { id: 'nsec' }, nsec), qrImage(nsec));
        } else mount(secretBox);
      } }, h('summary', null, t('export-key')), secretBox),
      h('p', null, h('button', { class: 'danger', onclick: () => {
        if (confirm(t('forget-confirm'))) {
          setSecret(null, null);
          draw();
        }
      } }, t('forget-key'))));
  }

  function verifiers() {
    const field = h('input', { name: 'verifier', placeholder: 'npub1…', autocapitalize: 'off' });
    return h('section', null, h('h2', null, t('verifiers')), h('p', null, t('verifiers-explain')),
      h('ul', { class: 'verifiers' }, state.verifiers.map((pk) => h('li', null, h('code', null, x.npubEncode(pk)), ' ',
        h('button', { class: 'small', onclick: () => {
          setVerifiers(state.verifiers.filter((v) => v !== pk));
          draw();
        } }, t('remove'))))),
      h('form', { onsubmit: (ev) => {
        ev.preventDefault();
        const pk = x.parsePubkey(field.value);
        if (!pk) return fail(t('bad-npub'));
        setVerifiers([...state.verifiers, pk]);
        draw();
        return null;
      } }, field, h('button', { type: 'submit' }, t('add'))));
  }

  function operator() {
    if (state.operator) {
      return h('section', { class: 'operator' }, h('h2', null, t('operator')),
        h('p', { id: 'operator-status' }, t('operator-in', { npub: x.npubEncode(state.operator.pubkey) })),
        h('button', { onclick: operatorLogout }, t('log-out')));
    }
    const field = h('input', { name: 'token', type: 'password', autocomplete: 'off', id: 'operator-token' });
    return h('section', { class: 'operator' }, h('h2', null, t('operator')), h('p', null, t('operator-explain')),
      h('form', { onsubmit: async (ev) => {
        ev.preventDefault();
        const token = field.value.trim().replace(/^.*#op=/, '');
        const r = await operatorLogin(token);
        if (!r.ok) fail(r.error === 'offline' ? t('offline') : t('operator-refused'));
      } }, h('label', { class: 'in' }, h('span', null, t('operator-token')), field), h('button', { type: 'submit', id: 'operator-login' }, t('log-in'))));
  }

  function draw() {
    if (!x) return;
    mount(el, h('h1', null, t('keys')), message, identity(), operator(), verifiers());
  }
  extras().then((loaded) => {
    x = loaded;
    draw();
  }, () => mount(el, h('h1', null, t('keys')), h('p', { class: 'error' }, t('node-unreachable'))));
  return { el, refresh: () => {
    if (!el.contains(document.activeElement)) draw();
  } };
}
