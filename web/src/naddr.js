// NIP-19 `naddr` decoding (bech32, BIP-173, with its checksum), small enough for the page's first script
// (first.js): a channel opened by a link is found without loading the extras (nostr.js encodes and decodes the
// rest with @scure/base).

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
const MAX = 5000;

function polymod(values) {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i];
  }
  return chk;
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** {kind, pubkey, identifier, relays} of an naddr (with or without "nostr:"), or null when it is none. */
export function decodeNaddr(text) {
  const s = String(text || '').trim().toLowerCase().replace(/^nostr:/, '');
  const sep = s.lastIndexOf('1');
  if (s.length > MAX || s.slice(0, sep) !== 'naddr' || s.length - sep < 8) return null;
  const data = [];
  for (const c of s.slice(sep + 1)) {
    const v = CHARSET.indexOf(c);
    if (v < 0) return null;
    data.push(v);
  }
  const prefix = [...'naddr'].map((c) => c.charCodeAt(0));
  if (polymod([...prefix.map((c) => c >> 5), 0, ...prefix.map((c) => c & 31), ...data]) !== 1) return null;
  const bytes = [];
  let acc = 0, bits = 0;
  for (const v of data.slice(0, -6)) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >> bits) & 255);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1))) return null; // padding must be zero
  const out = { kind: null, pubkey: null, identifier: null, relays: [] };
  const utf8 = new TextDecoder();
  for (let i = 0; i + 2 <= bytes.length; ) {
    const type = bytes[i], len = bytes[i + 1], value = Uint8Array.from(bytes.slice(i + 2, i + 2 + len));
    if (value.length !== len) return null;
    if (type === 0 && out.identifier === null) out.identifier = utf8.decode(value);
    else if (type === 1) out.relays.push(utf8.decode(value));
    else if (type === 2 && len === 32) out.pubkey = hex(value);
    else if (type === 3 && len === 4) out.kind = ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
    i += 2 + len;
  }
  return out.kind !== null && out.pubkey && out.identifier !== null ? out : null;
}
