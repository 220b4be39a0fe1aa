// Reads {pairs, channels, alike} as JSON on stdin and prints what web/src/display.js and trust.js make of them:
// whether each pair of names collides, lookalikes() of the channels, and for each alike pair [trusted name, other
// name] whether collisions() marks a channel of the second name (another key, no place) as a look-alike of the
// first's, and its tables of filler words and abbreviations, for tests/web/test_lookalike_parity.py.
import { namesCollide } from '../src/display.js';
import { ABBREVIATIONS, FILLERS, collisions, lookalikes } from '../src/trust.js';

const channel = (name, owner) => ({ address: `30333:${owner}:c`, owner, name, place: '', about: `${owner}: ${name}` });

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const { pairs, channels, alike = [] } = JSON.parse(input);
  const collide = pairs.map(([a, b]) => namesCollide(a, b));
  const marked = alike.map(([a, b]) => collisions([channel(b, '2')], [channel(a, '1')]).size > 0);
  const tables = { fillers: [...FILLERS].sort(), abbreviations: Object.fromEntries(ABBREVIATIONS) };
  process.stdout.write(JSON.stringify({ collide, lookalikes: Object.fromEntries(lookalikes(channels)), alike: marked, ...tables }));
});
