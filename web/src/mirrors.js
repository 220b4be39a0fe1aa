// Reading from any mirror: when the node that served the app is unreachable, or does not carry a channel, the app
// connects straight to the channel's mirrors (the relays its definition names in "r" tags) and to the relays of a
// shared link the reader agreed to (followLinks.js), and reads the channel there. Every event from a mirror is
// verified in the verify worker (id and BIP-340 signature) before it is shown or kept; then the same rules apply
// as to the node's events (rules.js, in the channel view).
//
// The page's Content-Security-Policy lets it connect only to the node itself and to the mirrors of the channels
// the node knows (the node names them in connect-src): a relay only a link names is refused by the browser unless
// the node knows it too (docs/web.md, "Reading from mirrors").
//
// Direct connections go from the phone to the mirror, not through the node: when the node reaches relays through
// a proxy for privacy, the phone's own connections bypass it. The app says so and the reader can turn direct
// connections off (state.directOff).

import { Relay } from './relay.js';
import { state, addDefinitions, changed, setSetting } from './state.js';
import * as cache from './cache.js';
import { t } from './i18n.js';
import { mount } from './dom.js';
import { url } from './display.js';

const PAGE = 5000;
const URL_RE = /^wss?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~/-]*)?$/;
const START_AFTER_MS = 3000; // how long the node may take before a channel it does not answer for is read elsewhere

/** address -> Set of what the channel's events came from ('node', a mirror's URL, 'file'). */
export const sources = new Map();

export function noteSource(address, source) {
  if (!sources.has(address)) sources.set(address, new Set());
  sources.get(address).add(source);
}

const own = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;

/** The relays a channel can be read from besides the node: its mirrors and the relays of a link agreed to. */
export function mirrorsOf(address) {
  const channel = state.channels.get(address);
  const listed = channel && !channel.error ? channel.mirrors : [];
  const agreed = (state.agreedRelays && state.agreedRelays[address]) || [];
  const self = own().replace(/\/$/, '');
  return [...new Set([...listed, ...agreed])]
    .filter((u) => typeof u === 'string' && URL_RE.test(u) && u.replace(/\/$/, '') !== self).slice(0, 8);
}

export function setDirectOff(off) {
  state.directOff = Boolean(off);
  return setSetting('directOff', state.directOff);
}

/** Keep `relays` (URLs) for `address`: the reader agreed to the relays a link named. */
export function agreeRelays(address, relays) {
  const next = { ...(state.agreedRelays || {}) };
  next[address] = [...new Set([...(next[address] || []), ...relays])].slice(0, 8);
  state.agreedRelays = next;
  return setSetting('agreedRelays', next);
}

// -- verification (in the worker) --------------------------------------------------------------------------------

let worker = null;
let seq = 0;
const waiting = new Map();

function verified(events) {
  return new Promise((resolve) => {
    try {
      if (!worker) {
        worker = new Worker('/verify-worker.js');
        worker.onmessage = ({ data: m }) => {
          if (m.type !== 'verified' || !waiting.has(m.seq)) return;
          waiting.get(m.seq)(m.events);
          waiting.delete(m.seq);
        };
      }
      const id = ++seq;
      waiting.set(id, resolve);
      worker.postMessage({ verify: events, seq: id });
    } catch {
      resolve([]); // no worker: nothing unverified is shown
    }
  });
}

// -- reading ---------------------------------------------------------------------------------------------------

/** Whether the channel should be read from its mirrors now: the node is not answering, or does not know it. */
function wanted(address, since) {
  if (state.directOff) return false;
  if (state.relay && state.relay.state === 'offline') return true; // tried, and the node did not answer
  return !state.channels.has(address) && Date.now() - since > START_AFTER_MS;
}

/** Watch one channel for the channel view: from the moment it is wanted (above), read it from its mirrors;
 * verified events go to `onEvent` (channel definitions to the directory too). Returns {stop, active()}. */
let proxyAsked = false;
const wantedOrigins = new Set(); // CSP sources of the mirrors this page tried

const origin = (url) => {
  const m = /^(wss?:\/\/[^/]+)/.exec(url);
  return m ? m[1].toLowerCase() : null;
};

