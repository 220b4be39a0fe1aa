// Photos on screen: the compose form's picker (re-encode, the node's face-blur preview, tap to blur more, alt
// text) and a post's photos for readers (blurhash at once, the thumbnail once visible, the full image when the
// link allows or on a tap). The rules are in photos.js.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { state, setDataSaver } from '../state.js';
import { blurhashCanvas } from '../blurhash.js';
import {
  PhotoError, Previewer, MAX_PHOTOS, FULL_BYTES, blurRegion, canvasFromBytes, decodeFile, encodeWebp, finish,
  imetaTag, mediaServers, mediaUrl, photoRefs, savingData, sources, upload,
} from '../photos.js';

const TAP_SIDE = 0.16; // a tap blurs a square this fraction of the picture's long side

/** The compose form's photos. `signer()`: who will sign the post ({who, pubkey}). `.tags(address, progress)`
 * uploads every photo and gives their imeta tags; it throws PhotoError when one is not ready. */
export function photoPicker(signer) {
  const items = [];
  const list = h('div', { class: 'photo-list' });
  const note = h('p', { class: 'message', role: 'status' });
  let previewer = null, previewSigner = null;

  function previewFor() {
    const s = signer();
    if (!previewer || previewSigner !== s.who) {
      previewer?.close();
      previewer = new Previewer(s);
      previewSigner = s.who;
    }
    return previewer;
  }

  function add(file) {
    const status = h('p', { class: 'photo-status', role: 'status' }, t('photo-preparing'));
    const stage = h('div', { class: 'photo-stage' });
    const alt = h('input', { name: 'photo-alt', class: 'photo-alt', maxlength: 500, placeholder: t('photo-alt'), 'aria-label': t('photo-alt') });
    const item = { canvas: null, ready: false, failed: '', alt, made: null }; // made: finish() of what is shown
    item.el = h('figure', { class: 'photo-item' }, stage, status, alt,
      h('button', { type: 'button', class: 'small', onclick: () => {
        items.splice(items.indexOf(item), 1);
        item.el.remove();
      } }, t('photo-remove')));
    items.push(item);
    list.appendChild(item.el);
    (async () => {
      const canvas = await decodeFile(file, t('photo-unreadable'));
      const { bytes } = await encodeWebp(canvas, FULL_BYTES);
      status.textContent = t('photo-checking');
      const answer = await previewFor().preview(bytes);
      const shown = await canvasFromBytes(answer.bytes);
      shown.className = 'photo-preview';
      shown.addEventListener('click', (ev) => {
        const box = shown.getBoundingClientRect();
        const fx = (ev.clientX - box.left) / box.width, fy = (ev.clientY - box.top) / box.height;
        const side = TAP_SIDE * Math.max(shown.width, shown.height);
        const w = side / shown.width, hgt = side / shown.height;
        blurRegion(shown, [fx - w / 2, fy - hgt / 2, w, hgt]);
        item.made = null; // encoded again, from what is shown now
      });
      item.canvas = shown;
      item.ready = true;
      mount(stage, shown);
      status.textContent = t('photo-ready', { n: answer.faces.length });
      item.el.dataset.faces = String(answer.faces.length);
      item.el.classList.add('ready');
      // Encode what will be uploaded while the author looks and types (Publish then only uploads); a tap redoes it.
      setTimeout(() => {
        if (!item.ready || item.made) return;
        const made = (item.made = finish(shown));
        made.catch(() => { if (item.made === made) item.made = null; }); // tried again, and reported, at Publish
      }, 50);
    })().catch((exc) => {
      item.failed = exc instanceof PhotoError ? exc.message : String(exc.message || exc);
      status.className = 'photo-status error';
      status.textContent = exc instanceof PhotoError && exc.message === t('photo-unreadable') ? exc.message : t('photo-failed', { reason: item.failed });
      item.el.classList.add('failed');
    });
  }

  const input = h('input', { type: 'file', accept: 'image/*', capture: 'environment', multiple: true, id: 'photo-input', class: 'photo-input',
    'aria-label': t('photos-add'), onchange: (ev) => {
      const files = [...ev.target.files];
      ev.target.value = '';
      mount(note);
      for (const file of files) {
        if (items.length >= MAX_PHOTOS) {
          mount(note, t('photo-too-many', { n: MAX_PHOTOS }));
          break;
        }
        add(file);
      }
    } });

  return {
    el: h('fieldset', { class: 'photos-field' }, h('legend', null, t('photos-add')), input, list, note),
    async tags(address, progress = () => {}) {
      if (items.some((i) => !i.ready)) throw new PhotoError(t('photo-not-ready'));
      const s = signer();
      const server = mediaServers(address)[0] || null;
      const out = [];
      for (const [n, item] of items.entries()) {
        progress(t('photo-uploading', { i: n + 1, n: items.length }));
        const made = await (item.made ||= finish(item.canvas));
        const full = await upload(made.full.bytes, s);
        const thumb = await upload(made.thumb.bytes, s);
        out.push(imetaTag({
          url: mediaUrl(server, full.sha256), sha256: full.sha256, width: made.full.width, height: made.full.height,
          blurhash: made.blurhash, alt: item.alt.value.trim(), size: full.size,
          thumbUrl: mediaUrl(server, thumb.sha256), thumbSha256: thumb.sha256,
        }));
      }
      return out;
    },
    destroy: () => previewer?.close(),
  };
}

