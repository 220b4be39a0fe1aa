// Everything this app keeps on the phone, encrypted: its settings (this phone's key, follows, verifiers, the
// operator session) and the events it saved for offline reading, in one IndexedDB database.
//
// Theory of operation.
// - One random *data key* encrypts every record with XChaCha20-Poly1305 (@noble/ciphers: WebCrypto's subtle API
//   is missing on plain-http pages such as a hub's http://192.168.x.y:4848/). A record is found by a name made
//   with HMAC-SHA256 under the data key, and grouped (a channel's events) the same way, so no channel address,
//   post id or key is written in the clear. Plaintexts are padded to a multiple of 256 bytes, so a record's size
//   says little about what it holds.
// - Without a PIN, the data key is written beside the records: that protects nothing, and the Keys screen says so.
// - With a PIN or passphrase, the data key is kept only in one of two *slots*: a random nonce and an encryption,
//   under scrypt(PIN, salt) (N = 2^16, r = 8, p = 1: 64 MiB, about a second on a phone), of a role and a key.
//   The other slot is either random bytes or the duress slot (the duress PIN's encryption of the role "duress"):
//   both look alike, so the database does not tell whether a duress PIN is set. An unlock derives one key from
//   what was typed and tries it on both slots: the real slot opens the data; the duress slot erases everything
//   and the app opens as on a first visit; neither is a wrong PIN (the next try waits 1, 2, 4 ... 30 s, counted
//   in memory only). The salt is made once, with the vault, so changing the PIN keeps the duress PIN.
// - Setting or changing the PIN makes a new data key and re-encrypts every record in one transaction: the old
//   key, written in the clear while there was no PIN, opens nothing that is still there. (The browser may keep
//   deleted bytes in its files for a while: docs/safety.md, "Your phone".)
// - seal() / unseal() encrypt small values with the data key for the browser's history entries (main.js keeps
//   where the reader is there, so that the back button and a reload work while the address bar says only "/").
// - On a page that is not a secure context (a hub on plain http://192.168.x.y:4848/, which no certificate can
//   vouch for), whoever takes the hub's address on the Wi-Fi owns this origin and can read this database with
//   code of its own. So there the vault's own record (`meta`: the data key, or the PIN's slots) is kept sealed
//   under a *share* that only the hub gives (GET /api/share/<handle>: a keyed hash of a random handle kept
//   beside the sealed record, under the node's key; src/samizdat/services/phone_share.py). A device posing as
//   the hub, or a phone taken away from it, has the handle and the sealed record, not the share: nothing opens,
//   PIN or no PIN. The phone asks blinded (an oblivious PRF, as services/phone_share.py says): it sends r·P for
//   the point P its 32-byte handle maps to and a random r made for that ask, and takes r⁻¹·(k·r·P) = k·P, so
//   the hub (or a hub kept running by whoever seized it, or anyone reading the Wi-Fi) sees a random point on
//   every visit: nothing that links the phone's visits, and never the share. A record an earlier version sealed
//   under a plain 16-byte handle is opened with it once more and sealed again under a blinded one.
//   On https:// and localhost pages (where the browser checks who answers, and the app must open
//   offline) the record is kept as before.
// - When the hub does not give a share that opens the record (another device answers at its address, the hub
//   was wiped or got a new key, the network failed), the vault lives in memory for this visit and the kept data
//   stays as it is, for a later visit to the real hub; the Keys screen says so and offers to start afresh. A new
//   vault is never written without a share (the hub serves the endpoint with the app: none means a fault or
//   someone in between), so a record in the clear is only ever one an earlier version kept, sealed when a share
//   comes.
// Without IndexedDB (some private modes) the vault lives in memory: the app works and keeps nothing.

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/ciphers/utils.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { Point, etc as curve } from '@noble/secp256k1';

export const DB = 'data'; // a plain name: the browser's files list databases by name
const LEGACY_DB = 'samizdat'; // the unencrypted event cache of earlier versions, deleted on first use
const RECORDS = 'records';
const META = 'meta';
const KDF = { log2N: 16, r: 8, p: 1 };
const NONCE = 24;
const SLOT = NONCE + 1 + 32 + 16; // nonce, (role, key), tag
const REAL = 1;
const DURESS = 2;
const PAD = 256;
const SETTINGS = 'settings';
export const MIN_PIN = 6;