// A page the service worker served from its cache names no mirror in its policy (sw.js): when a mirror it wants
// is refused for that reason, tell the service worker which (kept in its memory only) and reload once.
document.addEventListener('securitypolicyviolation', (ev) => {
  if (ev.effectiveDirective !== 'connect-src' || !navigator.serviceWorker?.controller) return;
  const blocked = origin(String(ev.blockedURI || ''));
  if (!blocked || !wantedOrigins.has(blocked)) return;
  try {
    if (sessionStorage.getItem('m')) return; // once a tab: never a reload loop
    sessionStorage.setItem('m', '1');
  } catch {
    return;
  }
  navigator.serviceWorker.controller.postMessage({ mirrors: [...wantedOrigins] });
  setTimeout(() => location.reload(), 200);
});

export function watchMirrors(address, onEvent) {
  const since = Date.now();
  const relays = new Map(); // url -> Relay
  let stopped = false;
  let pending = [];
  let timer = 0;

  const flush = async () => {
    timer = 0;
    const batch = pending.splice(0);
    const good = await verified(batch);
    if (stopped) return;
    const clean = good.map(({ _from, ...e }) => {
      noteSource(address, _from);
      return e;
    });
    const definitions = clean.filter((e) => e.kind === 30333);
    if (definitions.length) {
      cache.save('dir', definitions);
      if (addDefinitions(definitions)) changed();
    }
    for (const e of clean) if (e.kind !== 30333) onEvent(e);
  };

  const receive = (url) => (e) => {
    if (!e || typeof e !== 'object') return;
    const { id, pubkey, created_at, kind, tags, content, sig } = e;
    pending.push({ id, pubkey, created_at, kind, tags, content, sig, _from: url });
    if (!timer) timer = setTimeout(flush, 100);
  };

  const connect = () => {
    const [, pubkey, identifier] = /^30333:([0-9a-f]{64}):(.+)$/.exec(address) || [];
    if (!pubkey) return;
    for (const url of mirrorsOf(address)) {
      if (relays.has(url)) continue;
      const source = origin(url);
      if (source) wantedOrigins.add(source);
      let relay;
      try {
        relay = new Relay(url, () => {});
      } catch {
        continue;
      }
      relays.set(url, relay);
      const channel = state.channels.get(address);
      const authors = channel && !channel.error ? [channel.owner, ...channel.admins.keys()].slice(0, 1000) : [pubkey];
      relay.subscribe([
        { kinds: [30333], authors: [pubkey], '#d': [identifier] },
        { kinds: [2333], '#a': [address], limit: PAGE },
        { kinds: [5], authors, limit: PAGE },
      ], receive(url));
    }
  };

  const check = () => {
    if (stopped) return;
    if (!proxyAsked && state.online) {
      proxyAsked = true;
      nodeProxied(); // once a visit: whether to say that direct connections bypass the node's proxy
    }
    if (wanted(address, since)) connect();
  };
  const poll = setInterval(check, 1000);
  state.listeners.add(check);
  check();
  return {
    active: () => relays.size > 0,
    stop() {
      stopped = true;
      clearInterval(poll);
      clearTimeout(timer);
      state.listeners.delete(check);
      for (const relay of relays.values()) {
        relay.retry = () => {};
        relay.ws?.close();
      }
      relays.clear();
    },
  };
}

/** Whether the node says it reaches relays through a proxy (then the phone's direct connections bypass it). */
export async function nodeProxied() {
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    const s = await r.json();
    if (typeof s.proxied === 'boolean' && s.proxied !== state.nodeProxied) {
      state.nodeProxied = s.proxied;
      await setSetting('nodeProxied', s.proxied);
    }
  } catch {
    /* offline: what the node said last time */
  }
  return Boolean(state.nodeProxied);
}

/** "Read directly from ws://…" under a channel's name, with the proxy warning when the node has one. */
export function mirrorNote(el, address) {
  const from = [...(sources.get(address) || [])].filter((s) => s !== 'node' && s !== 'file');
  if (!from.length) {
    mount(el);
    return;
  }
  mount(el, t('mirror-read', { relays: from.map(url).join(', ') }), state.nodeProxied ? ' ' + t('mirror-bypasses-proxy') : null);
}
