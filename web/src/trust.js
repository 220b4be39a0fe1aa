// Telling the channel a reader means from one made to look like it: a port of src/samizdat/core/trust.py
// (cross-checked by tests/web/test_display_parity.py). vouchers(): which trusted verifiers vouch for which channel
// addresses; collisions(): channels another key named like an own, followed or vouched one (or alike: namesAlike());
// lookalikes(): the same against every channel, what a reader who trusts none of them yet is told.

import { DELETION, LABEL, MAX_FUTURE, Malformed, isExpired, parseVouch } from './rules.js';
import { mixedScriptWords, nameKeys, namesCollide, neutralize, spokenKey, visualKey } from './display.js';

export const MIN_CONTAINED = 4;
export const MIN_DESCRIBED = 24; // letters and digits of a description's spoken key, for "the same description"
export const LOOKALIKE_BUCKET = 16; // channels per name, place or description lookalikes() compares with, at most
export const MIN_NEAR = 7; // letters of a word for "one letter away" (measured: bench/lookalike_near.py)
export const MIN_SHORT = 4; // shorter: neighbours swapped, a letter added or dropped but the last, or changed in one place
// core/trust.py FILLERS and ABBREVIATIONS as their spoken keys (tests/web/test_lookalike_parity.py compares them).
export const FILLERS = new Set('aficina aficini canel info kanal live navini nevs novosti ofical oficalna oficalni onlain online'.split(' '));
export const ABBREVIATIONS = new Map(Object.entries({
  rn: 'raon', h: 'horod', ul: 'ulica', vul: 'vulica', prt: 'prospekt', prkt: 'prospekt', pl: 'plosad', mkr: 'mikroraon',
}));

/** A name's words as core/trust.py name_words(): per reading, [sorted words' keys but fillers, sorted fillers']. */
export function nameWords(name, memo = new Map()) {
  const words = [0, 1, 2].map(() => [[], []]);
  for (const token of neutralize(name).toLowerCase().match(/[\p{L}\p{M}\p{N}.-]+/gu) || []) {
    const [spoken, ...visual] = memo.get(token) ?? memo.set(token, [spokenKey(token), visualKey(token), visualKey(token.toUpperCase())]).get(token);
    [ABBREVIATIONS.get(spoken) || spoken, ...visual].forEach((key, k) => key && words[k][+FILLERS.has(spoken)].push(key));
  }
  return words.map(([core, fillers]) => [core.sort(), fillers.sort()]);
}

// One letter dropped, added, changed or two neighbours swapped before the last two (endings), as trust.py _near();
// under MIN_NEAR letters, _short_near(): neighbours swapped, a letter added or dropped but the last, changed if `changed`.
function near(x, y, changed) {
  let [a, b] = [[...x], [...y]].sort((p, q) => p.length - q.length);
  if (x === y || a.length < MIN_SHORT || /\p{Nd}/u.test(x + y)) return false;
  const rest = (w, n) => w.slice(n).join('');
  if (a.length < MIN_NEAR) {
    if (b.length - a.length === 1) return b.slice(0, -1).some((_, i) => rest(b.slice(0, i), 0) + rest(b, i + 1) === a.join(''));
    const apart = a.flatMap((ch, i) => (ch === b[i] ? [] : [i])), [i, j] = apart;
    return a.length === b.length && (apart.length === 1 ? !!changed : apart.length === 2 && j === i + 1 && a[i] === b[j] && a[j] === b[i]);
  }
  if (a.slice(-2).join('') !== b.slice(-2).join('')) return false;
  a = a.slice(0, -2), b = b.slice(0, -2);
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  if (a.length !== b.length) return b.length - a.length === 1 && rest(a, i) === rest(b, i + 1);
  return rest(a, i + 1) === rest(b, i + 1) || (rest(a, i + 2) === rest(b, i + 2) && a[i] === b[i + 1] && a[i + 1] === b[i]);
}

// The words of a not in b, as many times as they are more often in a (each of b's takes one of a's away).
const minus = (a, b) => {
  const left = [...b];
  return a.filter((w) => !left.includes(w) || !left.splice(left.indexOf(w), 1));
};

// changed: of the same place (a letter changed in a short word counts); mixed(): one mixes alphabets in a word ("Lidа news").
function alike(a, b, changed, mixed) {
  return a.some(([coreA, fillA], k) => {
    const [coreB, fillB] = b[k];
    if (!coreA.length || coreA.length !== coreB.length) return false;
    const onlyA = minus(coreA, coreB), onlyB = minus(coreB, coreA);
    if (!onlyA.length) return coreA.length > 1 || !!mixed?.();
    return onlyA.length === 1 && (coreA.length > 1 || `${fillA}` === `${fillB}` || !!mixed?.()) && near(onlyA[0], onlyB[0], changed && coreA.length === 1);
  });
}

