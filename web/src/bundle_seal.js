// Sealed bundles in the browser: the same bytes as core/bundle_seal.py (docs/bundle-format.md, "Sealed parts"), so
// that a phone opens what `samizdat export --seal` wrote and the other way round; web/test/seal_cases.json holds
// the vectors both run (tests/web/test_seal_parity.py).
//
// Theory of operation. A sealed part is `salt (16) | chunk 0 (4080) | chunk 1 (4096) | ...`: the plain part cut
// into pieces, each `u16 n | n bytes | zeros` under ChaCha20-Poly1305 (nonce: 4 zero bytes and the chunk's index
// as u64), key scrypt(NFKC(passphrase), salt, N = 2^16, r = 8, p = 1): the PIN vault's cost (vault.js), about a
// second on a phone. No magic, no lengths in the clear, the number of chunks padded to 1, 2, 3, 4, 6, 8, 12, ...
// A chunk that does not open is lost alone (the plain reader resyncs after the gap); when none of the first
// CHUNKS_TO_OPEN opens, the passphrase is wrong and nothing comes out. @noble (not WebCrypto): a node's page is
// plain http on a LAN, where crypto.subtle is missing.

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';

export const CHUNK = 4096;
const SALT = 16;
const TAG = 16;
const LOG_N = 16;
export const CHUNKS_TO_OPEN = 8;
export const WRONG_PASSPHRASE = 'the passphrase does not open this file (or it is not a Samizdat bundle)';
/** What the plain reader is given for a lost chunk 0: the magic, version 1 and a checksum that fails. */
const STAND_IN_HEADER = (() => {
  const h = new Uint8Array(64);
  h.set(new TextEncoder().encode('SMZDBNDL'), 0);
  h[8] = 1;
  return h;
})();

export const deriveKey = (passphrase, salt) => scryptAsync(new TextEncoder().encode(passphrase.normalize('NFKC')),
  salt, { N: 2 ** LOG_N, r: 8, p: 1, dkLen: 32, asyncTick: 25 });

const capacity = (index) => CHUNK - TAG - 2 - (index === 0 ? SALT : 0);

function nonce(index) {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(index));
  return n;
}

/** `chunks` rounded up to the next 1, 2, 3, 4, 6, 8, 12, ..., but not past `most`. */
export function paddedChunks(chunks, most = Infinity) {
  let size = 1;
  while (size < chunks) {
    const power = (size & (size - 1)) === 0;
    size = power && size >= 2 ? (size * 3) / 2 : size % 3 === 0 ? (size / 3) * 4 : size * 2;
  }
  return Math.max(chunks, Math.min(size, most));
}

/** Whether the first bytes of a file are those of a plain bundle (else it is sealed, or not a bundle at all). */
export function looksPlain(head) {
  const magic = 'SMZDBNDL';
  for (let i = 0; i < Math.min(head.length, magic.length); i++) if (head[i] !== magic.charCodeAt(i)) return false;
  return true;
}

/** The plain part `plain` (bytes) sealed under `passphrase`: a Uint8Array, a multiple of CHUNK bytes. */
export async function seal(plain, passphrase, randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n))) {
  const salt = randomBytes(SALT);
  const key = await deriveKey(passphrase, salt);
  const pieces = [];
  let at = 0;
  while (at < plain.length || pieces.length === 0) {
    const room = capacity(pieces.length);
    pieces.push(plain.subarray(at, at + room));
    at += room;
  }
  const total = paddedChunks(pieces.length);
  while (pieces.length < total) pieces.push(new Uint8Array(0));
  const out = new Uint8Array(total * CHUNK);
  out.set(salt, 0);
  let pos = SALT;
  pieces.forEach((data, index) => {
    const frame = new Uint8Array(capacity(index) + 2);
    new DataView(frame.buffer).setUint16(0, data.length);
    frame.set(data, 2);
    const sealed = chacha20poly1305(key, nonce(index)).encrypt(frame);
    out.set(sealed, pos);
    pos += sealed.length;
  });
  return out;
}

/** The Blob of a plain part, sealed: a Blob of random-looking bytes (the web app makes one part, held whole). */
export async function sealBlob(blob, passphrase) {
  return new Blob([await seal(new Uint8Array(await blob.arrayBuffer()), passphrase)], { type: 'application/octet-stream' });
}

/** The plain bytes among an OpeningReader's items, joined (a lost chunk is a gap the plain reader resyncs after). */
export function plainBytes(items) {
  const parts = items.filter((i) => i instanceof Uint8Array);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A sealed part fed in pieces of any size; feed() and close() resolve to lists of Uint8Array (the plain part's
 * bytes) and {lost: index} (a chunk that did not open), in file order. Both throw `new ErrorClass(WRONG_PASSPHRASE)`
 * when none of the first chunks opens. */
export class OpeningReader {
  constructor(passphrase, ErrorClass = Error) {
    this.passphrase = passphrase;
    this.ErrorClass = ErrorClass;
    this.key = null;
    this.buf = new Uint8Array(0);
    this.index = 0;
    this.opened = false;
    this.held = [];
    this.lost = 0;
  }

  async feed(data) {
    const joined = new Uint8Array(this.buf.length + data.length);
    joined.set(this.buf, 0);
    joined.set(data, this.buf.length);
    this.buf = joined;
    const out = [];
    if (this.key === null) {
      if (this.buf.length < SALT) return out;
      this.key = await deriveKey(this.passphrase, this.buf.slice(0, SALT));
      this.buf = this.buf.slice(SALT);
    }
    let at = 0;
    while (this.buf.length - at >= this.size(this.index)) {
      const size = this.size(this.index);
      this.open(this.buf.subarray(at, at + size), out);
      at += size;
    }
    this.buf = this.buf.slice(at);
    return this.release(out);
  }

  close() {
    const out = [];
    if (this.buf.length || (this.key === null && !this.opened)) {
      this.markLost(out);
      this.buf = new Uint8Array(0);
    }
    if (!this.opened) throw new this.ErrorClass(WRONG_PASSPHRASE);
    return this.release(out);
  }

  size(index) {
    return CHUNK - (index === 0 ? SALT : 0);
  }

  open(sealed, out) {
    let plain;
    try {
      plain = chacha20poly1305(this.key, nonce(this.index)).decrypt(sealed);
    } catch {
      this.markLost(out);
      return;
    }
    const n = new DataView(plain.buffer, plain.byteOffset, 2).getUint16(0);
    if (n > plain.length - 2) {
      this.markLost(out);
      return;
    }
    if (!this.opened && this.index > 0) out.push(STAND_IN_HEADER.slice());
    this.opened = true;
    this.index++;
    if (n) out.push(plain.slice(2, 2 + n));
  }

  markLost(out) {
    out.push({ lost: this.index });
    this.index++;
    this.lost++;
  }

  release(out) {
    if (this.opened) {
      const held = this.held;
      this.held = [];
      return [...held, ...out];
    }
    this.held.push(...out);
    if (this.index >= CHUNKS_TO_OPEN) throw new this.ErrorClass(WRONG_PASSPHRASE);
    return [];
  }
}
