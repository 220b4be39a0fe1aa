// Reads {now, events} as JSON on stdin and prints the ids of the events web/src/rules.js keptByStore keeps, for
// tests/web/test_store_rules_parity.py to compare with what a node's store keeps of the same events.
import { keptByStore } from '../src/rules.js';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const { now, events } = JSON.parse(input);
  process.stdout.write(JSON.stringify(keptByStore(events, now).map((e) => e.id)));
});
