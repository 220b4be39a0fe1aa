// Photos in posts, the browser's half (docs/web.md, "Photos"): re-encoding on the phone, the node's face-blur
// preview, Blossom uploads, imeta tags, and what a reader's link allows.
//
// Theory of operation. A picked file never leaves the phone as it is: it is decoded by the browser
// (createImageBitmap with the EXIF orientation applied; HEIC only where the browser itself decodes it), drawn on a
// canvas no larger than LONG_SIDE, and encoded as WebP by the canvas, quality step by step down to FULL_BYTES. A
// canvas keeps pixels only, so no EXIF, GPS, XMP, IPTC, maker note, ICC profile or embedded thumbnail survives.
// That WebP goes to the node's preview endpoint (a WebSocket, /media/preview: web/media.py), which answers with
// the faces blurred and stores nothing; the author sees the answer, taps to blur more (on the canvas: photo-compose.js), and
// only on Publish is the final canvas encoded again (full and THUMB_SIDE thumbnail, and its blurhash), each blob
// uploaded with BUD-02 `PUT /upload` and a kind-24242 authorization signed by the same key as the post, and the
// post carries one imeta tag per photo (docs/protocol.md).
//
// What only the author needs (re-encoding, the preview, uploads, imeta tags) is photo-compose.js, loaded with the
// compose screen (screens.js); this module keeps what readers need too.

import { state } from './state.js';

export const LONG_SIDE = 1600;
export const FULL_BYTES = 200_000;
export const THUMB_SIDE = 320;
export const THUMB_BYTES = 12_000;
export const MAX_PHOTOS = 8; // per post

/** A photo could not be used: its message is one sentence for the author. */
export class PhotoError extends Error {}

// -- imeta ------------------------------------------------------------------------------------------------------

/** The channel's media servers (its definition's `media` tags, https only). */
export function mediaServers(address) {
  const def = state.definitions.get(address);
  return (def?.tags || []).filter((tg) => tg[0] === 'media' && /^https:\/\/[^\s/?#]+/.test(tg[1] || '')).map((tg) => tg[1]);
}

/** core/imeta.media_url: on the first media server, else the bare BUD-01 file name `<sha256>.webp`. */
export function mediaUrl(server, sha) {
  return server ? `${server.replace(/\/+$/, '')}/${sha}.webp` : `${sha}.webp`;
}

export { photoRefs } from './imeta.js';

const EXT = { 'image/webp': 'webp', 'image/jpeg': 'jpg', 'image/png': 'png' };

/** Where to fetch a blob, in order: the node that served this app (`/<sha256>.<ext>`), then the imeta URL when it
 * is an https:// address (the page's CSP decides whether the browser may load it). */
export function sources(sha, url, mime = 'image/webp') {
  const out = [`/${sha}.${EXT[mime] || 'webp'}`];
  if (/^https:\/\/[^\s]+$/.test(url || '') && !out.includes(url)) out.push(url);
  return out;
}

// -- the reader's link --------------------------------------------------------------------------------------------

const SLOW = new Set(['slow-2g', '2g', '3g']);

/** Full images wait for a tap: the reader chose data saver, the browser asks to save data, or the link is slow or
 * a mobile one (navigator.connection, where the browser has it). */
export function savingData() {
  if (state.dataSaver) return true;
  const c = navigator.connection;
  return Boolean(c && (c.saveData || SLOW.has(c.effectiveType) || c.type === 'cellular'));
}
