// Which posts of a channel a full phone cache keeps (cache.js): loaded with /screens.js, as pruning can wait.

/** The events of channel `ch` a full phone cache keeps (at most `max`): the owner's alerts first, then every
 * author's newest, then every author's second newest, and so on (ties: newer, then lower id). A key that floods
 * the channel with 3,000 posts (an admin's, seized) no longer pushes the others' out: it keeps what is left.
 * web/test/cache-vectors.json. */
export function keepFair(events, ch, max) {
  const owner = ch.split(':')[1], nth = new Map();
  const newer = (a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1);
  return [...events].sort(newer).map((e) => {
    const n = nth.get(e.pubkey) || 0;
    nth.set(e.pubkey, n + 1);
    return [e.pubkey === owner && e.tags.some((t) => t[0] === 'type' && t[1] === 'alert') ? -1 : n, e];
  }).sort((a, b) => a[0] - b[0] || newer(a[1], b[1])).slice(0, max).map((r) => r[1]);
}
