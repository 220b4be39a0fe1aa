// Photos in posts, the author's half (photos.js has the rules; docs/web.md, "Photos"): re-encoding on the phone,
// the node's face-blur preview, Blossom uploads and imeta tags. Loaded with the compose screen (screens.js), not
// in the page.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { blurhashOf } from './blurhash.js';
import { answerChallenge } from './oplogin.js';
import { state, now } from './state.js';
import { extras } from './lazy.js';
import { PhotoError, LONG_SIDE, FULL_BYTES, THUMB_SIDE, THUMB_BYTES } from './photos.js';

const QUALITIES = [0.82, 0.72, 0.62, 0.52, 0.42, 0.32, 0.22];
const SHRINKS = 6; // at most this many 80 % steps when even the lowest quality is too large
const PREVIEW_PATH = '/media/preview';
const PREVIEW_TIMEOUT = 60_000;

// -- re-encoding -------------------------------------------------------------------------------------------------

function canvasOf(width, height) {
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(width));
  canvas.height = Math.max(1, Math.round(height));
  return canvas;
}

/** `source` (bitmap, image or canvas, `width` × `height`) drawn on a canvas whose long side is at most `side`. */
export function scaled(source, width, height, side) {
  const k = Math.min(1, side / Math.max(width, height));
  const canvas = canvasOf(width * k, height * k);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  return canvas;
}

const toBlob = (canvas, quality) => new Promise((resolve) => canvas.toBlob(resolve, 'image/webp', quality));

const KEPT_CHUNKS = new Set(['VP8X', 'VP8 ', 'VP8L', 'ALPH']);
const fourcc = (b, at) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);

/** A WebP with only its picture: every chunk but VP8X, VP8, VP8L and ALPH dropped (Chromium's encoder adds an
 * sRGB ICC profile, ICCP; nothing identifying, but a phone's blobs carry pixels only), and VP8X's flags for ICC,
 * EXIF and XMP cleared. Bytes that are not a plain RIFF WebP are returned as they are (the node checks them). */
export function pixelsOnly(bytes) {
  if (bytes.length < 12 || fourcc(bytes, 0) !== 'RIFF' || fourcc(bytes, 8) !== 'WEBP') return bytes;
  const parts = [];
  for (let at = 12; at + 8 <= bytes.length;) {
    const size = bytes[at + 4] | (bytes[at + 5] << 8) | (bytes[at + 6] << 16) | (bytes[at + 7] << 24);
    const end = at + 8 + size + (size & 1);
    if (size < 0 || end > bytes.length + (size & 1)) return bytes;
    if (KEPT_CHUNKS.has(fourcc(bytes, at))) {
      const chunk = bytes.slice(at, Math.min(end, bytes.length));
      if (fourcc(chunk, 0) === 'VP8X') chunk[8] &= ~(0x20 | 0x08 | 0x04); // ICC, EXIF, XMP
      parts.push(chunk);
    }
    at = end;
  }
  const length = parts.reduce((n, p) => n + p.length, 12);
  const out = new Uint8Array(length);
  out.set(bytes.subarray(0, 12));
  new DataView(out.buffer).setUint32(4, length - 8, true);
  let at = 12;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The canvas as WebP of at most `maxBytes`: {bytes, width, height}. The first quality is a good one; when the
 * result is too large the next quality is guessed from how far off it was (WebP's size falls roughly with the
 * square of the quality here), then lowered step by step, then the picture is made smaller. Each try costs a full
 * encode (a quarter second for 1600 px on a phone), so a guess that lands saves most of the time. */
export async function encodeWebp(canvas, maxBytes, first = QUALITIES[0]) {
  let current = canvas;
  for (let shrink = 0; shrink <= SHRINKS; shrink++) {
    let q = first;
    for (let tries = 0; tries < QUALITIES.length && q >= QUALITIES[QUALITIES.length - 1] - 1e-9; tries++) {
      const blob = await toBlob(current, q);
      if (!blob || blob.type !== 'image/webp') throw new PhotoError('This browser cannot make WebP pictures.');
      const bytes = pixelsOnly(new Uint8Array(await blob.arrayBuffer()));
      if (bytes.length <= maxBytes) return { bytes, width: current.width, height: current.height };
      const guess = q * Math.sqrt((maxBytes * 0.92) / bytes.length);
      q = Math.round(Math.min(q - 0.08, guess) * 100) / 100;
    }
    current = scaled(current, current.width, current.height, Math.max(current.width, current.height) * 0.8);
  }
  throw new PhotoError('This photo does not get small enough.');
}

/** A picked file decoded (orientation applied) onto a canvas of at most LONG_SIDE. PhotoError (`message`:
 * the caller's sentence) when the browser cannot decode it, e.g. HEIC on most browsers but Safari. */
export async function decodeFile(file, message) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    throw new PhotoError(message);
  }
  try {
    return scaled(bitmap, bitmap.width, bitmap.height, LONG_SIDE);
  } finally {
    bitmap.close?.();
  }
}

