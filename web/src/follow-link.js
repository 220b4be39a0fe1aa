// Follow by link or QR code. A shared link `http(s)://<node>/#naddr1…` (or `nostr:naddr1…` pasted, or read from a
// QR code) opens that channel with its Follow button; the address bar is cleared at once (nav.takeFragment), so
// the app's own routes never carry a channel's identity. Relays named inside a link are used only after the
// reader agrees (a question at the bottom of the screen); then the app may read the channel there (mirrors.js).
//
// QR codes: the browser's BarcodeDetector where it exists, else a small decoder (npm jsqr, /qr-read.js) loaded
// only when needed; from the camera where the browser gives one (getUserMedia needs a secure context), else from
// a photo (`<input type=file accept=image/* capture>`: the phone's camera app takes it, even on a plain-http hub).
// The reading itself (qr-scan.js) comes with /screens.js, loaded on first use; when it cannot be, the panel says so.

import { h, mount } from './dom.js';
import { t } from './i18n.js';
import { extras, screens } from './lazy.js';
import * as nav from './nav.js';
import { state } from './state.js';
import { agreeRelays } from './mirrors.js';
import { decodeNaddr } from './naddr.js';

const NADDR = /(?:nostr:)?(naddr1[02-9ac-hj-np-z]{6,4000})/i;
const RELAY = /^wss?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~/-]*)?$/;

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

export const cameraAvailable = () => Boolean(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

/** The QR reading of /screens.js (qr-scan.js), or null when it cannot be loaded (said in `status`). */
function scanner(status) {
  return screens().catch(() => {
    mount(status, t('screen-offline'));
    return null;
  });
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
      const scan = await scanner(status);
      if (!scan) return;
      const text = await scan.scanPhoto(file);
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
        const scan = await scanner(status);
        const text = scan && (await scan.scanCamera(box, status));
        if (text) await open(text);
      } }, t('qr-scan')) : null, ' ',
      h('button', { type: 'button', id: 'qr-photo-button', class: 'secondary', onclick: () => photo.click() },
        camera ? t('qr-photo') : t('qr-photo-only'))),
    photo, box, status);
}
