// A Web Worker (/verify-worker.js) that reads a bundle file and verifies every event in it, off the page's thread:
// the page stays responsive and shows progress. Each record must have the event's shape, its id must be the
// SHA-256 of its canonical serialisation, and its BIP-340 signature must hold; anything else is counted as
// invalid and dropped. Only the kinds the app shows are handed back (channel definitions and posts, deletion
// requests, labels), and only events not yet expired (NIP-40, as a node's import); others are counted as skipped.
//
// Signatures: libsecp256k1 compiled to WebAssembly (the npm package tiny-secp256k1's secp256k1.wasm, ~12x faster
// than pure JavaScript: docs/benchmarks.md), fetched from the node on first use and kept by the service worker;
// @noble/secp256k1 (pure JavaScript) where WebAssembly is missing or the file cannot be had (offline before it
// was ever fetched). The node serves this worker with a CSP that allows compiling WebAssembly
// ('wasm-unsafe-eval'), and the page without it.
//
// Messages: in {verify: events, seq} (events from a mirror, mirrors.js); out {type: 'verified', seq, events}
// (only the valid ones). In {file} (a File or Blob); out {type: 'progress' | 'events' | 'done', ...}. It also writes bundles
// for the page (in {write: events}; out {type: 'bundle', blob}), so that bundle.js is not in the page's script.

import * as secp from '@noble/secp256k1';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { BundleReader, BundleError, writeBundle } from './bundle.js';
import { OpeningReader, looksPlain, plainBytes, sealBlob } from './bundle_seal.js';
import { isExpired } from './rules.js';

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const KINDS = new Set([30333, 2333, 5, 1985]);
const BATCH = 500;
const encoder = new TextEncoder();

secp.hashes.sha256 = sha256;

/** A schnorr verifier backed by tiny-secp256k1's WebAssembly build, or null. */
async function wasmVerifier() {
  if (typeof WebAssembly !== 'object') return null;
  try {
    const response = await fetch('/secp256k1.wasm');
    if (!response.ok) return null;
    const bytes = await response.arrayBuffer();
    const imports = {
      './rand.js': {
        generateInt32: () => crypto.getRandomValues(new Int32Array(1))[0],
      },
      './validate_error.js': { throwError: (code) => { throw new TypeError(`secp256k1 error ${code}`); } },
    };
    const { instance } = await WebAssembly.instantiate(bytes, imports);
    const x = instance.exports;
    x.initializeContext?.();
    const at = (name) => x[name].value;
    const hashAt = at('HASH_INPUT'), keyAt = at('X_ONLY_PUBLIC_KEY_INPUT'), sigAt = at('SIGNATURE_INPUT');
    let memory = new Uint8Array(x.memory.buffer);
    const verify = (msg, pubkey, sig) => {
      if (memory.byteLength === 0) memory = new Uint8Array(x.memory.buffer); // the memory grew
      memory.set(msg, hashAt);
      memory.set(pubkey, keyAt);
      memory.set(sig, sigAt);
      try {
        return x.verifySchnorr() === 1;
      } catch {
        return false; // not a point, or a signature out of range
      }
    };
    // A known-good and a known-bad signature, so that a broken build never passes everything.
    const secret = secp.utils.randomSecretKey();
    const msg = sha256(encoder.encode('samizdat'));
    const sig = secp.schnorr.sign(msg, secret);
    const pub = secp.schnorr.getPublicKey(secret);
    if (!verify(msg, pub, sig)) return null;
    sig[5] ^= 1;
    if (verify(msg, pub, sig)) return null;
    return verify;
  } catch {
    return null;
  }
}

const jsVerifier = (msg, pubkey, sig) => {
  try {
    return secp.schnorr.verify(sig, msg, pubkey);
  } catch {
    return false;
  }
};

function wellFormed(e) {
  return typeof e.id === 'string' && HEX64.test(e.id) && typeof e.pubkey === 'string' && HEX64.test(e.pubkey)
    && typeof e.sig === 'string' && HEX128.test(e.sig) && Number.isSafeInteger(e.created_at) && e.created_at >= 0
    && Number.isSafeInteger(e.kind) && e.kind >= 0 && e.kind <= 65535 && typeof e.content === 'string'
    && Array.isArray(e.tags) && e.tags.every((t) => Array.isArray(t) && t.every((v) => typeof v === 'string'));
}

