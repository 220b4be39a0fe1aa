// Phone to phone, with files: the followed channels' recent posts as a bundle file (`.smz`, the same format as
// `samizdat export`: bundle.js), shared with the Web Share API (Bluetooth, Nearby Share, a messenger) or, where
// there is none (plain-http pages: Web Share needs a secure context), downloaded; and a bundle picked from files
// imported: read and verified in a Web Worker (verify-worker.js) with progress shown, invalid events counted and
// dropped, the rest kept (encrypted, cache.js) like events from the node, so the channels read offline.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { state, addDefinitions, changed } from '../state.js';
import * as cache from '../cache.js';
import { noteSource } from '../mirrors.js';
import { keptByStore } from '../rules.js';
import { keepFair } from '../keepfair.js';

const POSTS_PER_CHANNEL = 3000; // what cache.js keeps per channel
const SAVE_BATCH = 100; // events encrypted at a time: the page stays responsive and its progress line moves

const supported = () => typeof CompressionStream === 'function' && typeof DecompressionStream === 'function'
  && typeof Worker === 'function';

/** The events as a bundle file (a Blob), made by the worker (bundle.js stays out of the page's first script). */
function writeBundle(events, passphrase) {
  return new Promise((resolve, reject) => {
    const worker = new Worker('/verify-worker.js');
    worker.onmessage = ({ data: m }) => {
      worker.terminate();
      if (m.type === 'bundle') resolve(m.blob);
      else reject(new Error(m.error || 'failed'));
    };
    worker.onerror = (exc) => {
      worker.terminate();
      reject(exc);
    };
    worker.postMessage({ write: events, passphrase });
  });
}

/** The followed channels' definitions and the events saved for them, at most 3,000 a channel in its fair order
 * (keepfair.js: the owner's alerts first, then each author's newest in turn, so that a seized admin key's flood
 * does not push the owner's alerts out of a courier's bundle): only those a node's store would keep now (rules.js
 * keptByStore), so that a phone does not pass on an alert past its expiration, nor a post its author deleted,
 * which `samizdat export` leaves out too. */
async function followedEvents(now = Math.floor(Date.now() / 1000)) {
  const groups = [];
  for (const address of state.follows) groups.push([address, state.definitions.get(address), await cache.load(address)]);
  const kept = new Set(keptByStore(groups.flatMap(([, definition, saved]) => (definition ? [definition, ...saved] : saved)), now));
  const out = [];
  for (const [address, definition, saved] of groups) {
    if (definition && kept.has(definition)) out.push(definition);
    out.push(...keepFair(saved.filter((e) => kept.has(e)), address, POSTS_PER_CHANNEL));
  }
  return out;
}

/** A name that says nothing of Samizdat nor of the minute it was made; a sealed file gets no `.smz` either. */
function fileName(sealed) {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  const day = `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}`;
  return sealed ? `${day}.bin` : `posts-${day}.smz`;
}

async function exportBundle(status, download, passphrase) {
  const events = await followedEvents();
  if (!events.length) {
    mount(status, t('bundle-nothing'));
    return;
  }
  const blob = await writeBundle(events, passphrase);
  const name = fileName(Boolean(passphrase));
  const file = typeof File === 'function' ? new File([blob], name, { type: 'application/octet-stream' }) : blob;
  mount(status, t('bundle-made', { n: events.length, kb: Math.ceil(blob.size / 1024) }));
  if (navigator.canShare && navigator.share && navigator.canShare({ files: [file] })) {
    try {
      await navigator.share({ files: [file], title: name });
      return;
    } catch (exc) {
      if (exc && exc.name === 'AbortError') return; // the reader closed the share sheet
    }
  }
  const url = URL.createObjectURL(blob);
  download.href = url;
  download.download = name;
  download.hidden = false;
  download.textContent = t('bundle-download', { name });
  download.click();
  setTimeout(() => URL.revokeObjectURL(url), 120000); // the link stays for a while, then the file is let go
}

/** Where an imported event is kept: channel definitions with the directory, posts with their channel; deletion
 * requests and labels with every channel of the same import whose events their author signed. */
async function keep(events, authors, later) {
  const groups = new Map();
  const put = (group, e) => (groups.get(group) || groups.set(group, []).get(group)).push(e);
  const definitions = [];
  for (const e of events) {
    if (e.kind === 30333) {
      definitions.push(e);
      put('dir', e);
      const d = (e.tags.find((tag) => tag[0] === 'd') || [])[1] || '';
      const address = `30333:${e.pubkey}:${d}`;
      (authors.get(address) || authors.set(address, new Set()).get(address)).add(e.pubkey);
    } else if (e.kind === 2333) {
      const address = (e.tags.find((tag) => tag[0] === 'a' && String(tag[1]).startsWith('30333:')) || [])[1];
      if (!address) continue;
      put(address, e);
      noteSource(address, 'file');
      (authors.get(address) || authors.set(address, new Set()).get(address)).add(e.pubkey);
    } else later.push(e);
  }
  for (const [group, list] of groups) {
    for (let i = 0; i < list.length; i += SAVE_BATCH) await cache.save(group, list.slice(i, i + SAVE_BATCH));
  }
  if (definitions.length && addDefinitions(definitions)) changed();
}

