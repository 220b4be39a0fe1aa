// The page's second script: after the posts the page carries (web/app.py), before the start page's seed and the
// app's own script (three quarters of the page). When the page was opened by a link to a channel (#naddr1..., #/c/<address>)
// whose posts the page carries, it shows them at once, while the app is still arriving: on "Slow 3G" (50 KB/s)
// that is about a second sooner. Every event is verified first (embedded.js: id and signature) and folded by the
// same thread rules as anywhere in the app (rules.js), so the page is trusted no more than a relay. What it draws
// is a read-only preview with the app's classes; the app replaces it when it starts (main.js keeps it until then)
// and shows the same posts, verified once.
//
// The modules it carries are handed to the app's script (self.samizdatShared; build.mjs points the app's imports
// of them there), so the page carries each once.

import * as rules from './rules.js';
import * as embedded from './embedded.js';
import * as blurhash from './blurhash.js';
import * as dom from './dom.js';
import * as display from './display.js';
import * as imeta from './imeta.js';
import * as naddr from './naddr.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as hashUtils from '@noble/hashes/utils.js';
import { Point, etc } from '@noble/secp256k1'; // the curve, which embedded.js checks signatures on: the app's vault.js too
import WORDS from './first-words.js'; // the few words below in en, be and ru (build.mjs)

// In a Web Worker (started below from this very script's text): check signatures for the page, nothing else.
if (typeof document === 'undefined') {
  self.onmessage = ({ data }) => {
    const events = Array.isArray(data?.events) ? data.events : [];
    self.postMessage({ id: data?.id, ok: events.map((e) => embedded.genuine(e)) });
  };
}

self.samizdatShared = {
  rules, embedded, blurhash, dom, display, imeta, naddr, hashes_sha2: { sha256 }, hashes_utils: hashUtils, secp: { Point, etc },
};

const { h, mount } = dom;

/** The reader's language as i18n.js picks it before the app starts: the one chosen before, else the browser's. */
function language() {
  try {
    const saved = localStorage.getItem('lang');
    if (saved && WORDS[saved]) return saved;
  } catch {
    /* no storage */
  }
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const code = String(l).slice(0, 2).toLowerCase();
    if (WORDS[code]) return code;
  }
  return 'en';
}

/** The channel address a link in the address's fragment names, or ''. */
function linked() {
  const hash = location.hash;
  const m = /^#(?:\/c\/)?(?:nostr:)?(naddr1[02-9ac-hj-np-z]{6,4000})$/i.exec(hash);
  if (m) {
    const found = naddr.decodeNaddr(m[1]);
    return found && found.kind === rules.CHANNEL ? `${found.kind}:${found.pubkey}:${found.identifier}` : '';
  }
  const route = /^#\/c\/([^/]+)$/.exec(hash);
  try {
    return route ? decodeURIComponent(route[1]) : '';
  } catch {
    return '';
  }
}

function preview(address) {
  if (!address) return;
  const channel = rules.currentChannels(embedded.embeddedDefinitions(address)).get(address);
  if (!channel || channel.error) return;
  const now = Math.floor(Date.now() / 1000);
  const code = language();
  const words = WORDS[code];
  const t = (key, n) => String(words[key] ?? WORDS.en[key] ?? '').replace('{n}', String(n));
  const plural = (n) => {
    let form = 'other';
    try {
      form = new Intl.PluralRules(code).select(n);
    } catch {
      /* an old browser */
    }
    return t(words[`posts-${form}`] ? `posts-${form}` : 'posts-other', n);
  };
  const when = (ts) => {
    try {
      const options = code === 'en' ? { dateStyle: 'medium', timeStyle: 'short' }
        : { day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit' };
      return new Intl.DateTimeFormat(code, options).format(new Date(ts * 1000));
    } catch {
      return new Date(ts * 1000).toISOString();
    }
  };
  const photos = (event) => {
    const refs = imeta.photoRefs(event);
    return refs.length ? h('div', { class: 'photos' }, refs.map((ref) => {
      const aspect = ref.width > 0 && ref.height > 0 ? ref.width / ref.height : 4 / 3;
      const box = h('span', { class: 'photo', 'data-state': 'blurhash' }, blurhash.blurhashCanvas(ref.blurhash, aspect));
      box.style.aspectRatio = String(Math.min(Math.max(aspect, 0.25), 4));
      return box;
    })) : null;
  };
  const post = (item) => {
    if (item.orphan) return h('article', { class: 'post retracted orphan' }, h('p', { class: 'notice' }, t('retracted-by-channel'), ' ', h('q', { dir: 'auto' }, item.orphan.text)));
    const { view, original } = item;
    const type = view.verdict.post.type;
    const meta = h('p', { class: 'meta' }, h('span', { class: `type type-${type}` }, t(`type-${type}`)), ' · ', when(original.created_at));
    if (view.retraction) return h('article', { class: `post retracted type-${type}` }, meta, h('p', { class: 'notice' }, t('retracted-by-channel'), ' ', h('q', { dir: 'auto' }, view.retraction.text)));
    if (view.deletion) return h('article', { class: `post deleted type-${type}` }, meta, h('p', { class: 'notice' }, t('deleted-by-author')));
    return h('article', { class: `post type-${type}` }, meta, view.subject ? h('h3', { dir: 'auto' }, view.subject) : null,
      view.text ? h('p', { class: 'text', dir: 'auto' }, view.text) : null, photos(original));
  };
  const name = document.querySelector('meta[name="application-name"]')?.content || 'Samizdat';
  const root = document.getElementById('app');
  const before = root.firstElementChild; // the page's own list: replaced by the preview, as by the app
  const verified = [];
  let shown = null; // the preview on screen
  let drawnAt = 0;
  const draw = () => {
    if (shown ? !root.contains(shown) : root.firstElementChild !== before) return; // the app has taken over
    const items = rules.feed(channel, verified, now, new Set([channel.owner])); // the owner's labels, as the app
    if (!items.length) return;
    shown = h('main', { class: 'channel-page first-read', 'aria-busy': 'true' },
      h('div', { class: 'channel-head' }, h('h1', { dir: 'auto' }, channel.name)),
      h('h2', { class: 'count' }, plural(items.length)),
      h('div', { class: 'feed' }, items.map(post)));
    mount(root, h('header', { class: 'top' }, h('span', { class: 'brand' }, name)), shown);
    drawnAt = performance.now();
  };
  // Shown as the posts pass their checks, a slice at a time (embedded.js): the first at once, then every 100 ms.
  embedded.verifying(address, (fresh) => {
    verified.push(...fresh);
    if (!shown || performance.now() - drawnAt > 100) draw();
  }).then(draw, () => {});
}

/** Web Workers running this script, to check the page's signatures off its thread (embedded.js); none where the
 * browser cannot (no Worker, or a policy without blob:). */
function startWorkers() {
  const code = document.currentScript?.textContent;
  if (!code || typeof Worker !== 'function' || typeof Blob !== 'function') return;
  try {
    const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
    const n = Math.max(2, Math.min(4, (navigator.hardwareConcurrency || 2) - 1)); // the page's own thread mostly waits
    embedded.useWorkers(Array.from({ length: n }, () => new Worker(url)));
  } catch {
    /* checked on the page's thread */
  }
}

if (typeof document !== 'undefined') {
  try {
    const address = linked();
    if (address && embedded.embeddedDefinitions(address).length) startWorkers();
    preview(address);
  } catch {
    /* the app shows the channel when it starts */
  }
}
