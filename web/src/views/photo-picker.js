// The compose form's photo picker (re-encode, the node's face-blur preview, tap to blur more, alt text), loaded
// with the compose screen (screens.js). The rules are in photos.js and photo-compose.js.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { PhotoError, MAX_PHOTOS, FULL_BYTES, mediaServers, mediaUrl } from '../photos.js';
import { Previewer, blurRegion, canvasFromBytes, decodeFile, encodeWebp, finish, imetaTag, upload } from '../photo-compose.js';

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
