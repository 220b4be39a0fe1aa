// Reads web/test/imeta_cases.json and prints, for each case, the photos web/src/imeta.js reads from its tags, in
// the cases' own form, for tests/web/test_imeta_parity.py to compare with the cases and with core/imeta.py.
import { readFileSync } from 'node:fs';
import { photoRefs } from '../src/imeta.js';

const cases = JSON.parse(readFileSync(new URL('./imeta_cases.json', import.meta.url), 'utf8')).cases;
const out = cases.map(({ tags }) => photoRefs({ tags }).map((r) => ({
  sha256: r.sha256, url: r.url, mime: r.mime, width: r.width, height: r.height, blurhash: r.blurhash, alt: r.alt,
  size: r.size, thumb_sha256: r.thumbSha256, thumb_url: r.thumbUrl,
})));
process.stdout.write(JSON.stringify(out));