function idOf(e) {
  return sha256(encoder.encode(JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content])));
}

let verifierReady = null;
const verifier = () => verifierReady || (verifierReady = wasmVerifier().then((v) => v || jsVerifier));

/** Whether `e` is a well-formed event whose id and signature hold. */
function valid(e, verify) {
  if (!e || typeof e !== 'object' || !wellFormed(e)) return false;
  const id = idOf(e);
  return bytesToHex(id) === e.id && verify(id, hexToBytes(e.pubkey), hexToBytes(e.sig));
}

const SEALED_NEEDS_PASSPHRASE = 'this is not a Samizdat bundle (wrong magic bytes), or it is sealed: type its passphrase, then open it again';

async function importFile(file, passphrase) {
  const verify = await verifier();
  const kind = verify === jsVerifier ? 'js' : 'wasm';
  const reader = new BundleReader();
  const counts = { read: 0, valid: 0, invalid: 0, skipped: 0, damaged: 0, bytes: 0, total: file.size, verifier: kind };
  let batch = [];
  let lastProgress = 0;
  const progress = (force) => {
    const now = Date.now();
    if (force || now - lastProgress > 100) {
      lastProgress = now;
      postMessage({ type: 'progress', ...counts });
    }
  };
  const take = (items) => {
    for (const item of items) {
      if (item.damaged !== undefined) {
        counts.damaged += item.damaged;
        continue;
      }
      const e = item.event;
      counts.read++;
      if (!valid(e, verify)) {
        counts.invalid++;
        continue;
      }
      counts.valid++;
      if (!KINDS.has(e.kind) || isExpired(e, Math.floor(Date.now() / 1000))) { // expired: no node keeps it either
        counts.skipped++;
        continue;
      }
      const { id: eid, pubkey, created_at, kind, tags, content, sig } = e;
      batch.push({ id: eid, pubkey, created_at, kind, tags, content, sig });
      if (batch.length >= BATCH) {
        postMessage({ type: 'events', events: batch });
        batch = [];
      }
      progress(false);
    }
  };
  let error = null;
  try {
    // Not starting like a plain bundle: sealed (docs/bundle-format.md), opened with the passphrase typed.
    const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
    let opener = null;
    if (head.length && !looksPlain(head)) {
      if (!passphrase) throw new BundleError(SEALED_NEEDS_PASSPHRASE);
      opener = new OpeningReader(passphrase, BundleError);
    }
    const stream = file.stream().getReader();
    for (;;) {
      const { done, value } = await stream.read();
      if (done) break;
      counts.bytes += value.length;
      take(await reader.feed(opener ? plainBytes(await opener.feed(value)) : value));
      progress(false);
    }
    if (opener) take(await reader.feed(plainBytes(opener.close())));
    take(reader.close());
  } catch (exc) {
    error = exc instanceof BundleError ? exc.message : `the file cannot be read (${exc?.message || exc})`;
  }
  if (batch.length) postMessage({ type: 'events', events: batch });
  const summary = reader.summary();
  counts.damaged = Math.max(counts.damaged, summary.lost + summary.malformed);
  progress(true);
  postMessage({ type: 'done', error, ...counts, complete: summary.complete, problems: summary.problems });
}

self.onmessage = (message) => {
  if (message.data && Array.isArray(message.data.verify)) { // events from a mirror: only the valid ones go back
    const { seq, verify: events } = message.data;
    verifier().then((verify) => postMessage({ type: 'verified', seq, events: events.filter((e) => valid(e, verify)) }));
    return;
  }
  if (message.data && Array.isArray(message.data.write)) { // export: the page's events as a bundle file
    const { passphrase } = message.data;
    writeBundle(message.data.write).then((blob) => (passphrase ? sealBlob(blob, passphrase) : blob))
      .then((blob) => postMessage({ type: 'bundle', blob }),
      (exc) => postMessage({ type: 'error', error: String(exc?.message || exc) }));
    return;
  }
  const file = message.data && message.data.file;
  if (!(file instanceof Blob)) {
    postMessage({ type: 'done', error: 'no file', read: 0, valid: 0, invalid: 0, skipped: 0, damaged: 0 });
    return;
  }
  importFile(file, message.data.passphrase || '').catch((exc) => postMessage({ type: 'done', error: String(exc?.message || exc), read: 0, valid: 0, invalid: 0, skipped: 0, damaged: 0 }));
};