// -- reading -------------------------------------------------------------------------------------------------------

let observer = null;
const visible = new WeakMap(); // element -> what to do once it is on screen

function watch(el, fn) {
  if (!('IntersectionObserver' in self)) {
    fn();
    return;
  }
  observer ||= new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      visible.get(entry.target)?.();
      visible.delete(entry.target);
    }
  }, { rootMargin: '200px' });
  visible.set(el, fn);
  observer.observe(el);
}

/** Show `img` from the first of `urls` that loads; `done(ok)` after. */
function loadInto(img, urls, done) {
  let i = 0;
  const next = () => {
    if (i >= urls.length) {
      img.onload = img.onerror = null;
      done(false);
      return;
    }
    img.src = urls[i++];
  };
  img.onload = () => {
    img.onload = img.onerror = null;
    done(true);
  };
  img.onerror = next;
  next();
}

function photoFigure(ref) {
  const aspect = ref.width > 0 && ref.height > 0 ? ref.width / ref.height : 4 / 3;
  const alt = ref.alt || t('photo-no-alt');
  const box = h('button', { type: 'button', class: 'photo', 'data-x': ref.sha256, 'data-state': 'blurhash' });
  box.style.aspectRatio = String(Math.min(Math.max(aspect, 0.25), 4));
  const hash = blurhashCanvas(ref.blurhash, aspect);
  if (hash) box.appendChild(hash);
  const thumb = h('img', { class: 'photo-thumb', alt, decoding: 'async' });
  const full = h('img', { class: 'photo-full', alt, decoding: 'async' });
  const hint = h('span', { class: 'photo-hint' }, t('photo-tap', { kb: Math.max(1, Math.round(ref.size / 1000)) }));
  box.setAttribute('aria-label', alt);
  let fullAsked = false;
  const loadFull = () => {
    if (fullAsked) return;
    fullAsked = true;
    hint.remove();
    loadInto(full, sources(ref.sha256, ref.url, ref.mime), (ok) => {
      if (ok) {
        box.appendChild(full);
        box.dataset.state = 'full';
      } else if (box.dataset.state === 'blurhash') {
        box.appendChild(h('span', { class: 'photo-hint' }, t('photo-unavailable')));
      }
    });
  };
  box.addEventListener('click', () => {
    if (box.dataset.state === 'full') box.classList.toggle('expanded');
    else loadFull();
  });
  watch(box, () => {
    const saving = savingData();
    if (saving) box.appendChild(hint);
    if (ref.thumbSha256) {
      loadInto(thumb, sources(ref.thumbSha256, ref.thumbUrl), (ok) => {
        if (ok && box.dataset.state === 'blurhash') {
          box.insertBefore(thumb, hint.parentNode ? hint : null);
          box.dataset.state = 'thumb';
        }
      });
    }
    if (!saving) loadFull();
  });
  return h('figure', { class: 'photo-figure' }, box, ref.alt ? h('figcaption', { dir: 'auto' }, ref.alt) : null);
}

/** A post's photos (its imeta tags), or null. */
export function photosView(event) {
  const refs = photoRefs(event);
  return refs.length ? h('div', { class: 'photos' }, refs.map(photoFigure)) : null;
}

/** The data saver switch (Node screen, "This phone"). */
export function dataSaverSwitch() {
  return h('label', { class: 'switch' },
    h('input', { type: 'checkbox', id: 'data-saver', checked: state.dataSaver, onchange: (ev) => setDataSaver(ev.target.checked) }),
    ' ', t('data-saver'));
}
