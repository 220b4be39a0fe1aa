// The newest posts of the node's own and followed channels, carried in the page (web/app.py, chosen by
// services/start_posts.py): a channel opened by link on a first visit is shown from them at once, before the
// relay's WebSocket has even opened; the relay's newer events are merged as they come (views/channel.js).
//
// The page is trusted no more than a relay: each embedded event's id must be the SHA-256 of its canonical form
// and its BIP-340 signature must hold (@noble/secp256k1, in the page's script: a worker would cost a request, 2 s
// on a slow link), or it is dropped; the channel view then applies the same thread rules (rules.js) as to any
// event, so a stranger's post is not shown either. Only the opened channel's events are verified, once. The page
// also carries those channels' definitions here, for its first script (first.js), which runs before the seed.
// The service worker's kept copy of the page carries none of them (sw.js).

import * as secp from '@noble/secp256k1';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

secp.hashes.sha256 = sha256;

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const KINDS = new Set([30333, 2333, 5, 1985]);

let groups = null; // channel address -> events of the page that belong to it (unverified)
let definitions = null; // channel address -> its definitions in the page (unverified)
const verifiedFor = new Map(); // channel address -> {events (in the order checked), next, ok (those that passed)}

const values = (e, name) => e.tags.filter((t) => Array.isArray(t) && t[0] === name && typeof t[1] === 'string').map((t) => t[1]);

function shaped(e) {
  return e && typeof e === 'object' && KINDS.has(e.kind) && Array.isArray(e.tags) && e.tags.length <= 2000
    && typeof e.content === 'string' && Number.isSafeInteger(e.created_at) && typeof e.id === 'string'
    && HEX64.test(e.id) && typeof e.pubkey === 'string' && HEX64.test(e.pubkey) && typeof e.sig === 'string'
    && HEX128.test(e.sig);
}

function read() {
  groups = new Map();
  definitions = new Map();
  let events = [];
  try {
    events = JSON.parse(document.getElementById('posts')?.textContent || '[]');
  } catch {
    return;
  }
  if (!Array.isArray(events)) return;
  const channelOf = new Map(); // post id -> channel address
  const add = (address, e) => {
    if (!groups.has(address)) groups.set(address, []);
    groups.get(address).push(e);
  };
  for (const e of events.filter(shaped)) {
    if (e.kind === 30333) {
      const address = `30333:${e.pubkey}:${values(e, 'd')[0] || ''}`;
      definitions.set(address, [...(definitions.get(address) || []), e]);
    }
    if (e.kind !== 2333) continue;
    for (const address of values(e, 'a').slice(0, 1)) {
      channelOf.set(e.id, address);
      add(address, e);
    }
  }
  for (const e of events.filter(shaped)) {
    if (e.kind === 2333 || e.kind === 30333) continue;
    const address = values(e, 'e').map((id) => channelOf.get(id)).find(Boolean);
    if (address) add(address, e);
  }
}

/** Whether `e` is signed as it says (id and signature). */
export function genuine(e) {
  try {
    const payload = JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content]);
    return bytesToHex(sha256(utf8ToBytes(payload))) === e.id
      && secp.schnorr.verify(hexToBytes(e.sig), hexToBytes(e.id), hexToBytes(e.pubkey));
  } catch {
    return false;
  }
}

// A signature check takes several milliseconds in JavaScript (tens on a slow phone): a channel's 50 posts are
// checked a few at a time, the page's thread yielding between slices, and shown as they pass (verifying()).
// Deletions and labels first, then the posts newest first (a correction before the post it corrects).
const SLICE_MS = 6;

function progressOf(address) {
  if (!groups) read();
  if (!verifiedFor.has(address)) {
    const events = groups.get(address) || [];
    const ordered = [...events.filter((e) => e.kind !== 2333), ...events.filter((e) => e.kind === 2333)];
    verifiedFor.set(address, { events: ordered, next: 0, ok: [] });
  }
  return verifiedFor.get(address);
}

function step(progress) {
  const e = progress.events[progress.next++];
  if (genuine(e)) progress.ok.push(e);
}

/** The page's events of the channel at `address`, all verified now (an empty list when the page carries none). */
export function embedded(address) {
  const progress = progressOf(address);
  while (progress.next < progress.events.length) step(progress);
  return progress.ok;
}

const pauses = [];
let port = null;

/** Yield to the browser (a message to itself: not clamped like a timer). */
function pause() {
  if (!port) {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => pauses.shift()?.();
    port = channel.port2;
  }
  return new Promise((resolve) => {
    pauses.push(resolve);
    port.postMessage(0);
  });
}

// Off the page's thread where it can be: the page's first script (first.js) starts Web Workers running its own
// code (a Blob of its text: no request, no second copy in the page; the policy's worker-src allows blob:), and the
// events are checked there, split between them. Where that fails, a slice at a time on the page's thread.
let workers = [];
let asked = 0;
const answers = new Map();

/** Check events in `workers` (Web Workers answering {id, ok: [booleans]}: first.js). */
export function useWorkers(list) {
  workers = list;
  for (const worker of list) {
    worker.onmessage = ({ data }) => answers.get(data?.id)?.(data.ok);
    worker.onerror = () => {
      workers = workers.filter((w) => w !== worker);
      for (const resolve of answers.values()) resolve(null); // asked again on the page's thread
    };
  }
}

function inWorkers(events) {
  const parts = workers.map((worker, i) => new Promise((resolve) => {
    const id = ++asked;
    const mine = events.filter((_, j) => j % workers.length === i);
    answers.set(id, (ok) => {
      answers.delete(id);
      resolve(Array.isArray(ok) && ok.length === mine.length ? mine.filter((_, j) => ok[j] === true) : null);
    });
    worker.postMessage({ id, events: mine });
  }));
  return Promise.all(parts).then((done) => (done.every(Array.isArray) ? done.flat() : null));
}

/** Verify the page's events of the channel at `address` (in the workers, else a slice at a time); `onVerified(events)`
 * gets each event that passed once (at once for those already verified). Resolves when all are checked. */
export async function verifying(address, onVerified) {
  const progress = progressOf(address);
  let sent = 0;
  const flush = () => {
    if (progress.ok.length > sent) {
      const fresh = progress.ok.slice(sent);
      sent = progress.ok.length;
      onVerified(fresh);
    }
  };
  flush();
  if (workers.length && progress.next < progress.events.length) {
    if (!progress.asked) {
      const rest = progress.events.slice(progress.next);
      progress.asked = inWorkers(rest).then((ok) => {
        if (ok && progress.next < progress.events.length) {
          const passed = new Set(ok);
          progress.ok.push(...rest.filter((e) => passed.has(e))); // in the order checked
          progress.next = progress.events.length;
        }
      });
    }
    await progress.asked;
    flush();
  }
  while (progress.next < progress.events.length) {
    const start = performance.now();
    while (progress.next < progress.events.length && performance.now() - start < SLICE_MS) step(progress);
    flush();
    if (progress.next < progress.events.length) await pause();
  }
  flush();
}

/** The definitions of the channel at `address` that the page carries with its posts, verified. */
export function embeddedDefinitions(address) {
  if (!groups) read();
  return (definitions.get(address) || []).filter(genuine);
}
