// What the app holds for this browser: the relay connection, the channels it knows, this phone's key, follows,
// trusted verifiers, their vouches for channels, and an operator session. Settings and events are kept encrypted
// (vault.js, cache.js) and read only once the vault is open (main.js asks for the PIN first when there is one).
// trust() says, per channel, what tells it from look-alikes (trust.js, display.js).

import { Relay } from './relay.js';
import { currentChannels } from './rules.js';
import { collisions, likeness, lookalikes, vouchers } from './trust.js';
import { fingerprint, mixedScriptWords } from './display.js';
import * as cache from './cache.js';
import * as vault from './vault.js';
import { extras, screens } from './lazy.js';
import { counted } from './datause.js';

const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;

const copy = (value) => JSON.parse(JSON.stringify(value));

const SETTINGS = {
  secret: null, // this phone's key, hex
  pubkey: null, // its public key, hex (kept so that reading needs no crypto code)
  follows: [], // channel addresses
  verifiers: [], // pubkeys whose labels are shown
  vouchedOnly: false, // the directory lists only vouched channels
  operatorToken: null, // the operator session code the node gave for a login link
  agreedRelays: {}, // channel address -> relays a shared link named, which the reader agreed to (mirrors.js)
  directOff: false, // the reader turned direct connections to mirrors off
  nodeProxied: false, // the node said it reaches relays through a proxy
  near: '', // the place path the reader chose as "near you" (places.js); never sent
  dataSaver: false, // full-size photos only on a tap (photos.js)
  recoveryKeys: {}, // followed channel address -> the first recovery key this phone saw it name (recovery.js)
  lockHidden: 60, // seconds out of sight before the app locks itself, with a PIN (autolock.js; 0 at once, -1 never)
  lockIdle: 300, // seconds with no touch before it locks itself (autolock.js)
};

export const state = {
  relay: null,
  online: false,
  definitions: new Map(), // address -> newest definition event
  channels: new Map(), // address -> parsed channel (or {error}), judged with the seizure claims (recovery.js)
  claims: new Map(), // channel address -> Map id -> seizure claim (a post of type seized)
  ...copy(SETTINGS),
  vouchEvents: new Map(), // id -> vouch label or withdrawal (deletion request) by a trusted verifier
  vouches: new Map(), // channel address -> Set of trusted verifiers who vouch for it
  operator: null, // Operator once logged in
  operatorError: '', // why the node refused the last login (its sentence)
  listeners: new Set(),
};

/** Write the settings (encrypted) after a change; resolves once written, so that a view shows a change (a
 * follow, a new key) only once it is kept. */
function store() {
  const settings = Object.fromEntries(Object.keys(SETTINGS).map((k) => [k, state[k]]));
  return vault.putSettings(settings);
}

/** Settings an earlier version kept in localStorage, in the clear: taken into the vault, then removed. */
function legacySettings() {
  const found = {};
  try {
    for (const k of Object.keys(SETTINGS)) {
      const v = localStorage.getItem(k);
      if (v === null) continue;
      localStorage.removeItem(k);
      found[k] = JSON.parse(v);
    }
  } catch {
    /* no storage, or not JSON */
  }
  return Object.keys(found).length ? found : null;
}

async function loadSettings() {
  let saved = await vault.getSettings();
  const legacy = legacySettings();
  if (!saved && legacy) saved = legacy;
  for (const [k, fallback] of Object.entries(SETTINGS)) {
    const v = saved ? saved[k] : undefined;
    const fits = v !== undefined && v !== null
      && (fallback === null ? typeof v === 'string' : Array.isArray(fallback) ? Array.isArray(v) : typeof v === typeof fallback);
    state[k] = fits ? v : copy(fallback);
  }
  if (legacy) store();
}

export const now = () => Math.floor(Date.now() / 1000);

export function changed() {
  for (const fn of state.listeners) fn();
}

export function setSecret(hex, pubkey) {
  state.secret = hex;
  state.pubkey = hex ? pubkey : null;
  return store();
}

export function setFollow(address, on) {
  state.follows = on ? [...new Set([...state.follows, address])] : state.follows.filter((a) => a !== address);
  judgeChannels(); // a channel followed now: its recovery key is remembered from now on
  return store();
}

export function setVerifiers(list) {
  state.verifiers = [...new Set(list)];
  watchVouches();
  return store();
}

/** Change one setting (kept encrypted with the others). */
export function setSetting(key, value) {
  state[key] = value;
  return store();
}

export function setNear(path) {
  state.near = path;
  return store();
}