/** Decode WebP bytes (the preview's answer) onto a canvas. */
export async function canvasFromBytes(bytes) {
  const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/webp' }));
  try {
    return scaled(bitmap, bitmap.width, bitmap.height, LONG_SIDE);
  } finally {
    bitmap.close?.();
  }
}

/** Blur the rectangle (fractions x, y, w, h of the picture) on `canvas`: a strong blur of a pixelated copy. */
export function blurRegion(canvas, [x, y, w, h]) {
  const px = Math.max(0, Math.floor(x * canvas.width)), py = Math.max(0, Math.floor(y * canvas.height));
  const pw = Math.min(canvas.width - px, Math.ceil(w * canvas.width)), ph = Math.min(canvas.height - py, Math.ceil(h * canvas.height));
  if (pw < 1 || ph < 1) return;
  const small = canvasOf(Math.max(1, pw / 16), Math.max(1, ph / 16)); // 16-pixel blocks
  small.getContext('2d').drawImage(canvas, px, py, pw, ph, 0, 0, small.width, small.height);
  const ctx = canvas.getContext('2d');
  ctx.save();
  ctx.beginPath();
  ctx.rect(px, py, pw, ph);
  ctx.clip();
  ctx.filter = `blur(${Math.max(4, Math.round(Math.min(pw, ph) / 12))}px)`;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, small.width, small.height, px - pw * 0.1, py - ph * 0.1, pw * 1.2, ph * 1.2);
  ctx.restore();
}

/** What is uploaded for a photo: full WebP, thumbnail, their sizes, the blurhash. */
export async function finish(canvas) {
  const full = await encodeWebp(canvas, FULL_BYTES);
  const small = scaled(canvas, canvas.width, canvas.height, THUMB_SIDE);
  const thumb = await encodeWebp(small, THUMB_BYTES);
  return { full, thumb, blurhash: blurhashOf(small, small.width, small.height) };
}

export const sha256Hex = (bytes) => bytesToHex(sha256(bytes));