async function keepLater(later, authors) {
  const groups = new Map();
  for (const e of later) {
    for (const [address, who] of authors) {
      if (who.has(e.pubkey)) (groups.get(address) || groups.set(address, []).get(address)).push(e);
    }
  }
  for (const [group, list] of groups) await cache.save(group, list);
}

function importBundle(file, status, bar, passphrase) {
  return new Promise((resolve) => {
    let worker;
    try {
      worker = new Worker('/verify-worker.js');
    } catch {
      mount(status, t('bundle-unsupported'));
      resolve();
      return;
    }
    const authors = new Map();
    const later = [];
    const started = performance.now();
    let saved = 0;
    let finished = null; // the worker's last word, once it is done
    let saving = Promise.resolve();
    bar.hidden = false;
    bar.max = file.size || 1;
    bar.value = 0;
    const show = (m) => mount(status, t('bundle-progress', { valid: m.valid, invalid: m.invalid, read: m.read }));
    worker.onmessage = ({ data: m }) => {
      if (m.type === 'progress') {
        bar.value = m.bytes;
        show(m);
      } else if (m.type === 'events') {
        saving = saving.then(() => keep(m.events, authors, later)).then(() => {
          saved += m.events.length;
          if (finished) mount(status, t('bundle-saving', { n: saved, total: finished.valid - finished.skipped }));
        });
      } else if (m.type === 'done') {
        worker.terminate();
        finished = m;
        const readMs = Math.round(performance.now() - started); // the worker's part: read and verify
        bar.value = bar.max;
        saving.then(() => keepLater(later, authors)).then(() => {
          const lines = [h('span', { id: 'bundle-result', 'data-verifier': m.verifier || '', 'data-read-ms': readMs },
            t('bundle-imported', { valid: m.valid, invalid: m.invalid, damaged: m.damaged }))];
          if (m.error) lines.push(h('span', { class: 'error', id: 'bundle-error' }, ' ', m.error));
          mount(status, lines);
          changed();
          resolve();
        });
      }
    };
    worker.onerror = () => {
      worker.terminate();
      mount(status, h('span', { class: 'error', id: 'bundle-error' }, t('bundle-unsupported')));
      resolve();
    };
    worker.postMessage({ file, passphrase });
  });
}

/** The "Pass posts on" panel (on the Node screen, under "This phone"). */
export function bundlesPanel() {
  const el = h('section', { class: 'bundles', 'aria-labelledby': 'bundles-title' });
  const status = h('p', { id: 'bundle-status', role: 'status', 'aria-live': 'polite' });
  const bar = h('progress', { id: 'bundle-progress', hidden: true, 'aria-label': t('bundle-import') });
  const download = h('a', { id: 'bundle-download', hidden: true });
  if (!supported()) {
    mount(el, h('h2', { id: 'bundles-title' }, t('bundles')), h('p', null, t('bundle-unsupported')));
    return el;
  }
  // One passphrase for both ways: it seals the file made, and opens a sealed file picked (docs/safety.md,
  // "The courier and the stick"). Empty: a plain file. Never kept: the field is cleared once it was used.
  const secret = h('input', { type: 'password', id: 'bundle-passphrase', autocomplete: 'off', spellcheck: 'false' });
  const used = () => {
    const value = secret.value;
    secret.value = '';
    return value;
  };
  const picker = h('input', { type: 'file', id: 'bundle-file', accept: '.smz,.bin,application/octet-stream', hidden: true,
    onchange: async (ev) => {
      const file = ev.target.files && ev.target.files[0];
      ev.target.value = '';
      if (file) await importBundle(file, status, bar, used());
    } });
  mount(el,
    h('h2', { id: 'bundles-title' }, t('bundles')),
    h('p', null, t('bundles-text')),
    h('p', null, h('label', { for: 'bundle-passphrase' }, t('bundle-passphrase')), ' ', secret),
    h('p', { class: 'actions' },
      h('button', { id: 'bundle-export', class: 'primary', onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await exportBundle(status, download, used());
        } finally {
          ev.target.disabled = false;
        }
      } }, t('bundle-export')), ' ',
      h('button', { id: 'bundle-import', class: 'secondary', onclick: () => picker.click() }, t('bundle-import'))),
    picker, bar, status, download);
  return el;
}
