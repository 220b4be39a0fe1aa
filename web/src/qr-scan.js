// Reading a QR code for a shared link (follow-link.js: the panel that asks for it), in /screens.js, loaded on
// first use: the browser's BarcodeDetector where it exists, else a small decoder (npm jsqr, /qr-read.js) loaded
// only when needed; from the camera, or from a photo.

import { h, mount } from './dom.js';
import { t } from './i18n.js';
import { naddrIn } from './follow-link.js';

const SCAN_MS = 250;
const SCAN_LIMIT = 4 * 60 * 4; // four minutes of frames, then the camera is closed

let decoderLoading = null;

function jsDecoder() {
  if (self.samizdatQr) return Promise.resolve(self.samizdatQr);
  if (!decoderLoading) {
    decoderLoading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = '/qr-read.js';
      script.onload = () => resolve(self.samizdatQr);
      script.onerror = () => {
        decoderLoading = null;
        script.remove();
        reject(new Error('offline'));
      };
      document.head.appendChild(script);
    });
  }
  return decoderLoading;
}

/** A function (canvas-drawable source, width, height) -> Promise<text | null>. */
async function decoder() {
  if (typeof BarcodeDetector === 'function') {
    try {
      const formats = await BarcodeDetector.getSupportedFormats?.();
      if (!formats || formats.includes('qr_code')) {
        const detector = new BarcodeDetector({ formats: ['qr_code'] });
        return async (source) => {
          const codes = await detector.detect(source);
          return codes.length ? codes[0].rawValue : null;
        };
      }
    } catch {
      /* fall through to the JavaScript decoder */
    }
  }
  const qr = await jsDecoder();
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  return async (source, width, height) => {
    const scale = Math.min(1, 1024 / Math.max(width, height));
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
    return qr.decode(ctx.getImageData(0, 0, canvas.width, canvas.height));
  };
}

/** Read a QR code from the camera into `box`; resolves with its text, or null (closed, nothing found, refused). */
export async function scanCamera(box, status) {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch {
    mount(status, t('qr-no-camera'));
    return null;
  }
  const video = h('video', { id: 'qr-video', muted: true, playsinline: true, 'aria-label': t('qr-scan') });
  video.muted = true;
  video.srcObject = stream;
  let stop = false;
  const close = h('button', { class: 'secondary', onclick: () => { stop = true; } }, t('cancel'));
  mount(box, video, close);
  try {
    await video.play();
    const read = await decoder();
    for (let i = 0; i < SCAN_LIMIT && !stop && box.isConnected; i++) {
      if (video.videoWidth) {
        const text = await read(video, video.videoWidth, video.videoHeight).catch(() => null);
        if (text && naddrIn(text)) return text;
      }
      await new Promise((resolve) => setTimeout(resolve, SCAN_MS));
    }
    return null;
  } catch {
    mount(status, t('qr-not-read'));
    return null;
  } finally {
    for (const track of stream.getTracks()) track.stop();
    mount(box);
  }
}

/** Read a QR code from a photo (a File); its text or null. */
export async function scanPhoto(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const read = await decoder();
    const text = await read(bitmap, bitmap.width, bitmap.height);
    bitmap.close?.();
    return text;
  } catch {
    return null;
  }
}
