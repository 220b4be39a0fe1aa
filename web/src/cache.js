// What this phone saw, kept (encrypted, vault.js) so the app can show it away from the hub. Events are kept per
// group: a channel address, "dir" for channel definitions, "vouches" for verifiers' vouches.

import * as vault from './vault.js';
import { screens } from './lazy.js';

const MAX_PER_CHANNEL = 3000; // posts kept per channel; past that, the most-kept author's oldest go first

export const save = (ch, events) => vault.saveEvents(ch, events);

export const load = (ch) => vault.loadEvents(ch);

export const count = () => vault.countEvents();

/** Keep a fair MAX_PER_CHANNEL events of a channel (keepfair.js, with /screens.js: not in the page's budget). */
export async function prune(ch) {
  if ((await vault.countEvents(ch)) <= MAX_PER_CHANNEL) return;
  const events = await load(ch);
  if (events.length <= MAX_PER_CHANNEL) return;
  const s = await screens().catch(() => null); // not loaded (offline, never kept): pruned next time
  if (!s) return;
  const kept = new Set(s.keepFair(events, ch, MAX_PER_CHANNEL).map((e) => e.id));
  await vault.deleteEvents(ch, events.filter((e) => !kept.has(e.id)).map((e) => e.id));
}
