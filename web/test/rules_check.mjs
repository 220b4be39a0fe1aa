// Reads {channel, now, verifiers, cases: [{event, related}]} as JSON on stdin and prints, for each case, the
// verdict and thread view that web/src/rules.js gives, for tests/web/test_rules.py to compare with Python.
// Given {vouches: {events, verifiers, now}} instead, prints each event's parseVouch result (null or the
// error) and which verifiers vouch for which channel (trust.js).
import { parseChannel, threadView, feed, parseVouch } from '../src/rules.js';
import { vouchers } from '../src/trust.js';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const payload = JSON.parse(input);
  if (payload.vouches) {
    const { events, verifiers: trusted, now: at } = payload.vouches;
    const parsed = events.map((e) => {
      try {
        return { channel: parseVouch(e).channel, error: null };
      } catch (exc) {
        return { channel: null, error: exc.message };
      }
    });
    const counted = Object.fromEntries([...vouchers(events, trusted, at)].map(([a, keys]) => [a, [...keys].sort()]));
    process.stdout.write(JSON.stringify({ parsed, vouched: counted }));
    return;
  }
  const { channel: def, now, verifiers, cases, all } = payload;
  const channel = parseChannel(def);
  const out = cases.map(({ event, related }) => {
    const v = threadView(event, related, channel, now, new Set(verifiers));
    return {
      status: v.verdict.status, role: v.verdict.role, text: v.text, subject: v.subject, fields: v.fields,
      corrections: v.corrections.map((c) => c.id), retraction: v.retraction ? v.retraction.id : null,
      deletion: v.deletion ? v.deletion.id : null, labels: v.labels, ignored: v.ignored.map((i) => i[0]).sort(),
      resolution: v.resolution,
    };
  });
  const items = feed(channel, all, now, new Set(verifiers)).map((i) => i.id);
  process.stdout.write(JSON.stringify({ views: out, feed: items }));
});
