// Runs web/src/recovery.js on web/test/recovery-vectors.json (the file named as the first argument) and prints,
// for each case, what the browser concludes, for tests/web/test_recovery_parity.py to compare with Python's.
import { readFileSync } from 'node:fs';
import { judge, witnesses } from '../src/recovery.js';
import { postVerdict, tagValues } from '../src/rules.js';
import { verifyEvent } from '../src/nostr.js';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = cases.map((c) => {
  const newest = c.definitions.reduce((best, e) => {
    const d = tagValues(e, 'd')[0] || '';
    if (`30333:${e.pubkey}:${d}` !== c.address) return best;
    return !best || e.created_at > best.created_at || (e.created_at === best.created_at && e.id < best.id) ? e : best;
  }, null);
  const vouches = witnesses(c.vouches, c.verifiers, c.now).get(c.address) || [];
  const { channel, remember } = judge(c.address, newest, c.claims, c.remembered, verifyEvent, vouches);
  return {
    readable: Boolean(channel),
    seized_since: channel ? channel.seizedSince : null,
    successor: channel ? channel.successor : '',
    remember,
    name: channel ? channel.name : null,
    disputes: channel ? (channel.recoveryDisputes || []).map((d) => [d.key, d.verifiers, d.successor]) : [],
    posts: channel ? c.posts.map((p) => { const v = postVerdict(p, channel, c.now); return [v.status === 'valid', v.role]; }) : [],
  };
});
process.stdout.write(JSON.stringify(out));
