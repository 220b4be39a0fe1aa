// Reads the bundle file named on the command line with web/src/bundle.js's BundleReader, fed in chunks of 64 KiB
// as the app feeds a picked file, and prints {records, error} as JSON, for tests/web/test_hostile_inputs.py to
// compare the browser's reader with core/bundle_reader.py on hostile files.
import { readFileSync } from 'node:fs';
import { BundleReader, BundleError } from '../src/bundle.js';

const data = readFileSync(process.argv[2]);
const reader = new BundleReader();
let records = 0;
let error = null;
try {
  for (let at = 0; at < data.length; at += 64 * 1024) {
    for (const item of await reader.feed(new Uint8Array(data.subarray(at, at + 64 * 1024)))) if (item.event) records++;
  }
  reader.close();
} catch (e) {
  if (!(e instanceof BundleError)) throw e;
  error = e.message;
}
process.stdout.write(JSON.stringify({ records, error }));
