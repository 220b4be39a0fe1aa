// Places people recognise. A channel's place is a path such as BY/Minsk/Frunzenski; the reader sees it in their
// language ("Беларусь › Мінск › Фрунзенскі"), from the channel's own "place-name" tags (docs/protocol.md) or
// from the gazetteer of Belarus the app ships as data (gazetteer-by.json: the country, its regions, Minsk and
// the regional cities, every district by its centre, and the cities' districts, in be, ru and en with other
// spellings). The gazetteer is fetched after the first screen is drawn (it is not part of the code every visit
// needs first); until it arrives places show as the channels wrote them.
//
// A channel's place may spell a part differently from the gazetteer's canonical path (BY/Minsk/Oktyabrsky):
// resolve() matches each part by its Latin skeleton (translit.js) among the names of the places under the part
// before it, so both count as the same district, in the tree and in search.
//
// "Near you" is one place the reader picks once; it is kept in the app's encrypted settings on this phone
// (state.js) and never sent anywhere: the app asks the node for every channel and picks locally.

import { h, mount } from './dom.js';
import { t, lang } from './i18n.js';
import { fold, matches } from './translit.js';

let gazetteer = null; // {byPath: Map(path -> entry), bySegment: Map(parent + '\n' + skeleton -> entry), entries}
let loading = null;
const listeners = new Set();
const LANGS = ['en', 'be', 'ru'];

function index(doc) {
  const byPath = new Map(), bySegment = new Map(), entries = [];
  for (const row of Array.isArray(doc?.places) ? doc.places : []) {
    if (!Array.isArray(row) || row.length < 4 || !row.every((s) => typeof s === 'string' && s)) continue;
    const [path, en, be, ru, ...aka] = row;
    const parts = path.split('/');
    const entry = {
      path, depth: parts.length, names: { en, be, ru },
      keys: [...new Set([parts[parts.length - 1], en, be, ru, ...aka].map(fold).filter(Boolean))],
    };
    entries.push(entry);
    byPath.set(path, entry);
    const parent = parts.slice(0, -1).join('/');
    for (const k of entry.keys) if (!bySegment.has(`${parent}\n${k}`)) bySegment.set(`${parent}\n${k}`, entry);
  }
  return { byPath, bySegment, entries };
}

/** Fetch the gazetteer once (resolves when it is there, or when it cannot be had: offline with no copy). */
export function loadGazetteer() {
  if (!loading) {
    loading = fetch('/gazetteer-by.json').then((r) => (r.ok ? r.json() : null)).then((doc) => {
      if (!doc) throw new Error('no gazetteer');
      gazetteer = index(doc);
      for (const fn of listeners) fn();
    }).catch(() => {
      loading = null; // try again next time a screen asks
    });
  }
  return loading;
}

/** Call `fn` when the gazetteer arrives (views redraw with the readers' names). */
export function onGazetteer(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export const gazetteerReady = () => gazetteer !== null;

/** The gazetteer entry for the longest leading part of `path` it knows, and how many parts that is. */
function resolveLead(path) {
  if (!gazetteer || !path) return [null, 0];
  const parts = path.split('/');
  let parent = '', entry = null, n = 0;
  for (const part of parts) {
    const exact = gazetteer.byPath.get(parent ? `${parent}/${part}` : part);
    const found = exact || gazetteer.bySegment.get(`${parent}\n${fold(part)}`);
    if (!found) break;
    entry = found;
    parent = found.path;
    n += 1;
  }
  return [entry, n];
}

/** The gazetteer's entry for exactly `path` (another spelling of each part counts), or null. */
export function resolve(path) {
  const [entry, n] = resolveLead(path);
  return entry && n === path.split('/').length ? entry : null;
}

/** `path` with each part the gazetteer knows in its canonical spelling (BY/Minsk/Oktyabrsky ->
 * BY/Minsk/Kastrychnitski); parts past what it knows stay as written. */
export function canonical(path) {
  if (!path) return '';
  const [entry, n] = resolveLead(path);
  return entry ? [entry.path, ...path.split('/').slice(n)].join('/') : path;
}

/** The name of the place `path` (its last part) in the reader's language: the channel's own name for it, then
 * the gazetteer's, then the part as written. */
export function placeName(path, channel = null, code = lang()) {
  const own = channel?.placeNames?.get(path);
  if (own?.has(code)) return own.get(code);
  const entry = resolve(path);
  if (entry) return entry.names[code] || entry.names.en;
  return path.split('/').pop();
}

/** "Беларусь › Мінск › Фрунзенскі" for a channel's place. */
export function placeTrail(place, channel = null) {
  if (!place) return '';
  const parts = place.split('/');
  return parts.map((_, i) => placeName(parts.slice(0, i + 1).join('/'), channel)).join(' › ');
}

const keyMemo = new WeakMap();

/** The skeletons a channel is found by: its name, description, place parts, the gazetteer's and the channel's
 * own names for each level of its place. */
export function channelKeys(channel) {
  const memo = keyMemo.get(channel);
  if (memo && memo.ready === gazetteerReady()) return memo.keys;
  const keys = [fold(channel.name), fold(channel.about)];
  const parts = channel.place ? channel.place.split('/') : [];
  parts.forEach((part, i) => {
    keys.push(fold(part));
    const path = parts.slice(0, i + 1).join('/');
    const entry = resolve(path);
    if (entry) keys.push(...entry.keys);
    for (const name of channel.placeNames?.get(path)?.values() || []) keys.push(fold(name));
  });
  const out = keys.filter(Boolean);
  keyMemo.set(channel, { ready: gazetteerReady(), keys: out });
  return out;
}

/** Channels whose name, description or place matches `query` in any script or spelling. */
export const searchChannels = (channels, query) => channels.filter((c) => matches(channelKeys(c), query));

/** Gazetteer places whose names match `query` (names starting with it first, then the broader places). */
export function findPlaces(query, limit = 12) {
  const q = fold(query);
  if (!gazetteer || !q) return [];
  const hits = gazetteer.entries.filter((e) => e.keys.some((k) => k.includes(q)));
  const rank = (e) => (e.keys.some((k) => k.startsWith(q)) ? 0 : 10) + e.depth;
  return hits.sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path)).slice(0, limit);
}

