// Nostr events in the browser: ids, BIP-340 signatures (@noble/secp256k1), NIP-19 names (bech32 via @scure/base).
//
// Only synchronous hashing (@noble/hashes) is used: WebCrypto's subtle API is missing on plain-http pages such
// as a hub's http://192.168.x.y:4848/, and the app must work there.

import * as secp from '@noble/secp256k1';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { bech32 } from '@scure/base';

secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg);

const HEX64 = /^[0-9a-f]{64}$/;
const BECH32_LIMIT = 5000;

export function generateSecret() {
  return bytesToHex(secp.utils.randomSecretKey());
}

export function publicKey(secretHex) {
  return bytesToHex(secp.schnorr.getPublicKey(hexToBytes(secretHex)));
}

export function eventId(e) {
  const payload = JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content]);
  return bytesToHex(sha256(utf8ToBytes(payload)));
}

/** Sign a template {kind, content, tags, created_at} with the secret key (hex). */
export function signEvent(template, secretHex) {
  const e = {
    pubkey: publicKey(secretHex),
    created_at: template.created_at ?? Math.floor(Date.now() / 1000),
    kind: template.kind,
    tags: template.tags,
    content: template.content,
  };
  e.id = eventId(e);
  e.sig = bytesToHex(secp.schnorr.sign(hexToBytes(e.id), hexToBytes(secretHex)));
  return e;
}

export function verifyEvent(e) {
  try {
    return eventId(e) === e.id && secp.schnorr.verify(hexToBytes(e.sig), hexToBytes(e.id), hexToBytes(e.pubkey));
  } catch {
    return false;
  }
}

// -- NIP-19 ---------------------------------------------------------------------------------------------

function encode(prefix, bytes) {
  return bech32.encode(prefix, bech32.toWords(bytes), BECH32_LIMIT);
}

function decode(text) {
  const { prefix, words } = bech32.decode(text.trim().toLowerCase().replace(/^nostr:/, ''), BECH32_LIMIT);
  return { prefix, bytes: bech32.fromWords(words) };
}

export const npubEncode = (hex) => encode('npub', hexToBytes(hex));
export const nsecEncode = (hex) => encode('nsec', hexToBytes(hex));

/** A secret key given as nsec or 64 hex characters, as hex; throws Error with a sentence otherwise. */
export function parseSecret(text) {
  const t = text.trim();
  if (HEX64.test(t.toLowerCase())) return t.toLowerCase();
  let decoded;
  try {
    decoded = decode(t);
  } catch {
    throw new Error('not-a-key');
  }
  if (decoded.prefix !== 'nsec' || decoded.bytes.length !== 32) throw new Error('not-a-key');
  const hex = bytesToHex(decoded.bytes);
  publicKey(hex); // throws for 0 or >= n
  return hex;
}

/** A public key given as npub or hex, as hex; null when it is neither. */
export function parsePubkey(text) {
  const t = text.trim().toLowerCase();
  if (HEX64.test(t)) return t;
  try {
    const { prefix, bytes } = decode(t);
    return prefix === 'npub' && bytes.length === 32 ? bytesToHex(bytes) : null;
  } catch {
    return null;
  }
}

export function naddrEncode(kind, pubkey, identifier, relays = []) {
  const parts = [];
  const tlv = (type, value) => {
    parts.push(type, value.length, ...value);
  };
  tlv(0, utf8ToBytes(identifier));
  for (const r of relays) tlv(1, utf8ToBytes(r));
  tlv(2, hexToBytes(pubkey));
  tlv(3, [(kind >>> 24) & 255, (kind >>> 16) & 255, (kind >>> 8) & 255, kind & 255]);
  return encode('naddr', Uint8Array.from(parts));
}

/** {kind, pubkey, identifier, relays} of an naddr, or of "kind:pubkey:d"; null when it is neither. */
export function parseAddress(text) {
  const t = text.trim();
  const m = /^([0-9]{1,6}):([0-9a-f]{64}):(.+)$/.exec(t);
  if (m) return { kind: Number(m[1]), pubkey: m[2], identifier: m[3], relays: [] };
  let decoded;
  try {
    decoded = decode(t);
  } catch {
    return null;
  }
  if (decoded.prefix !== 'naddr') return null;
  const b = decoded.bytes;
  const out = { kind: null, pubkey: null, identifier: null, relays: [] };
  for (let i = 0; i + 2 <= b.length; ) {
    const type = b[i], len = b[i + 1], value = b.slice(i + 2, i + 2 + len);
    if (value.length !== len) return null;
    if (type === 0 && out.identifier === null) out.identifier = new TextDecoder().decode(value);
    else if (type === 1) out.relays.push(new TextDecoder().decode(value));
    else if (type === 2 && len === 32) out.pubkey = bytesToHex(value);
    else if (type === 3 && len === 4) out.kind = ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
    i += 2 + len;
  }
  return out.kind !== null && out.pubkey && out.identifier !== null ? out : null;
}
