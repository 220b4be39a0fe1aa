// Runs web/src/keepfair.js's keepFair on web/test/cache-vectors.json (the file named as the first argument) and
// prints, for each case, the ids a full phone cache keeps, for tests/web/test_cache_fair.py.
import { readFileSync } from 'node:fs';
import { keepFair } from '../src/keepfair.js';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
process.stdout.write(JSON.stringify(cases.map((c) => keepFair(c.events, c.channel, c.max).map((e) => e.id))));
