// Photos on screen: a post's photos for readers (blurhash at once, the thumbnail once visible, the full image when
// the link allows or on a tap). The compose form's picker is photo-picker.js; the rules are in photos.js.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { state, setDataSaver } from '../state.js';
import { blurhashCanvas } from '../blurhash.js';
import { photoRefs, savingData, sources } from '../photos.js';

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
