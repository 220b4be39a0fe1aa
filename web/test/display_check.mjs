// Reads {texts, pubkeys, channels, trusted} as JSON on stdin and prints what web/src/display.js and trust.js make
// of them, for tests/web/test_display_parity.py to compare with src/samizdat/core/display.py and core/trust.py.
import { neutralize, field, isolate, mixedScriptWords, spokenKey, visualKey, nameKeys, fingerprint } from '../src/display.js';
import { collisions } from '../src/trust.js';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const { texts, pubkeys, channels, trusted } = JSON.parse(input);
  const shown = texts.map((t) => [neutralize(t), field(t), isolate(t), mixedScriptWords(t), spokenKey(t), visualKey(t),
    [...nameKeys(t)].sort()]);
  const clashes = Object.fromEntries(collisions(channels, trusted));
  process.stdout.write(JSON.stringify({ shown, fingerprints: pubkeys.map(fingerprint), collisions: clashes }));
});
