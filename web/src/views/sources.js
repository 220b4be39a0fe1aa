// Where each channel came from, on the Node screen: the relays the node fetched its channels from (shown only to
// the node's own machine: the list names the channels it follows), and what this phone read directly from
// mirrors; the switch for direct connections, and the warning that they bypass the node's proxy.

import { h } from '../dom.js';
import { url } from '../display.js';
import { t } from '../i18n.js';
import { state } from '../state.js';
import { sources, setDirectOff } from '../mirrors.js';

const nameOf = (address) => {
  const channel = state.channels.get(address);
  return channel && !channel.error ? channel.name : address;
};

const table = (head, rows) => h('table', null, h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))),
  h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', { dir: 'auto' }, c))))));

/** The section for the status document `s` (null when the node could not be reached). */
export function sourcesPanel(s) {
  const out = [h('h2', null, t('sources'))];
  const fromNode = s && Array.isArray(s.channel_sources) ? s.channel_sources : null;
  if (fromNode && fromNode.length) {
    out.push(h('p', null, t('sources-node')), table([t('channel'), t('relays')],
      fromNode.map((r) => [nameOf(String(r.channel)), (r.relays || []).map(url).join(', ')])));
  }
  const phone = [...sources].map(([address, from]) => [nameOf(address),
    [...from].map((f) => (f === 'file' ? t('source-file') : f === 'node' ? t('source-node') : url(f))).join(', ')]);
  out.push(phone.length ? h('div', { id: 'phone-sources' }, h('p', null, t('sources-phone')), table([t('channel'), t('relays')], phone))
    : h('p', { id: 'phone-sources' }, t('sources-phone-none')));
  if (s && typeof s.proxied === 'boolean') state.nodeProxied = s.proxied;
  out.push(h('label', { class: 'switch' },
    h('input', { type: 'checkbox', id: 'direct-off', checked: state.directOff, onchange: (ev) => setDirectOff(ev.target.checked) }),
    ' ', t('direct-off')));
  if (state.nodeProxied) out.push(h('p', { class: 'warning', id: 'proxy-warning', role: 'note' }, t('mirror-bypasses-proxy')));
  return h('section', { class: 'sources' }, out);
}