export function setVouchedOnly(on) {
  state.vouchedOnly = Boolean(on);
  return store();
}

export function setDataSaver(on) {
  state.dataSaver = Boolean(on);
  return store();
}

// -- vouches and look-alikes ------------------------------------------------------------------------------------

let vouchSubs = [];

function countVouches() {
  state.vouches = vouchers(state.vouchEvents.values(), state.verifiers, now());
}

/** (Re)subscribe to the trusted verifiers' vouches for channels and their withdrawals. */
export function watchVouches() {
  countVouches();
  if (!state.relay) return;
  for (const sub of vouchSubs) state.relay.close(sub);
  vouchSubs = [];
  if (!state.verifiers.length) return;
  const fresh = [];
  let timer = 0;
  // Each of the first 40 verifiers' newest apart, five a REQ (a relay takes 10 filters): one verifier's flood (a key
  // the police hold) pushes out only its own vouches, never another's (services/channels.py _each).
  const groups = [];
  for (let i = 0; i < Math.min(state.verifiers.length, 40); i += 5) groups.push(state.verifiers.slice(i, i + 5).map((a) => [a]));
  if (state.verifiers.length > 40) groups.push([state.verifiers.slice(40, 1000)]);
  for (const group of groups) vouchSubs.push(state.relay.subscribe(group.flatMap((authors) => [
    { kinds: [1985], authors, '#l': ['vouched'], limit: 5000 },
    { kinds: [5], authors, '#k': ['1985'], limit: 5000 },
  ]), (e) => {
    if (state.vouchEvents.has(e.id)) return;
    state.vouchEvents.set(e.id, e);
    fresh.push(e);
    if (!timer) timer = setTimeout(() => {
      timer = 0;
      cache.save('vouches', fresh.splice(0));
      countVouches();
      judgeChannels(); // a vouch names the recovery key a new reader honours (recovery.js)
      changed();
    }, 100);
  }));
}

let trustMemo = null;

/** What tells channels apart for this reader: trust().of(channel) gives {relation (own, followed, carried),
 * vouchedBy (Set), collides (addresses of own, followed or vouched channels another key named it like), warned
 * (collides, and the reader neither owns nor follows it), twinned (another channel of another key has a name like
 * it and the reader trusts neither), like (the first of those), likeFollowed, fingerprint, mixed (look-alike words)}. Recomputed when the channels, vouches, follows or key change. */
export function trust() {
  const key = [state.channels, state.vouches, state.follows, state.pubkey];
  if (trustMemo && trustMemo.key.every((k, i) => k === key[i])) return trustMemo;
  const valid = [...state.channels.values()].filter((c) => !c.error);
  const follows = new Set(state.follows);
  const relation = (c) => (state.pubkey && c.owner === state.pubkey ? 'own' : follows.has(c.address) ? 'followed' : 'carried');
  const trusted = valid.filter((c) => relation(c) !== 'carried' || state.vouches.has(c.address));
  // A seized channel and the one its recovery key says it continues at look alike on purpose (recovery.js).
  // Only a claim judged by /extras.js (recovery.js) gives a channel a successor, so it is there to drop the pairs.
  const links = new Map(valid.filter((c) => c.successor).map((c) => [c.address, c.successor]));
  const unlinked = (pairs) => (links.size ? self.samizdatExtras.recovery.dropLinked(pairs, links) : pairs);
  const clashes = unlinked(collisions(valid, trusted));
  const twins = unlinked(lookalikes(valid)); // for a reader who trusts none of them yet (core/trust.py lookalikes)
  const known = new Map();
  trustMemo = {
    key,
    of(channel) {
      if (!known.has(channel.address)) {
        const collides = clashes.get(channel.address) || [];
        const others = collides.map((a) => state.channels.get(a)).filter(Boolean);
        const followedLike = others.filter((c) => relation(c) !== 'carried');
        const warned = collides.length > 0 && relation(channel) === 'carried';
        const vouchedBy = state.vouches.get(channel.address) || new Set();
        // Nothing the reader trusts tells this one from another of the same name: both are marked (services'
        // Entry.twinned).
        const twin = (twins.get(channel.address) || []).map((a) => state.channels.get(a)).find(Boolean) || null;
        const twinned = Boolean(twin) && !warned && relation(channel) === 'carried' && !vouchedBy.size;
        const like = followedLike[0] || others[0] || (twinned ? twin : null);
        known.set(channel.address, {
          relation: relation(channel), vouchedBy, collides, warned, twinned, like, likeFollowed: followedLike.length > 0,
          likeFingerprint: like ? fingerprint(like.owner) : '', fingerprint: fingerprint(channel.owner), twinKind: twinned ? likeness(channel, twin) : '',
          mixed: mixedScriptWords(`${channel.name}\n${channel.place}`),
        });
      }
      return known.get(channel.address);
    },
  };
  return trustMemo;
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
  if (dirty) judgeChannels();
  return dirty;
}

