// "Mobile data used this month" on the status screen, with the cap and a reset (datause.js counts): in /screens.js
// with the status screen, and its words with it.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { CAPS_MB, used, cap, capped, setCap, resetCount, listeners } from '../datause.js';

const mb = (bytes) => (bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1);

/** "Mobile data used this month: 1.24 MB", the cap, and a reset; on the status page. */
export function dataUseView() {
  let drawn = false;
  const el = h('div', { class: 'data-use' });
  function draw() {
    if (drawn && !el.isConnected) {
      listeners.delete(draw); // the screen was left
      return;
    }
    drawn = true;
    mount(el,
      h('p', { id: 'data-used' }, t('data-used', { mb: mb(used()) })),
      capped() ? h('p', { class: 'warning', role: 'status' }, t('data-capped')) : null,
      h('label', { class: 'in' }, h('span', null, t('data-cap')),
        h('select', { id: 'data-cap', onchange: (ev) => {
          setCap(Number(ev.target.value));
          draw();
        } }, CAPS_MB.map((n) => h('option', { value: n, selected: n === cap() }, n ? `${n} MB` : t('data-no-cap'))))),
      h('button', { type: 'button', class: 'small', id: 'data-reset', onclick: () => {
        resetCount();
        draw();
      } }, t('data-reset')));
  }
  draw();
  listeners.add(draw);
  return el;
}
