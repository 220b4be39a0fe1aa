// The photos a post names in its NIP-92 imeta tags (core/imeta.photo_refs), pure: shared by the app (photos.js)
// and the page's first script (first.js), which draws their blurhashes before the app has arrived.

const HEX64 = /^[0-9a-f]{64}$/;

/** The photos of an event (core/imeta.photo_refs): imeta tags with an `x` of 64 hex digits; others ignored. */
export function photoRefs(event) {
  const out = [];
  for (const tag of event?.tags || []) {
    if (tag[0] !== 'imeta' || out.length >= 20) continue;
    const f = {};
    for (const part of tag.slice(1)) {
      if (typeof part !== 'string') continue;
      const i = part.indexOf(' ');
      if (i > 0 && !(part.slice(0, i) in f)) f[part.slice(0, i)] = part.slice(i + 1);
    }
    const sha = (f.x || '').toLowerCase();
    if (!HEX64.test(sha)) continue;
    const dim = /^(\d{1,5})x(\d{1,5})$/.exec(f.dim || '');
    const thumbx = (f.thumbx || '').toLowerCase();
    out.push({
      sha256: sha, url: f.url || '', mime: f.m || '', width: dim ? Number(dim[1]) : 0, height: dim ? Number(dim[2]) : 0,
      blurhash: f.blurhash || '', alt: f.alt || '', size: /^\d{1,12}$/.test(f.size || '') ? Number(f.size) : 0,
      thumbSha256: HEX64.test(thumbx) ? thumbx : '', thumbUrl: f.thumb || '',
    });
  }
  return out;
}
