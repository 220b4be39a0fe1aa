// The photos a post names in its NIP-92 imeta tags (core/imeta.photo_refs), pure: shared by the app (photos.js)
// and the page's first script (first.js), which draws their blurhashes before the app has arrived.
// The same rule as the node's, case for case (web/test/imeta_cases.json, run by tests/web/test_imeta_parity.py
// against both): the app shows exactly the photos whose blobs the node fetches, keeps and deletes.

const HEX64 = /^[0-9a-f]{64}$/;
const DIM = /^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$/;
const DIGITS = /^[0-9]{1,12}$/;
export const MAX_PHOTOS = 8; // core/imeta.MAX_PHOTOS: a hostile post may carry thousands of tags
const MAX_ALT = 1000, MAX_URL = 2048;

const chars = (s) => [...s]; // code points, as Python counts them
const cut = (s, n) => (s.length <= n ? s : chars(s).slice(0, n).join(''));

/** The fields of one imeta tag: "name value" entries split at the first space; the first of a name wins. */
function fields(tag) {
  const f = new Map();
  for (const part of tag.slice(1)) {
    if (typeof part !== 'string') continue;
    const i = part.indexOf(' ');
    const name = i < 0 ? part : part.slice(0, i);
    if (!f.has(name)) f.set(name, i < 0 ? '' : part.slice(i + 1));
  }
  return f;
}

/** One photo, or null when the tag has no `x` of 64 lowercase hex digits or no url (core/imeta.parse_imeta). */
function parseImeta(tag) {
  const f = fields(tag);
  const get = (name) => f.get(name) ?? '';
  const sha = get('x'), url = get('url');
  if (!HEX64.test(sha) || !url || chars(url).length > MAX_URL) return null;
  const dim = DIM.exec(get('dim'));
  const thumbx = get('thumbx'), thumbUrl = get('thumb');
  return {
    sha256: sha, url, mime: cut(get('m'), 100), width: dim ? Number(dim[1]) : 0, height: dim ? Number(dim[2]) : 0,
    blurhash: cut(get('blurhash'), 200), alt: cut(get('alt'), MAX_ALT), size: DIGITS.test(get('size')) ? Number(get('size')) : 0,
    thumbSha256: HEX64.test(thumbx) ? thumbx : '', thumbUrl: chars(thumbUrl).length <= MAX_URL ? thumbUrl : '',
  };
}

/** The photos of an event, in tag order, at most MAX_PHOTOS; malformed tags are skipped. */
export function photoRefs(event) {
  const out = [];
  for (const tag of event?.tags || []) {
    if (!Array.isArray(tag) || tag[0] !== 'imeta') continue;
    const ref = parseImeta(tag);
    if (ref) out.push(ref);
    if (out.length === MAX_PHOTOS) break;
  }
  return out;
}
