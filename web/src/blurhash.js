// Blurhash (https://blurha.sh) for photos: a 20-30 character string in a post's imeta tag that a reader draws at
// once, before any image byte has arrived, and that the composer computes from the photo it uploads. The maths
// is npm `blurhash` (decode and encode); this module only puts it on a canvas.

import { decode, encode, isBlurhashValid } from 'blurhash';

const SIDE = 32; // pixels of the decoded picture's long side; the canvas is stretched by CSS

/** A canvas showing `hash` with the photo's aspect ratio (width / height), or null when the hash is not valid. */
export function blurhashCanvas(hash, aspect) {
  if (typeof hash !== 'string' || hash.length > 100 || !isBlurhashValid(hash).result) return null;
  const ratio = aspect > 0 && Number.isFinite(aspect) ? Math.min(Math.max(aspect, 0.1), 10) : 1;
  const w = ratio >= 1 ? SIDE : Math.max(1, Math.round(SIDE * ratio));
  const h = ratio >= 1 ? Math.max(1, Math.round(SIDE / ratio)) : SIDE;
  let pixels;
  try {
    pixels = decode(hash, w, h);
  } catch {
    return null;
  }
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  canvas.className = 'blurhash';
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(w, h);
  image.data.set(pixels);
  ctx.putImageData(image, 0, 0);
  return canvas;
}

/** The blurhash of what `source` (a canvas or bitmap) shows: 4 × 3 components, from a 32-pixel copy. */
export function blurhashOf(source, width, height) {
  const w = width >= height ? SIDE : Math.max(1, Math.round((SIDE * width) / height));
  const h = width >= height ? Math.max(1, Math.round((SIDE * height) / width)) : SIDE;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(source, 0, 0, w, h);
  return encode(ctx.getImageData(0, 0, w, h).data, w, h, 4, 3);
}
