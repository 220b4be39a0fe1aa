// What this phone saw, kept (encrypted, vault.js) so the app can show it away from the hub. Events are kept per
// group: a channel address, "dir" for channel definitions, "vouches" for verifiers' vouches.

import * as vault from './vault.js';

const MAX_PER_CHANNEL = 3000; // posts kept per channel; past that, the most-kept author's oldest go first

export const save = (ch, events) => vault.saveEvents(ch, events);

export const load = (ch) => vault.loadEvents(ch);

export const count = () => vault.countEvents();

/** The events of channel `ch` a full cache keeps (at most `max`): the owner's alerts first, then every author's
 * newest, then every author's second newest, and so on (ties: newer, then lower id). A key that floods the
 * channel with 3,000 posts (an admin's, seized) no longer pushes the others' out: it keeps only what is left.
 * web/test/cache-vectors.json. */
export function keepFair(events, ch, max = MAX_PER_CHANNEL) {
  const owner = ch.split(':')[1], nth = new Map();
  const newer = (a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1);
  return [...events].sort(newer).map((e) => {
    const n = nth.get(e.pubkey) || 0;
    nth.set(e.pubkey, n + 1);
    return [e.pubkey === owner && e.tags.some((t) => t[0] === 'type' && t[1] === 'alert') ? -1 : n, e];
  }).sort((a, b) => a[0] - b[0] || newer(a[1], b[1])).slice(0, max).map((r) => r[1]);
}

/** Keep a fair MAX_PER_CHANNEL events of a channel (keepFair). */
export async function prune(ch) {
  if ((await vault.countEvents(ch)) <= MAX_PER_CHANNEL) return;
  const events = await load(ch);
  if (events.length <= MAX_PER_CHANNEL) return;
  const kept = new Set(keepFair(events, ch).map((e) => e.id));
  await vault.deleteEvents(ch, events.filter((e) => !kept.has(e.id)).map((e) => e.id));
}
