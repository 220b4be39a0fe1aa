// Runs web/src/rules.js's fold on web/test/fold-vectors.json (the file named as the first argument) and prints,
// for each case, what the channel's page lists: an author per post, "+N" for a folded run, "-" for an item with
// no author; tests/web/test_fold_parity.py compares it with Python's (services/feed.py fold_runs).
import { readFileSync } from 'node:fs';
import { fold } from '../src/rules.js';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
process.stdout.write(JSON.stringify(cases.map((c) => {
  const items = [...c.authors].map((a, i) => (a === '-' ? { id: `${i}`, orphan: {} } : { id: `${i}`, original: { pubkey: a } }));
  return fold(items, new Set()).map((i) => (i.more ? `+${i.more.length}` : i.original ? i.original.pubkey : '-'));
})));
