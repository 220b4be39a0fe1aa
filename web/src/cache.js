// What this phone saw, kept (encrypted, vault.js) so the app can show it away from the hub. Events are kept per
// group: a channel address, "dir" for channel definitions, "vouches" for verifiers' vouches.

import * as vault from './vault.js';

const MAX_PER_CHANNEL = 3000; // recent posts kept per channel; older ones are dropped when a channel grows

export const save = (ch, events) => vault.saveEvents(ch, events);

export const load = (ch) => vault.loadEvents(ch);

export const count = () => vault.countEvents();

/** Keep the newest MAX_PER_CHANNEL events of a channel. */
export async function prune(ch) {
  if ((await vault.countEvents(ch)) <= MAX_PER_CHANNEL) return;
  const events = await load(ch);
  if (events.length <= MAX_PER_CHANNEL) return;
  events.sort((a, b) => b.created_at - a.created_at);
  await vault.deleteEvents(ch, events.slice(MAX_PER_CHANNEL).map((e) => e.id));
}
