// The lock screen: shown at start when the app is locked with a PIN or passphrase. The same screen, the same
// words and the same wait whatever is typed: the PIN opens the app; the duress PIN erases everything and the app
// opens as on a first visit (vault.js); anything else is "wrong" (and the next try waits longer).

import { h } from '../dom.js';
import { t } from '../i18n.js';
import * as vault from '../vault.js';
import { forgetCount } from '../datause.js';

/** onOpen() is called once the vault is open (after the PIN, or after the duress PIN erased everything). */
export function lockView(onOpen) {
  const field = h('input', { type: 'password', id: 'pin', name: 'pin', autocomplete: 'off', autocapitalize: 'off',
    spellcheck: 'false', required: true });
  const message = h('p', { class: 'message', role: 'status' });
  const button = h('button', { type: 'submit', id: 'unlock', class: 'primary' }, t('unlock'));
  const form = h('form', { class: 'lock-form', onsubmit: async (ev) => {
    ev.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    message.className = 'message';
    message.textContent = t('unlocking');
    const secret = field.value;
    field.value = '';
    const result = await vault.unlock(secret);
    if (result === 'wrong') {
      message.className = 'message error';
      message.textContent = t('wrong-pin');
      button.disabled = false;
      field.focus();
      return;
    }
    if (result === 'duress') forgetCount();
    onOpen();
  } }, h('label', { class: 'in' }, h('span', null, t('unlock-title')), field), message, h('p', null, button));
  const el = h('main', { class: 'lock' }, form);
  return { el, mounted: () => field.focus() };
}