let db = null; // IDBDatabase, or null: nothing is kept
let meta = null; // {salt, log2N, r, p, slots: [Uint8Array, Uint8Array], open: Uint8Array | null}
let keys = null; // {data, enc, mac} while open
let realSlot = -1; // which slot holds the data key, when known
let failures = 0; // wrong PINs in a row, in memory only
let gate = Promise.resolve(); // writes wait while the data is re-encrypted
// Plain-http pages: the meta record is sealed under the hub's share (above). `handle` names the share.
const SEALED = typeof self !== 'undefined' && self.isSecureContext === false;
const HANDLE = 32; // a blinded handle (below)
const OLD_HANDLE = 16; // an earlier version's handle, asked as it is
const SHARE_DOMAIN = utf8ToBytes('samizdat phone share 2\0');
let handle = null; // Uint8Array(16) while the meta record is sealed under `share`
let share = null;
// 'kept': the kept data could not be opened this visit (no share, or not the one that seals it); 'new': nothing
// was kept and no share came, so nothing is kept this visit either; false: as usual.
let closed = false;
const SHARE_WAIT = 10000; // ms for the hub's share

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = tx.onabort = () => reject(tx.error || new Error('aborted'));
  });
}

function openDb() {
  return new Promise((resolve) => {
    let r;
    try {
      r = indexedDB.open(DB, 1);
    } catch {
      resolve(null);
      return;
    }
    r.onupgradeneeded = () => {
      r.result.createObjectStore(META);
      r.result.createObjectStore(RECORDS, { keyPath: 'k' }).createIndex('g', 'g');
    };
    r.onsuccess = () => {
      const handle = r.result;
      handle.onversionchange = () => handle.close(); // another tab erases everything: let it
      resolve(handle);
    };
    r.onerror = r.onblocked = () => resolve(null);
  });
}

function deleteDb(name) {
  return new Promise((resolve) => {
    try {
      const r = indexedDB.deleteDatabase(name);
      r.onsuccess = r.onerror = r.onblocked = () => resolve();
    } catch {
      resolve();
    }
  });
}

function derive(dataKey) {
  return {
    data: dataKey,
    enc: hmac(sha256, dataKey, utf8ToBytes('records')),
    mac: hmac(sha256, dataKey, utf8ToBytes('names')),
  };
}

const nameOf = (k, text) => bytesToHex(hmac(sha256, k.mac, utf8ToBytes(text))).slice(0, 32);

function encrypt(key, value, aad) {
  const json = utf8ToBytes(JSON.stringify(value));
  const padded = new Uint8Array(json.length + ((PAD - (json.length % PAD)) % PAD)).fill(32); // spaces
  padded.set(json);
  const nonce = randomBytes(NONCE);
  const sealed = xchacha20poly1305(key, nonce, aad).encrypt(padded);
  const out = new Uint8Array(NONCE + sealed.length);
  out.set(nonce);
  out.set(sealed, NONCE);
  return out;
}

function decrypt(key, bytes, aad) {
  try {
    const plain = xchacha20poly1305(key, bytes.subarray(0, NONCE), aad).decrypt(bytes.subarray(NONCE));
    return JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return undefined; // damaged, or another key's
  }
}

/** A stored record: its name, its group's name (both HMACs), and the encryption of {n, g, d}. */
function sealRecord(k, name, group, data) {
  const key = nameOf(k, name);
  return { k: key, g: nameOf(k, group), v: encrypt(k.enc, { n: name, g: group, d: data }, utf8ToBytes(key)) };
}

function openRecord(k, row) {
  const value = row && row.v instanceof Uint8Array ? decrypt(k.enc, row.v, utf8ToBytes(row.k)) : undefined;
  return value && typeof value.n === 'string' && typeof value.g === 'string' ? value : null;
}

function kdf(secret, m) {
  const password = utf8ToBytes(String(secret).normalize('NFKC'));
  return scryptAsync(password, m.salt, { N: 2 ** m.log2N, r: m.r, p: m.p, dkLen: 32, asyncTick: 25 });
}

function makeSlot(kek, role, key) {
  const nonce = randomBytes(NONCE);
  const body = new Uint8Array(33);
  body[0] = role;
  body.set(key, 1);
  const out = new Uint8Array(SLOT);
  out.set(nonce);
  out.set(xchacha20poly1305(kek, nonce).encrypt(body), NONCE);
  return out;
}

function openSlot(kek, slot) {
  try {
    return xchacha20poly1305(kek, slot.subarray(0, NONCE)).decrypt(slot.subarray(NONCE));
  } catch {
    return null;
  }
}

/** Run fn(store) in a readwrite transaction once no re-encryption is under way; errors are dropped (storage
 * full or refused: the app goes on, keeping less). */
