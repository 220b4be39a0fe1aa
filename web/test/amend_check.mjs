// Runs web/src/rules.js on web/test/amend-vectors.json (the file named as the first argument) and prints, for each
// case, what a reader of the browser sees of the original post, for tests/core/test_turned_admin.py to compare
// with Python's.
import { readFileSync } from 'node:fs';
import { parseChannel, threadView } from '../src/rules.js';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = cases.map((c) => {
  const view = threadView(c.original, c.related, parseChannel(c.definition), c.now);
  return { status: view.verdict.status, role: view.verdict.role, retracted: Boolean(view.retraction), location: view.fields.location || '' };
});
process.stdout.write(JSON.stringify(out));
