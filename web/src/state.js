// What the app holds for this browser: the relay connection, the channels it knows, this phone's key, follows,
// trusted verifiers and an operator session. Settings live in localStorage; events in IndexedDB (cache.js).

import { Relay, Operator } from './relay.js';
import { currentChannels } from './rules.js';
import * as cache from './cache.js';
import { extras } from './lazy.js';

const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;

function stored(name, fallback) {
  try {
    const v = localStorage.getItem(name);
    return v === null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
}

function store(name, value) {
  try {
    if (value === null) localStorage.removeItem(name);
    else localStorage.setItem(name, JSON.stringify(value));
  } catch {
    /* storage full or disabled: the setting lasts for this visit only */
  }
}

export const state = {
  relay: null,
  online: false,
  definitions: new Map(), // address -> newest definition event
  channels: new Map(), // address -> parsed channel (or {error})
  secret: stored('secret', null), // this phone's key, hex
  pubkey: stored('pubkey', null), // its public key, hex (kept so that reading needs no crypto code)
  follows: stored('follows', []), // channel addresses
  verifiers: stored('verifiers', []), // pubkeys whose labels are shown
  operator: null, // Operator once logged in
  operatorToken: stored('operatorToken', null),
  listeners: new Set(),
};

export const now = () => Math.floor(Date.now() / 1000);

export function changed() {
  for (const fn of state.listeners) fn();
}

export function setSecret(hex, pubkey) {
  state.secret = hex;
  state.pubkey = hex ? pubkey : null;
  store('secret', hex);
  store('pubkey', state.pubkey);
}

export function setFollow(address, on) {
  state.follows = on ? [...new Set([...state.follows, address])] : state.follows.filter((a) => a !== address);
  store('follows', state.follows);
}

export function setVerifiers(list) {
  state.verifiers = [...new Set(list)];
  store('verifiers', state.verifiers);
}

export function addDefinitions(events) {
  let dirty = false;
  for (const e of events) {
    if (e.kind !== 30333) continue;
    const d = (e.tags.find((t) => t[0] === 'd') || [])[1] || '';
    const address = `30333:${e.pubkey}:${d}`;
    const old = state.definitions.get(address);
    if (!old || e.created_at > old.created_at || (e.created_at === old.created_at && e.id < old.id)) {
      state.definitions.set(address, e);
      dirty = true;
    }
  }
  if (dirty) state.channels = currentChannels(state.definitions.values());
  return dirty;
}

/** Channel definitions the node put into the page itself: a first visit lists channels at once. */
function seeded() {
  try {
    const events = JSON.parse(document.getElementById('seed')?.textContent || '[]');
    return Array.isArray(events) ? events.filter((e) => e && typeof e === 'object' && Array.isArray(e.tags)) : [];
  } catch {
    return [];
  }
}

export async function start() {
  const seed = seeded();
  addDefinitions(seed);
  cache.save('dir', seed);
  const saved = await cache.load('dir');
  addDefinitions(saved);
  state.relay = new Relay(`${wsBase}/`, (s) => {
    state.online = s === 'online';
    changed();
  });
  const fresh = [];
  let timer = 0;
  state.relay.subscribe([{ kinds: [30333], limit: 5000 }], (e) => {
    fresh.push(e);
    if (!timer) timer = setTimeout(() => {
      timer = 0;
      const batch = fresh.splice(0);
      if (addDefinitions(batch)) changed();
      cache.save('dir', batch);
    }, 100);
  });
  if (state.operatorToken) operatorLogin(state.operatorToken);
  if (state.secret && !state.pubkey) {
    extras().then((x) => {
      setSecret(state.secret, x.publicKey(state.secret));
      changed();
    }, () => {});
  }
}

export async function operatorLogin(token) {
  const op = new Operator(`${wsBase}/op`, token);
  const result = await op.login();
  if (result.ok) {
    state.operator = op;
    state.operatorToken = token;
    store('operatorToken', token);
  } else if (result.error !== 'offline') {
    state.operatorToken = null;
    store('operatorToken', null);
  }
  changed();
  return result;
}

export function operatorLogout() {
  state.operator?.ws?.close();
  state.operator = null;
  state.operatorToken = null;
  store('operatorToken', null);
  changed();
}