/** True when channel `c` is at `path` or under it (canonical spellings compared). */
export function isUnder(c, path) {
  if (!path) return true;
  const p = canonical(c.place);
  const want = canonical(path);
  return p === want || p.startsWith(`${want}/`);
}

/** The start screen's tree: each place two levels below the top (Мінск, Мінская вобласць, ...) as a heading
 * that opens it, with the places one level further (its districts) as links beside it, so a district's channels
 * are one tap away and its channel two. `channels`: the valid channels that have a place. */
export function treeView(channels, placeLink) {
  const groups = new Map(); // canonical path of 2 parts -> Map(child path -> count)
  for (const c of channels) {
    const parts = canonical(c.place).split('/');
    const top = parts.slice(0, Math.min(2, parts.length)).join('/');
    if (!groups.has(top)) groups.set(top, new Map());
    if (parts.length > 2) {
      const child = parts.slice(0, 3).join('/');
      groups.get(top).set(child, (groups.get(top).get(child) || 0) + 1);
    } else groups.get(top).set('', (groups.get(top).get('') || 0) + 1);
  }
  const sorted = [...groups.keys()].sort((a, b) => placeTrail(a).localeCompare(placeTrail(b), lang()));
  return h('ul', { class: 'tree' }, sorted.map((top) => {
    const children = groups.get(top);
    const total = [...children.values()].reduce((a, b) => a + b, 0);
    const under = [...children.keys()].filter(Boolean).sort((a, b) => placeName(a).localeCompare(placeName(b), lang()));
    return h('li', null,
      placeLink(top.split('/'), { class: 'group' }, h('bdi', null, top.includes('/') ? placeTrail(top) : placeName(top)),
        h('span', { class: 'count' }, String(total))),
      under.length ? h('ul', { class: 'districts' }, under.map((p) => h('li', null,
        placeLink(p.split('/'), null, h('bdi', null, placeName(p)), ' ', h('span', { class: 'count' }, String(children.get(p))))))) : null);
  }));
}

// The last picker's box and choices: the directory draws the block anew whenever channels or the gazetteer come,
// and what the reader typed, its choices and the focus stay (they were lost, and a choice typed early never came).
let kept = null;

/** The "near you" block: the place the reader chose and its channels, or a way to choose one. `near`: the
 * chosen place path or ''; `choose(path)`: keep a new choice ('' forgets it). */
export function nearView({ near, channels, card, choose }) {
  const el = h('section', { class: 'near', 'aria-labelledby': 'near-title' });
  let picking = !near;
  const pick = (path) => {
    kept = null;
    choose(path);
  };

  function picker() {
    if (kept?.words === t('near-explain')) { // not after the reader changed the app's language
      const { input, fill } = kept;
      fill(); // the gazetteer may have come since
      if (document.activeElement === input) queueMicrotask(() => input.focus());
      return kept.nodes;
    }
    let query = '';
    const list = h('ul', { class: 'places pick' });
    const fill = () => {
      const found = query ? findPlaces(query) : [];
      mount(list, found.map((e) => h('li', null, h('button', { type: 'button', class: 'place-choice', 'data-path': e.path,
        onclick: () => pick(e.path) }, h('bdi', null, e.depth > 2 ? placeTrail(e.path).split(' › ').slice(1).join(' › ') : placeTrail(e.path))))));
    };
    const input = h('input', { type: 'search', id: 'near-search', placeholder: t('near-search'), 'aria-label': t('near-search'),
      oninput: (ev) => {
        query = ev.target.value;
        fill();
      } });
    fill();
    kept = { input, fill, words: t('near-explain'), nodes: [h('p', { class: 'hint' }, t('near-explain')), input, list] };
    return kept.nodes;
  }

  function draw() {
    const here = near ? channels.filter((c) => isUnder(c, near)) : [];
    mount(el,
      h('h2', { id: 'near-title' }, t('near-you'), near ? [': ', h('bdi', { class: 'near-place' }, placeName(canonical(near)))] : null),
      near && here.length ? h('ul', { class: 'channels near-channels' }, here.map(card)) : null,
      near && !here.length ? h('p', { class: 'empty' }, t('near-none')) : null,
      picking ? picker() : h('button', { type: 'button', class: 'small', id: 'near-change', onclick: () => {
        picking = true;
        draw();
        el.querySelector('#near-search')?.focus();
      } }, t('near-change')),
      near && picking ? h('button', { type: 'button', class: 'small', id: 'near-clear', onclick: () => pick('') }, t('near-clear')) : null);
  }
  if (!picking) kept = null;
  draw();
  return el;
}
