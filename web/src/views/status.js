// The node's state as the node reports it at /api/status: LAN peers, relays and whether they answered, last
// syncs, what was carried; plus what this phone keeps.

import { h, mount } from '../dom.js';
import { t, plural } from '../i18n.js';
import * as cache from '../cache.js';
import { state } from '../state.js';
import { extras } from '../lazy.js';
import { when } from './post.js';
import { bundlesPanel } from './bundles.js';
import { sourcesPanel } from './sources.js';
import { dataUseView } from './datause.js';
import { dataSaverSwitch } from './photos.js';

// A table scrolls sideways inside its box when a phone is too narrow for it: the page itself never does, and
// words are never broken inside (addresses, which have no words, may break anywhere: class "url").
const table = (head, rows) => h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': head.join(', ') },
  h('table', null, h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((c, i) => h('td', { class: i ? null : 'url' }, c)))))));

const REFRESH_MS = 10000;

const mb = (bytes) => typeof bytes === 'number' ? (bytes / 1e6).toFixed(1) : '?';

export function statusView() {
  const el = h('main', { class: 'status-page' });
  const body = h('div', null, h('p', null, t('loading')));
  const local = h('p', { id: 'cached' });
  mount(el, h('h1', null, t('status')), body, h('h2', null, t('this-phone')), local, dataUseView(), dataSaverSwitch(),
    bundlesPanel());
  cache.count().then((n) => mount(local, t('cached-events', { n: plural('events', n) })));
  // Refreshed REFRESH_MS after each answer, not on a fixed beat: a busy node answering slowly gets no pile of
  // requests (each one counts its store and reports), and a screen left is no longer asked for.
  let timer = 0;
  let gone = false;
  const again = () => {
    if (!gone) timer = setTimeout(load, REFRESH_MS);
  };

  async function load() {
    let s;
    try {
      const r = await fetch('/api/status', { cache: 'no-store' });
      if (!r.ok) throw new Error(String(r.status));
      s = await r.json();
    } catch {
      if (gone) return;
      mount(body, h('p', { class: 'error' }, t('node-unreachable')), sourcesPanel(null));
      again();
      return;
    }
    if (gone) return;
    again();
    // The node names its key only to its own machine (unless it publishes it); a logged-in operator knows it.
    const key = h('code', { id: 'node-key' }, s.npub ? String(s.npub) : t('key-hidden'));
    if (!s.npub && state.operator?.pubkey) extras().then((x) => { key.textContent = x.npubEncode(state.operator.pubkey); }, () => {});
    // A name a device announced is its own claim: the address comes first, the name after it, marked unverified.
    const peerLabel = (p) => String(p.url) + (p.name ? ' ' + t('says-unverified', { name: String(p.name) }) : '');
    const word = (prefix, value) => (value ? (t(prefix + value) === prefix + value ? String(value) : t(prefix + value)) : '');
    const peerTable = (peers) => table([t('peer'), t('source'), t('link'), t('last-seen'), t('last-sync'), t('events-in-out')],
      peers.map((p) => [peerLabel(p), word('source-', p.source), word('peer-', p.state), p.last_seen ? when(p.last_seen) : '–',
        p.last_sync ? when(p.last_sync) : '–', `${p.events_in ?? 0} / ${p.events_out ?? 0}`]));
    const lan = (s.peers || []).filter((p) => p.source !== 'manual');
    const manual = (s.peers || []).filter((p) => p.source === 'manual');
    // A route where something else answers in the relay's name is said so first (services/relay_memory.py); a
    // relay that acknowledged posts and then did not have them next (services/relay_health.py).
    const reach = (r) => r.impersonated?.length ? t('relay-impersonated', { route: String(r.impersonated[0].route) })
      : r.losing_since ? t('relay-losing', { n: Number(r.lost_events) || 0 })
      : r.reachable === true ? t('reachable') : r.reachable === false ? t('unreachable') : t('unknown');
    // A mirror that withholds a channel's newest definition or a retraction (services/withholding.py): one line
    // each. The rows name no channel here (only `samizdat status` does), and a reader who may not see the node's
    // key gets none (web/app.py).
    // The words' names are written out whole, so that they come with this screen, not in the page (build.mjs).
    const AMENDS = {
      retraction: ['withheld-retraction', 'withheld-readers-retraction'],
      correction: ['withheld-correction', 'withheld-readers-correction'],
    };
    const withheldLine = (r, w) => {
      const words = { relay: String(r.url), newest: when(w.newest), served: w.served ? when(w.served) : '' };
      const [own, readers] = AMENDS[w.what] || ['withheld-event', 'withheld-readers-event'];
      if (w.readers && w.what === 'definition') return t(w.served ? 'withheld-readers-definition-old' : 'withheld-readers-definition', words);
      if (w.readers) return t(readers, words);
      if (w.refused) return t('withheld-refused', { ...words, words: String(w.refused) });
      if (w.what === 'definition') return t(w.served ? 'withheld-definition-old' : 'withheld-definition', words);
      return t(own, words);
    };
    const withholding = (s.relays || []).flatMap((r) => (r.url != null && Array.isArray(r.withheld) ? r.withheld.map((w) => withheldLine(r, w)) : []));
    mount(body,
      h('dl', null,
        h('dt', null, t('node-name')), h('dd', null, String(s.name)),
        h('dt', null, t('node-key')), h('dd', null, key),
        h('dt', null, t('stored-events')), h('dd', { id: 'stored' }, String(s.events ?? '?')),
        h('dt', null, t('connections')), h('dd', null, String(s.connections ?? 0))),
      // Found on the LAN, and added by hand (a peer on 127.0.0.1 or across the internet is not "nearby").
      h('h2', null, t('lan-peers')),
      s.peers === null ? h('p', null, t('lan-off')) : lan.length ? peerTable(lan) : h('p', null, t('no-peers')),
      manual.length ? [h('h2', null, t('nodes-added')), peerTable(manual)] : null,
      h('h2', null, t('relays')),
      s.relays.length ? table([t('relay'), t('state'), t('last-sync'), t('delivered'), t('waiting')],
        // A reader who may not see the node's key gets no relay's address and no delivery counts (web/app.py).
        s.relays.map((r, i) => [r.url == null ? `#${i + 1}` : String(r.url), reach(r), r.last_success ? when(r.last_success) : '–',
          String(r.delivered ?? '–'), String(r.pending ?? '–')])) : h('p', null, t('no-relays')),
      withholding.length ? [h('h3', null, t('withholding')), h('ul', { id: 'withholding' }, withholding.map((line) => h('li', null, line))),
        h('p', null, t('withholding-note'))] : null,
      h('h2', null, t('carried')),
      s.carried.delivered == null ? null
        : h('p', null, t('carried-text', { in: plural('events', s.carried.received ?? 0), out: plural('events', s.carried.sent ?? 0), delivered: plural('posts', s.carried.delivered ?? 0) })),
      h('p', { id: 'carry' }, t('carry-text', { store: mb(s.carried.store_bytes), quota: mb(s.carried.quota_bytes), dropped: s.carried.dropped ?? 0 })),
      h('h2', null, t('reachability')),
      (s.reachability || []).length ? table([t('relay'), t('country'), t('hour'), t('verdict'), t('reports')],
        s.reachability.map((r) => [String(r.relay), String(r.country || '?'), when(r.hour), t('verdict-' + r.verdict), String(r.reports)]))
        : h('p', null, t('no-reports')),
      sourcesPanel(s));
  }
  load();
  return { el, destroy: () => {
    gone = true;
    clearTimeout(timer);
  } };
}