async function write(fn) {
  await gate;
  if (!db || !keys) return;
  try {
    const tx = db.transaction(RECORDS, 'readwrite');
    fn(tx.objectStore(RECORDS), keys);
    await done(tx);
  } catch {
    /* kept for this visit only */
  }
}

async function read(fn, fallback) {
  await gate;
  if (!db || !keys) return fallback;
  try {
    return await fn(db.transaction(RECORDS).objectStore(RECORDS), keys);
  } catch {
    return fallback;
  }
}

async function writeMeta() {
  if (!db) return;
  const tx = db.transaction(META, 'readwrite');
  tx.objectStore(META).put(kept(meta), 'v');
  await done(tx);
}

// -- the hub's share (plain-http pages) ------------------------------------------------------------------------

const hex = (bytes) => (bytes ? bytesToHex(bytes) : null);

/** The meta record as it is written: sealed under the share when there is one. */
function kept(m) {
  if (!share) return m;
  const plain = { salt: hex(m.salt), log2N: m.log2N, r: m.r, p: m.p, slots: m.slots.map(hex), open: hex(m.open) };
  return { h: handle, sealed: encrypt(share, plain, utf8ToBytes('meta')) };
}

function openMeta(key, stored) {
  const m = stored.sealed instanceof Uint8Array ? decrypt(key, stored.sealed, utf8ToBytes('meta')) : undefined;
  try {
    return { salt: hexToBytes(m.salt), log2N: m.log2N, r: m.r, p: m.p, slots: m.slots.map(hexToBytes),
      open: m.open ? hexToBytes(m.open) : null };
  } catch {
    return null; // another share's (or damaged)
  }
}

