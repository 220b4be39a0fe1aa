// The node's state as the node reports it at /api/status: LAN peers, relays and whether they answered, last
// syncs, what was carried; plus what this phone keeps.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import * as cache from '../cache.js';
import { state } from '../state.js';
import { extras } from '../lazy.js';
import { when } from './post.js';
import { dataSaverSwitch } from './photos.js';

const table = (head, rows) => h('table', null, h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))),
  h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', null, c))))));

const mb = (bytes) => typeof bytes === 'number' ? (bytes / 1e6).toFixed(1) : '?';

export function statusView() {
  const el = h('main', { class: 'status-page' });
  const body = h('div', null, h('p', null, t('loading')));
  const local = h('p', { id: 'cached' });
  mount(el, h('h1', null, t('status')), body, h('h2', null, t('this-phone')), local, dataSaverSwitch());
  cache.count().then((n) => mount(local, t('cached-events', { n })));
  let timer = 0;

  async function load() {
    let s;
    try {
      const r = await fetch('/api/status', { cache: 'no-store' });
      if (!r.ok) throw new Error(String(r.status));
      s = await r.json();
    } catch {
      mount(body, h('p', { class: 'error' }, t('node-unreachable')));
      return;
    }
    // The node names its key only to its own machine (unless it publishes it); a logged-in operator knows it.
    const key = h('code', { id: 'node-key' }, s.npub ? String(s.npub) : t('key-hidden'));
    if (!s.npub && state.operator?.pubkey) extras().then((x) => { key.textContent = x.npubEncode(state.operator.pubkey); }, () => {});
    // A name a device announced is its own claim: the address comes first, the name after it, marked unverified.
    const peerLabel = (p) => String(p.url) + (p.name ? ' ' + t('says-unverified', { name: String(p.name) }) : '');
    const reach = (r) => r.reachable === true ? t('reachable') : r.reachable === false ? t('unreachable') : t('unknown');
    mount(body,
      h('dl', null,
        h('dt', null, t('node-name')), h('dd', null, String(s.name)),
        h('dt', null, t('node-key')), h('dd', null, key),
        h('dt', null, t('stored-events')), h('dd', { id: 'stored' }, String(s.events ?? '?')),
        h('dt', null, t('connections')), h('dd', null, String(s.connections ?? 0))),
      h('h2', null, t('lan-peers')),
      s.peers === null ? h('p', null, t('lan-off')) : s.peers.length ? table([t('peer'), t('source'), t('link'), t('last-seen'), t('last-sync'), t('events-in-out')],
        s.peers.map((p) => [peerLabel(p), String(p.source || ''), String(p.state || ''), p.last_seen ? when(p.last_seen) : '–', p.last_sync ? when(p.last_sync) : '–', `${p.events_in ?? 0} / ${p.events_out ?? 0}`])) : h('p', null, t('no-peers')),
      h('h2', null, t('relays')),
      s.relays.length ? table([t('relay'), t('state'), t('last-sync'), t('delivered'), t('waiting')],
        s.relays.map((r) => [String(r.url), reach(r), r.last_success ? when(r.last_success) : '–', String(r.delivered), String(r.pending)])) : h('p', null, t('no-relays')),
      h('h2', null, t('carried')),
      h('p', null, t('carried-text', { in: s.carried.received, out: s.carried.sent, delivered: s.carried.delivered })),
      h('p', { id: 'carry' }, t('carry-text', { store: mb(s.carried.store_bytes), quota: mb(s.carried.quota_bytes), dropped: s.carried.dropped ?? 0 })),
      h('h2', null, t('reachability')),
      (s.reachability || []).length ? table([t('relay'), t('country'), t('hour'), t('verdict'), t('reports')],
        s.reachability.map((r) => [String(r.relay), String(r.country || '?'), when(r.hour), t('verdict-' + r.verdict), String(r.reports)]))
        : h('p', null, t('no-reports')));
  }
  load();
  timer = setInterval(load, 10000);
  return { el, destroy: () => clearInterval(timer) };
}