/** Keep seizure claims (posts of type seized, from the relay or a channel's page); true when one was new. */
export function addClaims(events) {
  let dirty = false;
  for (const e of events) {
    const address = (e.tags.find((t) => t[0] === 'a') || [])[1] || '';
    if (!state.claims.has(address)) state.claims.set(address, new Map());
    dirty = !state.claims.get(address).has(e.id) || dirty;
    state.claims.get(address).set(e.id, e);
  }
  if (dirty) judgeChannels();
  return dirty;
}

/** state.channels from the newest definitions, judged with the seizure claims and the recovery keys this phone
 * remembers (recovery.js, in /extras.js: a claim's proof needs its signature checked). /extras.js is loaded when
 * there is a claim, a followed channel names a recovery key not remembered yet, or a vouch another than the one
 * remembered; then they are judged again. */
function judgeChannels() {
  const channels = currentChannels(state.definitions.values());
  const x = self.samizdatExtras;
  if (x) {
    const remembered = x.recovery.judgeAll(channels, state.definitions, state.claims, state.recoveryKeys, state.follows, x.verifyEvent, x.recovery.witnesses(state.vouchEvents.values(), state.verifiers, now()));
    if (remembered) {
      state.recoveryKeys = remembered;
      store();
    }
  } else if (state.claims.size || state.follows.some((a) => !state.recoveryKeys[a] && state.definitions.get(a)?.tags.some((t) => t[0] === 'recovery'))
    // ...or a trusted vouch for a followed channel names another recovery key than the one remembered (disputed)
    || [...state.vouchEvents.values()].some((e) => { const [a, r] = ['a', 'recovery'].map((n) => e.tags.find((t) => t[0] === n)?.[1]); return r && state.recoveryKeys[a] && r !== state.recoveryKeys[a]; })) {
    extras().then(() => {
      judgeChannels();
      changed();
    }, () => {});
  }
  state.channels = channels;
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

/** Read what the vault keeps and connect to the node. `operatorCode`: a login link's code that just arrived (it
 * replaces the session kept from before). */
export async function start({ operatorCode = null } = {}) {
  await loadSettings();
  const seed = seeded();
  addDefinitions(seed);
  cache.save('dir', seed);
  const saved = await cache.load('dir');
  addDefinitions(saved);
  for (const e of await cache.load('vouches')) state.vouchEvents.set(e.id, e);
  const early = counted(self.samizdatSocket || null); // opened by the page's head (early.js)
  self.samizdatSocket = null;
  state.relay = new Relay(`${wsBase}/`, (s) => {
    state.online = s === 'online';
    changed();
  }, early);
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
  // Seizure claims of any channel (few), for the directory; a channel's page reads its own with its posts.
  state.relay.subscribe([{ kinds: [2333], '#t': ['seized'], limit: 1000 }], (e) => addClaims([e]) && changed());
  watchVouches();
  if (operatorCode || state.operatorToken) operatorLogin(operatorCode || state.operatorToken);
  if (state.secret && !state.pubkey) {
    extras().then((x) => {
      setSecret(state.secret, x.publicKey(state.secret));
      changed();
    }, () => {});
  }
}

/** Log in with a login link's code (the node takes it once and answers with a session code, kept here) or with
 * the session code kept from before. */
export async function operatorLogin(token) {
  let op = null;
  // The operator's channel comes with /screens.js (operator.js): when that cannot be loaded, the node is not reached.
  const result = await screens().then((s) => {
    op = new s.Operator(`${wsBase}/op`, token);
    return op.login();
  }, () => ({ ok: false, error: 'offline' }));
  if (result.ok) {
    state.operator = op;
    state.operatorToken = op.token;
    state.operatorError = '';
    await store();
  } else if (result.error !== 'offline') {
    state.operatorError = result.error;
    if (token === state.operatorToken) {
      state.operatorToken = null;
      await store();
    }
  }
  changed();
  return result;
}

export function operatorLogout() {
  state.operator?.ws?.close();
  state.operator = null;
  state.operatorToken = null;
  store();
  changed();
}
