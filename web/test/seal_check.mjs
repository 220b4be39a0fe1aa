// Reads web/test/seal_cases.json and prints, for each case, what web/src/bundle_seal.js makes of it: the sealed
// bytes of `plain` (hex) and the pieces (or the error) of opening the damaged, cut file with `open_with`, in the
// cases' own form, for tests/web/test_seal_parity.py to compare with the cases and with core/bundle_seal.py.
import { readFileSync } from 'node:fs';
import { seal, OpeningReader } from '../src/bundle_seal.js';

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));
const cases = JSON.parse(readFileSync(new URL('./seal_cases.json', import.meta.url), 'utf8')).cases;
const out = [];
for (const c of cases) {
  const salt = bytes(c.salt);
  const sealed = await seal(bytes(c.plain), c.passphrase, () => salt);
  let data = bytes(c.sealed);
  for (const at of c.damage) data[at] ^= 1;
  if (c.cut !== null) data = data.subarray(0, c.cut);
  const reader = new OpeningReader(c.open_with);
  const result = { sealed: hex(sealed) };
  try {
    const items = [];
    for (let at = 0; at < data.length; at += 1000) items.push(...(await reader.feed(data.subarray(at, at + 1000))));
    items.push(...reader.close());
    result.pieces = items.map((i) => (i.lost !== undefined ? { lost: i.lost } : { data: hex(i) }));
  } catch (e) {
    result.error = e.message;
  }
  out.push(result);
}
process.stdout.write(JSON.stringify(out));