/** The answer the hub gives at /api/share/<hex of `asked`>, as bytes, or null (not reached, not a samizdat node). */
async function ask(asked) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), SHARE_WAIT);
  try {
    const r = await fetch(`/api/share/${bytesToHex(asked)}`, { cache: 'no-store', credentials: 'omit', signal: abort.signal });
    const body = r.ok ? await r.json() : null;
    return body && typeof body.s === 'string' && /^[0-9a-f]{64,66}$/.test(body.s) ? hexToBytes(body.s) : null;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** The point of secp256k1 a handle stands for: the first x = SHA-256(domain, handle, counter) on the curve (try
 * and increment; about two tries). Nobody knows its discrete logarithm, so k·P is the hub's to give. */
function handlePoint(h) {
  for (let i = 0; i < 256; i++) {
    try {
      return Point.fromBytes(concatBytes(new Uint8Array([2]), sha256(concatBytes(SHARE_DOMAIN, h, new Uint8Array([i])))));
    } catch {
      /* not on the curve: the next counter */
    }
  }
  throw new Error('no point for this handle'); // 2^-256: never
}

/** The hub's share of `h`, or null when the hub does not give one. A 32-byte handle is asked blinded (above); an
 * earlier version's 16-byte handle as it is. */
async function fetchShare(h) {
  if (h.length === OLD_HANDLE) {
    const s = await ask(h);
    return s && s.length === 32 ? s : null;
  }
  const P = handlePoint(h);
  const r = curve.secretKeyToScalar(curve.randomBytes(32));
  const z = await ask(P.multiply(r).toBytes(true));
  if (!z || z.length !== 33) return null;
  try {
    const kP = Point.fromBytes(z).multiply(curve.invert(r, Point.CURVE().n));
    return sha256(concatBytes(SHARE_DOMAIN, h, kP.toBytes(true)));
  } catch {
    return null; // not a point: not a share
  }
}

/** A record an earlier version sealed under a plain handle, sealed again under a blinded one (when the hub gives
 * its share; else it stays as it is, and is asked the old way next time). */
async function reseal(m) {
  const h = randomBytes(HANDLE);
  const s = await fetchShare(h);
  if (!s) return;
  handle = h;
  share = s;
  meta = m;
  try {
    await writeMeta();
  } catch {
    /* storage refused: sealed again on the next write */
  }
}

/** On a plain-http page, the stored record opened with the hub's share (or a new handle and share for a new or
 * unsealed record). Returns the meta record to use, or undefined when the kept data cannot be opened. */
async function withShare(stored) {
  if (stored && stored.sealed) {
    const h = stored.h instanceof Uint8Array && [HANDLE, OLD_HANDLE].includes(stored.h.length) ? stored.h : null;
    const s = h && (await fetchShare(h));
    const m = s && openMeta(s, stored);
    if (!m) return undefined;
    handle = h;
    share = s;
    if (h.length === OLD_HANDLE) await reseal(m);
    return m;
  }
  const h = randomBytes(HANDLE);
  const s = await fetchShare(h);
  if (s) {
    handle = h;
    share = s;
  } else if (!stored) {
    return undefined; // never a new record in the clear: this visit keeps nothing (the hub serves the endpoint
    // with the app, so a missing share is a network fault or someone between the phone and the hub)
  }
  return stored; // sealed when next written (a record an earlier version kept in the clear stays usable)
}

// -- opening, locking ------------------------------------------------------------------------------------------

/** Open the vault: 'open' (no PIN: usable now) or 'locked' (unlock() first). A first visit makes a new vault. */
export async function open() {
  db = await openDb();
  try {
    meta = db ? (await request(db.transaction(META).objectStore(META).get('v'))) || null : null;
  } catch {
    meta = null;
  }
  if (SEALED && db) {
    const stored = meta;
    meta = await withShare(stored);
    if (meta === undefined) {
      closed = stored ? 'kept' : 'new'; // keep what was kept as it is for the real hub; this visit keeps nothing
      db.close();
      db = null;
      meta = null;
    } else if (share && stored && !stored.sealed) {
      try {
        await writeMeta(); // a record an earlier version kept in the clear, sealed now
      } catch {
        /* storage refused: sealed on the next write */
      }
    }
  }
  if (meta && meta.open) {
    keys = derive(meta.open);
    return 'open';
  }
  if (meta) return 'locked';
  const key = randomBytes(32);
  meta = { salt: randomBytes(16), ...KDF, slots: [randomBytes(SLOT), randomBytes(SLOT)], open: key };
  keys = derive(key);
  realSlot = -1;
  await deleteDb(LEGACY_DB);
  try {
    await writeMeta();
  } catch {
    /* storage full or refused: this visit only */
  }
  return 'open';
}

export const isLocked = () => keys === null;
/** 'kept' when what this browser kept for this address could not be opened this visit, 'new' when nothing can be
 * kept this visit (no share came), else false (see above). */
export const isClosed = () => closed;
/** True when the kept data is sealed under the hub's share (a plain-http page). */
export const isSealed = () => share !== null;
export const hasPin = () => Boolean(meta && !meta.open);

/** Try a PIN or passphrase: 'ok', 'wrong', or 'duress' (everything was erased; the vault is a new one). */
export async function unlock(secret) {
  if (failures) await sleep(Math.min(30, 2 ** (failures - 1)) * 1000);
  const kek = await kdf(secret, meta);
  for (let i = 0; i < meta.slots.length; i++) {
    const opened = openSlot(kek, meta.slots[i]);
    if (opened && opened[0] === REAL) {
      failures = 0;
      realSlot = i;
      keys = derive(opened.slice(1));
      return 'ok';
    }
    if (opened && opened[0] === DURESS) {
      failures = 0;
      await erase({ keepShell: true });
      await open();
      return 'duress';
    }
  }
  failures++;
  return 'wrong';
}

/** Re-encrypt every record under a new data key and write `next` meta, in one transaction. */
async function rekey(newKey, nextMeta) {
  let release;
  const previous = gate;
  gate = new Promise((resolve) => {
    release = resolve;
  });
  try {
    await previous;
    const fresh = derive(newKey);
    if (db) {
      const rows = await request(db.transaction(RECORDS).objectStore(RECORDS).getAll());
      const rewritten = [];
      for (const row of rows) {
        const value = openRecord(keys, row);
        if (value) rewritten.push(sealRecord(fresh, value.n, value.g, value.d));
      }
      const tx = db.transaction([META, RECORDS], 'readwrite');
      const store = tx.objectStore(RECORDS);
      store.clear();
      for (const row of rewritten) store.put(row);
      tx.objectStore(META).put(kept(nextMeta), 'v');
      await done(tx);
    }
    meta = nextMeta;
    keys = fresh;
  } finally {
    release();
  }
}

/** Lock the app with a PIN or passphrase (or change it): a new data key, every record re-encrypted. Returns
 * 'ok', 'short', or 'duress' (that is the duress PIN). */
export async function setPin(secret) {
  if (String(secret).length < MIN_PIN) return 'short';
  const kek = await kdf(secret, meta);
  const other = realSlot === -1 ? randomBytes(1)[0] & 1 : 1 - realSlot;
  const mine = 1 - other;
  const opened = openSlot(kek, meta.slots[other]);
  if (opened && opened[0] === DURESS) return 'duress';
  const newKey = randomBytes(32);
  const slots = [...meta.slots];
  slots[mine] = makeSlot(kek, REAL, newKey);
  await rekey(newKey, { ...meta, slots, open: null });
  realSlot = mine;
  return 'ok';
}

/** Set the duress PIN (a PIN must be set): 'ok', 'short', 'same' (that is the PIN itself), 'no-pin'. */
export async function setDuress(secret) {
  if (!hasPin() || realSlot === -1) return 'no-pin';
  if (String(secret).length < MIN_PIN) return 'short';
  const kek = await kdf(secret, meta);
  if (openSlot(kek, meta.slots[realSlot])) return 'same';
  const slots = [...meta.slots];
  slots[1 - realSlot] = makeSlot(kek, DURESS, randomBytes(32));
  meta = { ...meta, slots };
  await writeMeta();
  return 'ok';
}

/** Remove the PIN (and the duress PIN): the data key is written in the clear again. */
export async function removePin() {
  if (!hasPin() || !keys) return;
  meta = { ...meta, slots: [randomBytes(SLOT), randomBytes(SLOT)], open: keys.data };
  realSlot = -1;
  await writeMeta();
}

/** Forget the data key (the app asks for the PIN again). */
export function lock() {
  if (hasPin()) keys = null;
}

// -- erasing ---------------------------------------------------------------------------------------------------

/** Erase what this app keeps in the browser: every IndexedDB database of this site, local and session storage;
 * unless keepShell (the duress PIN, which must leave a working app), also the service worker's caches and the
 * service worker itself. */
export async function erase({ keepShell = false } = {}) {
  db?.close();
  db = null;
  keys = null;
  meta = null;
  realSlot = -1;
  handle = share = null;
  closed = false;
  const names = new Set([DB, LEGACY_DB]);
  try {
    for (const d of (await indexedDB.databases?.()) || []) if (d.name) names.add(d.name);
  } catch {
    /* databases() is missing in older browsers: the known names are deleted */
  }
  await Promise.all([...names].map(deleteDb));
  for (const storage of ['localStorage', 'sessionStorage']) {
    try {
      self[storage].clear();
    } catch {
      /* no storage */
    }
  }
  if (keepShell) return;
  try {
    await Promise.all((await caches.keys()).map((name) => caches.delete(name)));
  } catch {
    /* no Cache Storage (plain http) */
  }
  try {
    await Promise.all((await navigator.serviceWorker.getRegistrations()).map((r) => r.unregister()));
  } catch {
    /* no service worker (plain http) */
  }
}

// -- records ---------------------------------------------------------------------------------------------------

/** The settings object, or null. */
export function getSettings() {
  return read(async (store, k) => {
    const row = await request(store.get(nameOf(k, SETTINGS)));
    const value = openRecord(k, row);
    return value ? value.d : null;
  }, null);
}

export function putSettings(value) {
  return write((store, k) => store.put(sealRecord(k, SETTINGS, SETTINGS, value)));
}

const group = (ch) => `events\n${ch}`;
const eventName = (ch, id) => `event\n${ch}\n${id}`;

/** Keep events (objects with an id) under a group name (a channel address, "dir", "vouches"). */
export function saveEvents(ch, events) {
  if (!events.length) return Promise.resolve();
  return write((store, k) => {
    for (const e of events) store.put(sealRecord(k, eventName(ch, e.id), group(ch), e));
  });
}

export function loadEvents(ch) {
  return read(async (store, k) => {
    const rows = await request(store.index('g').getAll(nameOf(k, group(ch))));
    const out = [];
    for (const row of rows) {
      const value = openRecord(k, row);
      if (value && value.g === group(ch)) out.push(value.d);
    }
    return out;
  }, []);
}

export function deleteEvents(ch, ids) {
  return write((store, k) => {
    for (const id of ids) store.delete(nameOf(k, eventName(ch, id)));
  });
}

/** How many events are kept: of a group, or in all (every record but the settings). */
export function countEvents(ch) {
  return read(async (store, k) => {
    if (ch !== undefined) return request(store.index('g').count(nameOf(k, group(ch))));
    const [all, settings] = await Promise.all([request(store.count()), request(store.count(nameOf(k, SETTINGS)))]);
    return all - settings;
  }, 0);
}

// -- sealed values (history entries) ---------------------------------------------------------------------------

const HISTORY = utf8ToBytes('history');

function toBase64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** A short encrypted string for `value` (null while locked). */
export function seal(value) {
  return keys ? toBase64(encrypt(keys.enc, value, HISTORY)) : null;
}

/** The value seal() made, or null (another vault's, damaged, or locked). */
export function unseal(text) {
  if (!keys || typeof text !== 'string') return null;
  try {
    const value = decrypt(keys.enc, Uint8Array.from(atob(text), (c) => c.charCodeAt(0)), HISTORY);
    return value === undefined ? null : value;
  } catch {
    return null;
  }
}