export const namesAlike = (a, b) => alike(nameWords(a), nameWords(b), false, () => mixedScriptWords(a).length + mixedScriptWords(b).length > 0);

/** How a look-alike looks like `a`, for the words said of it, as core/trust.py likeness(): '' (the same name),
 * '-about' (only the description the same) or '-like' (a name a letter or a word apart, one inside the other). */
export function likeness(a, b) {
  if (namesCollide(a.name, b.name)) return '';
  const about = spokenKey(a.about || '');
  return !namesAlike(a.name, b.name) && about.length >= MIN_DESCRIBED && about === spokenKey(b.about || '') ? '-about' : '-like';
}

// Strings two alike names share one of at least (trust.py _signatures()).
function signatures(words) {
  const out = new Set();
  words.forEach(([core], k) => {
    if (core.length > 1) out.add(`${k}=${core.join(' ')}`);
    core.forEach((word, j) => {
      const rest = core.filter((_, m) => m !== j).join(' ');
      const w = [...word];
      if (w.length >= MIN_SHORT) for (let c = 0; c <= w.length; c++) out.add(`${k}~${rest}~${w.slice(0, c).join('')}${w.slice(c + 1).join('')}`);
    });
  });
  return out;
}

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

let kept = [];

/** Map address -> [addresses of trusted channels it collides with]: same name first, then same place with one
 * name inside the other, then a name alike (namesAlike()), then a copied description; never itself or a channel of the same owner key; only the
 * first `bucket` trusted channels of each name, place and description. Channels: {address, owner, name, place,
 * about}. */
export function collisions(channels, trusted, bucket = Infinity) {
  const byName = new Map(), byPlace = new Map(), byAbout = new Map(), bySign = new Map(), memo = new Map();
  // Each text's keys once per call (every channel is both sides in lookalikes()), and taken from the last call's
  // when it had the text: state.js trust() judges the same names twice (collisions(), lookalikes()), and again on
  // every change of vouches or follows. Only the last call's are kept (the names a reader's hub has, no others).
  const before = kept, maps = (kept = [1, 2, 3].map(() => new Map()));
  const cached = (n, make, map = maps[n] || new Map()) => (text) => map.get(text) || map.set(text, before[n]?.get(text) || make(text)).get(text);
  const keys = cached(0, nameKeys), speak = cached(1, spokenKey);
  const words = cached(2, (text) => nameWords(text, memo)), signs = cached(3, (text) => signatures(words(text)));
  const mixes = cached(4, (text) => [mixedScriptWords(text).length > 0]), mixed = (a, b) => () => mixes(a)[0] || mixes(b)[0];
  const index = (map, key, i) => {
    if (!map.has(key)) map.set(key, []);
    if (map.get(key).length < bucket) map.get(key).push(i);
  };
  trusted.forEach((t, i) => {
    for (const key of keys(t.name)) index(byName, key, i);
    if (t.place) for (const key of keys(t.place)) index(byPlace, key, i);
    const about = speak(t.about || '');
    if ([...about].length >= MIN_DESCRIBED) index(byAbout, about, i);
    for (const key of signs(t.name)) index(bySign, key, i);
  });
  const out = new Map();
  for (const channel of channels) {
    // Each kind sorted after those before it (a channel counts once, under the first): same name, same place and
    // one name inside the other, alike (each channel found judged once), the description copied.
    const order = new Set(), add = (found) => found.sort((a, b) => a - b).forEach((i) => order.add(i));
    const under = (map, texts) => [...texts].flatMap((key) => map.get(key) || []);
    add(under(byName, keys(channel.name)));
    if (channel.place) add(under(byPlace, keys(channel.place)).filter((i) => contained(speak(channel.name), speak(trusted[i].name)) || alike(words(channel.name), words(trusted[i].name), true, mixed(channel.name, trusted[i].name))));
    add([...new Set(under(bySign, signs(channel.name)))].filter((i) => !order.has(i) && alike(words(channel.name), words(trusted[i].name), false, mixed(channel.name, trusted[i].name))));
    add(under(byAbout, [speak(channel.about || '')]));
    const found = [...order].filter((i) => trusted[i].owner !== channel.owner).map((i) => trusted[i].address);
    if (found.length) out.set(channel.address, [...new Set(found)]);
  }
  return out;
}

/** Map address -> [addresses of the other channels (of other keys) it collides with], judged as collisions()
 * against every one of `channels`. */
export const lookalikes = (channels) => collisions(channels, channels, LOOKALIKE_BUCKET);