// -- signing and the node ---------------------------------------------------------------------------------------

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** A kind-24242 authorization (Blossom BUD-01/02) for `verb` ('upload': `x` is the blob's hash; 'preview'),
 * signed by `signer` ({who: 'phone'|'operator'}), valid five minutes. */
export async function authorization(verb, signer, x = null) {
  const ts = now();
  const tags = [['t', verb], ['expiration', String(ts + 300)]];
  if (x) tags.push(['x', x]);
  const template = { kind: 24242, content: verb === 'upload' ? 'Upload a photo' : 'Preview a photo', tags, created_at: ts };
  if (signer.who === 'operator') {
    const r = await state.operator.request({ authorize: template }); // web/operator.py: signed, never published
    if (r.error) throw new PhotoError(r.error);
    return r.event;
  }
  return (await extras()).signEvent(template, state.secret);
}

/** BUD-02: upload `bytes` (WebP) to this node; its blob descriptor. PhotoError with the node's reason. */
export async function upload(bytes, signer) {
  const x = sha256Hex(bytes);
  const auth = await authorization('upload', signer, x);
  let response;
  try {
    response = await fetch('/upload', {
      method: 'PUT', body: bytes, cache: 'no-store',
      headers: { Authorization: `Nostr ${base64(JSON.stringify(auth))}`, 'Content-Type': 'image/webp', 'X-SHA-256': x },
    });
  } catch {
    throw new PhotoError('The node could not be reached to upload the photo.');
  }
  if (!response.ok) {
    const reason = response.headers.get('X-Reason') || (await response.text().catch(() => '')).trim().split('\n')[0];
    throw new PhotoError(`The node refused the photo: ${reason || response.status}`);
  }
  const descriptor = await response.json().catch(() => ({}));
  if (descriptor.sha256 && descriptor.sha256 !== x) throw new PhotoError('The node stored other bytes than were sent.');
  return { sha256: x, size: bytes.length };
}

/** The node's face-blurring preview over one WebSocket: `await p.preview(bytes)` -> {bytes, faces}. */
export class Previewer {
  constructor(signer) {
    this.signer = signer;
    this.ws = null;
    this.ready = null;
    this.waiting = new Map(); // id -> {resolve, reject, timer}
    this.next = 1;
  }

  open() {
    if (this.ready) return this.ready;
    this.ready = (async () => {
      const operator = this.signer.who === 'operator';
      const first = operator ? { login: 'challenge' } : { auth: await authorization('preview', this.signer) };
      const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${PREVIEW_PATH}`);
      ws.binaryType = 'arraybuffer';
      await new Promise((resolve, reject) => {
        ws.onopen = () => ws.send(JSON.stringify(first));
        ws.onmessage = (ev) => {
          const answer = typeof ev.data === 'string' ? JSON.parse(ev.data) : {};
          if (operator && answerChallenge(ws, answer, state.operator.token)) return; // the session code never travels
          if (answer.ok) resolve();
          else reject(new PhotoError(answer.error || 'The node refused the preview.'));
        };
        ws.onerror = ws.onclose = (ev) => reject(new PhotoError(ev.reason || 'The node’s photo preview cannot be reached.'));
      });
      ws.onmessage = (ev) => this.answer(ev.data);
      ws.onclose = ws.onerror = (ev) => {
        this.ready = null;
        for (const w of this.waiting.values()) w.reject(new PhotoError(ev.reason || 'The node’s photo preview closed.'));
        this.waiting.clear();
      };
      this.ws = ws;
    })();
    this.ready.catch(() => { this.ready = null; });
    return this.ready;
  }

  answer(data) {
    if (!(data instanceof ArrayBuffer) || data.byteLength < 4) return;
    const view = new DataView(data);
    const n = view.getUint32(0);
    let head;
    try {
      head = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, n)));
    } catch {
      return;
    }
    const w = this.waiting.get(head.id);
    if (!w) return;
    this.waiting.delete(head.id);
    clearTimeout(w.timer);
    if (head.error) w.reject(new PhotoError(head.error));
    else w.resolve({ bytes: new Uint8Array(data, 4 + n), faces: Array.isArray(head.faces) ? head.faces : [] });
  }

  /** `bytes` (WebP) with faces and `regions` (fractions x, y, w, h) blurred by the node. */
  async preview(bytes, regions = []) {
    await this.open();
    const id = this.next++;
    const head = new TextEncoder().encode(JSON.stringify({ id, regions, blur: true }));
    const frame = new Uint8Array(4 + head.length + bytes.length);
    new DataView(frame.buffer).setUint32(0, head.length);
    frame.set(head, 4);
    frame.set(bytes, 4 + head.length);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new PhotoError('The node took too long to check the photo.'));
      }, PREVIEW_TIMEOUT);
      this.waiting.set(id, { resolve, reject, timer });
      this.ws.send(frame);
    });
  }

  close() {
    this.ws?.close();
    this.ws = null;
    this.ready = null;
  }
}

// -- imeta ------------------------------------------------------------------------------------------------------

/** The NIP-92 imeta tag of a photo (core/imeta.imeta_tag). */
export function imetaTag(ref) {
  const tag = ['imeta', `url ${ref.url}`, `x ${ref.sha256}`, 'm image/webp', `dim ${ref.width}x${ref.height}`];
  if (ref.blurhash) tag.push(`blurhash ${ref.blurhash}`);
  if (ref.alt) tag.push(`alt ${ref.alt.replace(/\s+/g, ' ').trim()}`);
  tag.push(`size ${ref.size}`);
  if (ref.thumbSha256) tag.push(`thumb ${ref.thumbUrl}`, `thumbx ${ref.thumbSha256}`);
  return tag;
}
