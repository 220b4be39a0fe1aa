// Reads {pairs, channels} as JSON on stdin and prints what web/src/display.js and trust.js make of them: whether
// each pair of names collides, and lookalikes() of the channels, for tests/web/test_lookalike_parity.py.
import { namesCollide } from '../src/display.js';
import { lookalikes } from '../src/trust.js';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const { pairs, channels } = JSON.parse(input);
  const collide = pairs.map(([a, b]) => namesCollide(a, b));
  process.stdout.write(JSON.stringify({ collide, lookalikes: Object.fromEntries(lookalikes(channels)) }));
});
