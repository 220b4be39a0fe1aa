// Follow by link or QR code. A shared link `http(s)://<node>/#naddr1…` (or `nostr:naddr1…` pasted, or read from a
// QR code) opens that channel with its Follow button; the address bar is cleared at once (nav.takeFragment), so
// the app's own routes never carry a channel's identity. Relays named inside a link are used only after the
// reader agrees (a question at the bottom of the screen); then the app may read the channel there (mirrors.js).
//
// QR codes: the browser's BarcodeDetector where it exists, else a small decoder (npm jsqr, /qr-read.js) loaded
// only when needed; from the camera where the browser gives one (getUserMedia needs a secure context), else from
// a photo (`<input type=file accept=image/* capture>`: the phone's camera app takes it, even on a plain-http hub).

import { h, mount } from './dom.js';
import { t } from './i18n.js';
import { extras } from './lazy.js';
import * as nav from './nav.js';
import { state } from './state.js';
import { agreeRelays } from './mirrors.js';
import { decodeNaddr } from './naddr.js';

const NADDR = /(?:nostr:)?(naddr1[02-9ac-hj-np-z]{6,4000})/i;
const RELAY = /^wss?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~/-]*)?$/;
const SCAN_MS = 250;
const SCAN_LIMIT = 4 * 60 * 4; // four minutes of frames, then the camera is closed

/** The naddr in a text (a link, `nostr:naddr1…`, or a QR code's text), lower-case, or null. */
export function naddrIn(text) {
  const m = NADDR.exec(String(text || ''));
  return m ? m[1].toLowerCase() : null;
}

let banner = null;
let bannerFor = ''; // the channel the question is about

function closeBanner() {
  banner?.remove();
  banner = null;
}

/** The question belongs to its channel's screen (main.js calls this on every route): anywhere else it would cover
 * that screen, so it goes, unanswered (nothing is used). */
export function routeChanged(route) {
  if (banner && !(route.screen === 'channel' && route.address === bannerFor)) closeBanner();
}

/** Ask whether the relays a link named may be used for this channel. */
function askRelays(address, relays) {
  closeBanner();
  const known = new Set(((state.agreedRelays || {})[address]) || []);
  const channel = state.channels.get(address);
  for (const m of channel && !channel.error ? channel.mirrors : []) known.add(m);
  const fresh = relays.filter((r) => RELAY.test(r) && !known.has(r)).slice(0, 8);
  if (!fresh.length) return;
  bannerFor = address;
  banner = h('div', { id: 'link-relays', class: 'link-relays', role: 'dialog', 'aria-labelledby': 'link-relays-q' },
    h('p', { id: 'link-relays-q' }, t('link-relays-ask')),
    h('ul', null, fresh.map((r) => h('li', null, h('code', null, r)))),
    h('p', { class: 'note' }, t('link-relays-why')),
    h('p', { class: 'actions' },
      h('button', { id: 'link-relays-yes', class: 'primary', onclick: async () => {
        await agreeRelays(address, fresh);
        closeBanner();
      } }, t('link-relays-yes')), ' ',
      h('button', { id: 'link-relays-no', class: 'secondary', onclick: closeBanner }, t('link-relays-no'))));
  document.body.appendChild(banner);
}

/** Open the channel an naddr names (the entry the browser made for a link is replaced). */
export async function openLink(naddr, { replace = true } = {}) {
  let parsed = decodeNaddr(naddr); // at once, without loading the extras (a round trip on a slow link)
  if (!parsed) {
    try {
      parsed = (await extras()).parseAddress(naddr);
    } catch {
      /* offline before the extras were ever loaded */
    }
  }
  if (!parsed || parsed.kind !== 30333) {
    nav.go(nav.HOME, { replace });
    return false;
  }
  const address = `30333:${parsed.pubkey}:${parsed.identifier}`;
  nav.go({ screen: 'channel', address }, { replace });
  askRelays(address, parsed.relays || []);
  return true;
}

// -- QR codes --------------------------------------------------------------------------------------------------

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

export const cameraAvailable = () => Boolean(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

/** Read a QR code from the camera into `box`; resolves with its text, or null (closed, nothing found, refused). */
async function scanCamera(box, status) {
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
async function scanPhoto(file) {
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

/** "Open a shared channel": paste a link or `nostr:naddr1…`, scan a QR code with the camera or from a photo. */
export function followLinkPanel() {
  const status = h('p', { id: 'link-status', class: 'note', role: 'status' });
  const box = h('div', { class: 'qr-box' });
  const input = h('input', { type: 'text', id: 'link-input', placeholder: 'nostr:naddr1…', 'aria-label': t('link-paste'),
    autocapitalize: 'off', spellcheck: 'false' });
  const open = async (text) => {
    const naddr = naddrIn(text);
    if (!naddr || !(await openLink(naddr, { replace: false }))) mount(status, t('link-not-channel'));
  };
  const photo = h('input', { type: 'file', id: 'qr-photo', accept: 'image/*', capture: 'environment', hidden: true,
    onchange: async (ev) => {
      const file = ev.target.files && ev.target.files[0];
      ev.target.value = '';
      if (!file) return;
      mount(status, t('loading'));
      const text = await scanPhoto(file);
      if (text) await open(text);
      else mount(status, t('qr-not-read'));
    } });
  const camera = cameraAvailable();
  return h('section', { class: 'follow-link', 'aria-labelledby': 'follow-link-title' },
    h('h2', { id: 'follow-link-title' }, t('link-title')),
    h('form', { class: 'row', onsubmit: (ev) => {
      ev.preventDefault();
      open(input.value);
    } }, input, h('button', { type: 'submit', id: 'link-open', class: 'secondary' }, t('link-open'))),
    h('p', { class: 'actions' },
      camera ? h('button', { type: 'button', id: 'qr-camera', class: 'secondary', onclick: async () => {
        mount(status);
        const text = await scanCamera(box, status);
        if (text) await open(text);
      } }, t('qr-scan')) : null, ' ',
      h('button', { type: 'button', id: 'qr-photo-button', class: 'secondary', onclick: () => photo.click() },
        camera ? t('qr-photo') : t('qr-photo-only'))),
    photo, box, status);
}
