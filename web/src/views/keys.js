// Locking the app with a PIN or passphrase (the duress PIN, and when the app locks itself: autolock.js); this
// phone's key (made or imported here, never sent anywhere), shown as npub text and QR; export of the secret behind
// a deliberate tap; trusted verifiers; the operator login.

import { h, mount } from '../dom.js';
import { fingerprint } from '../display.js';
import { t } from '../i18n.js';
import { state, setSecret, setSetting, setVerifiers, operatorLogin, operatorLogout } from '../state.js';
import * as autolock from '../autolock.js';
import { lockApp } from '../panic.js';
import { extras } from '../lazy.js';
import { qrImage } from './qr.js';
import * as vault from '../vault.js';

export function keysView() {
  const el = h('main', { class: 'keys' });
  let x = null; // the extras bundle: keys and NIP-19
  let failed = false; // the extras could not load (offline)
  let lockNote = ['', false]; // what the last PIN action said, kept across redraws until the next one
  const message = h('p', { class: 'message', role: 'status' });
  const fail = (text) => {
    message.className = 'message error';
    message.textContent = text;
  };

  /** A form with a PIN field and its repetition; submit(pin) returns [text, isError] or null (redraw). */
  function pinForm(id, label, button, submit) {
    const first = h('input', { type: 'password', id, name: id, autocapitalize: 'off', spellcheck: 'false' });
    const again = h('input', { type: 'password', id: `${id}-again`, name: `${id}-again`, autocapitalize: 'off', spellcheck: 'false' });
    const note = h('p', { class: 'message', role: 'status' });
    const say = (text, error) => {
      note.className = error ? 'message error' : 'message';
      note.textContent = text;
    };
    const form = h('form', { class: 'pin-form', onsubmit: async (ev) => {
      ev.preventDefault();
      if (first.value !== again.value) return say(t('pin-mismatch'), true);
      if (first.value.length < vault.MIN_PIN) return say(t('pin-short', { n: vault.MIN_PIN }), true);
      for (const b of form.querySelectorAll('button')) b.disabled = true;
      lockNote = ['', false];
      say(t('pin-working'), false);
      const secret = first.value;
      first.value = again.value = '';
      const said = await submit(secret);
      for (const b of form.querySelectorAll('button')) b.disabled = false;
      if (said) say(...said);
      return null;
    } }, h('label', { class: 'in' }, h('span', null, label), first), h('label', { class: 'in' }, h('span', null, t('pin-again')), again),
      note, h('p', null, h('button', { type: 'submit', id: `${id}-set`, class: 'primary' }, button)));
    return form;
  }

  // On a plain-http hub: what the app keeps is sealed with the hub's share, or could not be opened (vault.js).
  function hubNote() {
    if (vault.isClosed() === 'new') return h('p', { class: 'warning', id: 'hub-no-share' }, t('hub-no-share'));
    if (vault.isClosed()) {
      return h('div', { id: 'hub-closed' }, h('p', { class: 'warning' }, t('hub-closed')),
        h('p', null, h('button', { id: 'hub-closed-erase', class: 'danger', onclick: async () => {
          if (!confirm(t('hub-closed-confirm'))) return;
          await vault.erase({ keepShell: true });
          location.reload();
        } }, t('hub-closed-erase'))));
    }
    return vault.isSealed() ? h('p', { id: 'hub-sealed' }, t('hub-sealed')) : null;
  }

  /** When the app locks itself (autolock.js): two choices, kept with the other settings. */
  function autolockSettings() {
    const label = (n) => (n === 0 ? t('autolock-at-once') : n === autolock.NEVER ? t('autolock-never')
      : n < 60 ? t('autolock-seconds', { n }) : t('autolock-minutes', { n: n / 60 }));
    const select = (id, key, choices, fallback) => {
      const now = autolock.choice(state[key], choices, fallback);
      return h('select', { id, onchange: async (ev) => {
        await setSetting(key, Number(ev.target.value));
        autolock.rearm();
      } }, choices.map((n) => h('option', { value: String(n), selected: n === now }, label(n))));
    };
    return h('div', { class: 'autolock' },
      h('label', { class: 'in' }, h('span', null, t('autolock-hidden')),
        select('autolock-hidden', 'lockHidden', autolock.HIDDEN_CHOICES, autolock.DEFAULT_HIDDEN)),
      h('label', { class: 'in' }, h('span', null, t('autolock-idle')),
        select('autolock-idle', 'lockIdle', autolock.IDLE_CHOICES, autolock.DEFAULT_IDLE)),
      h('p', null, t('autolock-explain')));
  }

  function lock() {
    const note = lockNote[0] ? h('p', { class: lockNote[1] ? 'message error' : 'message', id: 'lock-note', role: 'status' }, lockNote[0]) : null;
    const setPin = pinForm('new-pin', t('new-pin'), t('set-pin'), async (secret) => {
      const r = await vault.setPin(secret);
      if (r === 'duress') return [t('pin-is-duress'), true];
      lockNote = [t('pin-set'), false];
      draw();
      return null;
    });
    const hub = hubNote();
    if (!vault.hasPin()) {
      return h('section', { class: 'lock-settings' }, h('h2', null, t('lock')), note, hub,
        h('p', { class: 'warning', id: 'lock-state' }, t('lock-none')), h('p', { id: 'autolock-none' }, t('autolock-none')),
        h('p', null, t('lock-advice')), setPin);
    }
    const duress = pinForm('duress-pin', t('duress-pin'), t('set-duress'), async (secret) => {
      const r = await vault.setDuress(secret);
      if (r === 'same') return [t('duress-same'), true];
      lockNote = [t('duress-set'), false];
      draw();
      return null;
    });
    return h('section', { class: 'lock-settings' }, h('h2', null, t('lock')), note, hub,
      h('p', { id: 'lock-state' }, t('lock-on')),
      h('p', { class: 'actions' },
        h('button', { id: 'lock-now', class: 'primary', onclick: lockApp }, t('lock-now')),
        h('button', { id: 'remove-pin', class: 'danger', onclick: async () => {
          if (!confirm(t('remove-pin-confirm'))) return;
          await vault.removePin();
          draw();
        } }, t('remove-pin'))),
      autolockSettings(),
      h('details', { class: 'change-pin' }, h('summary', null, t('change-pin')), h('p', null, t('lock-advice')), setPin),
      h('details', { class: 'duress' }, h('summary', null, t('duress')), h('p', null, t('duress-explain')), duress));
  }

  function identity() {
    if (!state.secret) {
      const field = h('input', { name: 'import', id: 'import-key', autocomplete: 'off', autocapitalize: 'off', placeholder: 'nsec1…' });
      return h('section', null, h('h2', null, t('your-key')), h('p', null, t('no-key')),
        h('p', null, h('button', { id: 'create-key', class: 'primary', onclick: async () => {
          const secret = x.generateSecret();
          await setSecret(secret, x.publicKey(secret));
          draw();
        } }, t('create-key'))),
        h('form', { onsubmit: async (ev) => {
          ev.preventDefault();
          let secret;
          try {
            secret = x.parseSecret(field.value);
          } catch {
            fail(t('bad-secret'));
            return;
          }
          await setSecret(secret, x.publicKey(secret));
          draw();
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
      h('p', null, h('button', { class: 'danger', onclick: async () => {
        if (confirm(t('forget-confirm'))) {
          await setSecret(null, null);
          draw();
        }
      } }, t('forget-key'))));
  }

  function verifiers() {
    const field = h('input', { name: 'verifier', placeholder: 'npub1…', autocapitalize: 'off', 'aria-label': t('verifiers') });
    return h('section', null, h('h2', null, t('verifiers')), h('p', null, t('verifiers-explain'), ' ', t('verifier-fp')),
      // The fingerprint too: an npub's first and last letters can be ground to match a trusted verifier's.
      h('ul', { class: 'verifiers' }, state.verifiers.map((pk) => h('li', null, h('code', null, x.npubEncode(pk)), ' ',
        h('span', { class: 'fp' }, fingerprint(pk)), ' ',
        h('button', { class: 'small', onclick: async () => {
          await setVerifiers(state.verifiers.filter((v) => v !== pk));
          draw();
        } }, t('remove'))))),
      h('form', { onsubmit: async (ev) => {
        ev.preventDefault();
        const pk = x.parsePubkey(field.value);
        if (!pk) return fail(t('bad-npub'));
        await setVerifiers([...state.verifiers, pk]);
        draw();
        return null;
      } }, field, h('button', { type: 'submit' }, t('add'))));
  }

  function operator() {
    if (state.operator) {
      return h('section', { class: 'operator' }, h('h2', null, t('operator')),
        h('p', { id: 'operator-status' }, t('operator-in', { npub: x.npubEncode(state.operator.pubkey) })),
        h('button', { onclick: operatorLogout }, t('log-out')), ' ',
        h('button', { id: 'node-wipe', class: 'danger', onclick: confirmNodeWipe }, t('node-wipe')));
    }
    const field = h('input', { name: 'token', type: 'password', autocomplete: 'off', id: 'operator-token' });
    return h('section', { class: 'operator' }, h('h2', null, t('operator')),
      state.operatorError ? h('p', { class: 'error', id: 'operator-error' }, `${t('operator-refused')} ${state.operatorError}`) : null,
      h('p', null, t('operator-explain')),
      h('form', { onsubmit: async (ev) => {
        ev.preventDefault();
        const token = field.value.trim().replace(/^.*#op=/, '');
        const r = await operatorLogin(token);
        if (!r.ok) fail(r.error === 'offline' ? t('offline') : t('operator-refused'));
      } }, h('label', { class: 'in' }, h('span', null, t('operator-token')), field), h('button', { type: 'submit', id: 'operator-login' }, t('log-in'))));
  }

  /** The node's panic wipe: confirmed in the page (a browser dialog can be turned off), then done by the node. */
  function confirmNodeWipe() {
    if (document.getElementById('node-wipe-box')) return;
    const op = state.operator;
    const note = h('p', { class: 'message', role: 'status', id: 'node-wipe-note' });
    const go = h('button', { id: 'node-wipe-confirm', class: 'danger', onclick: async () => {
      go.disabled = true;
      cancel.disabled = true;
      go.textContent = t('node-wiping');
      const r = await op.wipeNode();
      if (r.wiped) {
        note.textContent = t('node-wiped');
        cancel.disabled = false;
        cancel.textContent = t('close');
        state.operator = null;
        state.operatorToken = null;
      } else {
        note.className = 'message error';
        note.textContent = r.error === 'offline' ? t('offline') : String(r.error);
        cancel.disabled = false;
        go.disabled = false;
        go.textContent = t('node-wipe-go');
      }
    } }, t('node-wipe-go'));
    const cancel = h('button', { id: 'node-wipe-cancel', onclick: () => {
      box.remove();
      draw();
    } }, t('cancel'));
    const box = h('div', { id: 'node-wipe-box', class: 'panic', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'node-wipe-text' },
      h('div', { class: 'panel' }, h('p', { id: 'node-wipe-text' }, t('node-wipe-confirm')), note, h('p', { class: 'actions' }, go, cancel)));
    document.body.appendChild(box);
    cancel.focus();
  }

  function draw() {
    const rest = x ? [identity(), operator(), verifiers()]
      : h('p', { class: failed ? 'error' : null }, failed ? t('node-unreachable') : t('loading'));
    mount(el, h('h1', null, t('keys')), message, lock(), rest);
  }
  draw();
  extras().then((loaded) => {
    x = loaded;
    draw();
  }, () => {
    failed = true;
    draw();
  });
  return { el, refresh: () => {
    if (!el.contains(document.activeElement)) draw();
  } };
}
