// Telling the channel a reader means from one made to look like it: a port of src/samizdat/core/trust.py
// (cross-checked by tests/web/test_display_parity.py). vouchers(): which trusted verifiers vouch for which channel
// addresses; collisions(): channels another key named like an own, followed or vouched one; lookalikes(): the same
// against every channel, what a reader who trusts none of them yet is told.

import { DELETION, LABEL, MAX_FUTURE, Malformed, isExpired, parseVouch } from './rules.js';
import { nameKeys, spokenKey } from './display.js';

export const MIN_CONTAINED = 4;
export const MIN_DESCRIBED = 24; // letters and digits of a description's spoken key, for "the same description"
export const LOOKALIKE_BUCKET = 16; // channels per name, place or description lookalikes() compares with, at most

/** Map address -> Set of verifiers who vouch for it, from vouch labels and deletion requests (any order). */
export function vouchers(allEvents, verifiers, now, maxFuture = MAX_FUTURE) {
  const trusted = new Set(verifiers);
  const events = Array.from(allEvents);
  const withdrawn = new Set();
  for (const e of events) {
    if (e.kind !== DELETION) continue;
    for (const t of e.tags) if (t.length >= 2 && t[0] === 'e') withdrawn.add(`${e.pubkey}:${t[1]}`);
  }
  const found = new Map();
  for (const e of events) {
    if (e.kind !== LABEL || !trusted.has(e.pubkey) || withdrawn.has(`${e.pubkey}:${e.id}`)) continue;
    if (e.created_at > now + maxFuture || isExpired(e, now)) continue;
    let vouch;
    try {
      vouch = parseVouch(e);
    } catch (exc) {
      if (exc instanceof Malformed) continue;
      throw exc;
    }
    if (!found.has(vouch.channel)) found.set(vouch.channel, new Set());
    found.get(vouch.channel).add(vouch.verifier);
  }
  return found;
}

function contained(a, b) {
  const la = [...a].length, lb = [...b].length; // code points, as Python counts
  const [shorter, longer] = la <= lb ? [a, b] : [b, a];
  return Math.min(la, lb) >= MIN_CONTAINED && longer.includes(shorter);
}

/** Map address -> [addresses of trusted channels it collides with]: same name first, then same place with one
 * name inside the other, then a copied description; never itself or a channel of the same owner key; only the
 * first `bucket` trusted channels of each name, place and description. Channels: {address, owner, name, place,
 * about}. */
export function collisions(channels, trusted, bucket = Infinity) {
  const byName = new Map(), byPlace = new Map(), byAbout = new Map();
  const spoken = trusted.map((t) => spokenKey(t.name));
  const index = (map, key, i) => {
    if (!map.has(key)) map.set(key, []);
    if (map.get(key).length < bucket) map.get(key).push(i);
  };
  trusted.forEach((t, i) => {
    for (const key of nameKeys(t.name)) index(byName, key, i);
    if (t.place) for (const key of nameKeys(t.place)) index(byPlace, key, i);
    const about = spokenKey(t.about || '');
    if ([...about].length >= MIN_DESCRIBED) index(byAbout, about, i);
  });
  const out = new Map();
  const sorted = (set) => [...set].sort((a, b) => a - b);
  for (const channel of channels) {
    const same = new Set();
    for (const key of nameKeys(channel.name)) for (const i of byName.get(key) || []) same.add(i);
    const near = new Set();
    if (channel.place) {
      const own = spokenKey(channel.name);
      for (const key of nameKeys(channel.place)) {
        for (const i of byPlace.get(key) || []) if (!same.has(i) && contained(own, spoken[i])) near.add(i);
      }
    }
    const copied = new Set();
    if (byAbout.size) for (const i of byAbout.get(spokenKey(channel.about || '')) || []) if (!same.has(i) && !near.has(i)) copied.add(i);
    const found = [...sorted(same), ...sorted(near), ...sorted(copied)].filter((i) => trusted[i].owner !== channel.owner).map((i) => trusted[i].address);
    if (found.length) out.set(channel.address, [...new Set(found)]);
  }
  return out;
}

/** Map address -> [addresses of the other channels (of other keys) it collides with], judged as collisions()
 * against every one of `channels`. */
export const lookalikes = (channels) => collisions(channels, channels, LOOKALIKE_BUCKET);
