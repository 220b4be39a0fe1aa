// The panic action: a long press (1.5 s) on the app's name in the top bar, then one tap to confirm, erases in one
// step everything this app keeps in the browser (every IndexedDB database of this site, local and session
// storage, the service worker's caches, the service worker itself: vault.erase) and reloads a fresh app. A long
// press, so that it is not done by accident and not found by someone browsing the app; a confirmation, so that a
// pocket cannot do it. With a PIN set, the same box offers to lock the app instead, erasing nothing.

import { h, mount } from './dom.js';
import { t } from './i18n.js';
import * as vault from './vault.js';

export const HOLD_MS = 1500;

/** Call `fn` when `el` is held down for `ms`; the click that ends such a press does nothing else. */
export function onLongPress(el, fn, ms = HOLD_MS) {
  let timer = 0;
  let fired = false;
  const cancel = () => {
    clearTimeout(timer);
    timer = 0;
  };
  el.addEventListener('pointerdown', (ev) => {
    if (ev.button) return;
    fired = false;
    cancel();
    timer = setTimeout(() => {
      timer = 0;
      fired = true;
      fn();
    }, ms);
  });
  for (const type of ['pointerup', 'pointerleave', 'pointercancel']) el.addEventListener(type, cancel);
  el.addEventListener('click', (ev) => {
    if (!fired) return;
    fired = false;
    ev.preventDefault();
    ev.stopImmediatePropagation();
  }, true);
  el.addEventListener('contextmenu', (ev) => ev.preventDefault()); // a phone's long-press menu
}

/** Erase everything and open the app afresh. */
export async function panic() {
  await vault.erase();
  location.replace('/');
}

/** Ask once, in the page (a browser dialog can be turned off), then erase. */
export function confirmPanic() {
  if (document.getElementById('panic')) return;
  const erase = h('button', { id: 'panic-erase', class: 'danger', onclick: () => {
    erase.disabled = true;
    cancel.disabled = true;
    erase.textContent = t('panic-erasing');
    panic();
  } }, t('panic-erase'));
  const cancel = h('button', { id: 'panic-cancel', onclick: () => box.remove() }, t('cancel'));
  // Beside it, to lock without erasing (with a PIN set, while the app is open): autolock.js.
  const lock = vault.hasPin() && !vault.isLocked() ? h('button', { id: 'panic-lock', onclick: lockApp }, t('panic-lock')) : null;
  const box = h('div', { id: 'panic', class: 'panic', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'panic-text' },
    h('div', { class: 'panel' }, h('p', { id: 'panic-text' }, t('panic-confirm')), h('p', { class: 'actions' }, erase, lock, cancel)));
  document.body.appendChild(box);
  cancel.focus();
}

/** Lock the app now (a PIN must be set): the data key dropped, the screen emptied, the page reloaded (autolock.js). */
export function lockApp() {
  if (!vault.hasPin()) return false;
  vault.lock();
  for (const el of document.querySelectorAll('#panic, dialog, [role="dialog"], [role="alertdialog"]')) el.remove();
  const root = document.getElementById('app');
  if (root) mount(root, h('main', { class: 'lock' }));
  document.documentElement.classList.remove('autolock-cover');
  location.reload();
  return true;
}
