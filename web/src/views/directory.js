// Channels by place (country / city / district / block), followed channels first, and a search. Each channel
// shows, before anything else, "not the channel you follow" when another key named it like one the reader follows
// or a trusted verifier vouches for, or "another channel has this name" when the reader trusts neither of two
// look-alikes; trusted channels come first and look-alikes last, in every list. Then its name, the fingerprint of
// its owner key and its marks (followed, vouched for, mixed alphabets). A switch lists only the channels trusted
// verifiers vouch for.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { state, trust, setVouchedOnly, setNear } from '../state.js';
import { link } from '../nav.js';
import { screens } from '../lazy.js';
import { followLinkPanel } from '../follow-link.js';
import { placeTrail, placeName, searchChannels, findPlaces, isUnder, canonical, treeView, nearView, onGazetteer, loadGazetteer } from '../places.js';

const place = (path) => ({ screen: 'directory', path });

/** t() with elements in place of its {placeholders}: a name from the network stays an isolate of its own. */
function sentence(key, vars) {
  const marked = Object.fromEntries(Object.keys(vars).map((k) => [k, `\u0000${k}\u0000`]));
  return t(key, marked).split('\u0000').map((part, i) => (i % 2 ? vars[part] : part));
}

/** "Not the channel you follow: ..." for a channel that collides, "Another channel has this name: ..." (or "a name
 * like this one", "this description": trust.js likeness()) for one that a reader who trusts neither could take
 * for another, else null. */
export function collisionWarning(info, tag = 'span') {
  if (!info.warned && !info.twinned) return null;
  const name = h('bdi', null, info.like ? info.like.name : '');
  const key = info.twinned ? `collision-twin${info.twinKind}` : info.likeFollowed ? 'collision-followed' : vouchedKey(info);
  return h(tag, { class: `warning collision${info.twinned ? ' twin' : ''}`, role: 'note' },
    '⚠ ', sentence(key, { name, fp: info.likeFingerprint }));
}

/** Said of a channel named like one the reader's verifiers vouch for: "not the channel your verifiers vouch for",
 * or, when they vouch for this one too (one of them fooled, or its key in other hands), that they disagree. */
export const vouchedKey = (info) => (info.vouchedBy.size ? 'collision-disputed' : 'collision-vouched');

/** Followed / yours, vouched for by N, mixed alphabets. */
export function marks(info) {
  const out = [];
  if (info.relation === 'own') out.push(h('span', { class: 'mark own' }, t('mark-own')));
  if (info.relation === 'followed') out.push(h('span', { class: 'mark followed' }, t('mark-followed')));
  if (info.vouchedBy.size) out.push(h('span', { class: 'mark vouched' }, t('mark-vouched', { n: info.vouchedBy.size })));
  if (info.mixed.length) {
    const words = info.mixed.flatMap((w, i) => [i ? ', ' : null, h('bdi', null, w)]);
    out.push(h('span', { class: 'mark mixed', title: info.mixed.join(' ') }, sentence('mark-mixed', { words })));
  }
  return out.length ? h('span', { class: 'marks' }, out) : null;
}

export function fingerprintView(info, tag = 'span') {
  return h(tag, { class: 'fp', title: t('fingerprint-explain') }, h('span', { class: 'k' }, t('fingerprint')), ' ',
    h('span', { class: 'v' }, info.fingerprint));
}

/** "Owner key seized", or "recovery keys disagree", on a card (views/seized.js, in /screens.js with its words). */
function seizedMark(ch) {
  if (ch.seizedSince == null && !ch.recoveryDisputes?.length) return null;
  const mark = h('span', { class: 'warning seized', role: 'note' }, '⚠');
  screens().then((s) => mount(mark, s.seizedMark(ch)), () => {});
  return mark;
}

function card(ch) {
  const info = trust().of(ch);
  return h('li', { class: `channel${info.warned || info.twinned ? ' warned' : ''}`, 'data-address': ch.address },
    link({ screen: 'channel', address: ch.address }, null,
      seizedMark(ch),
      collisionWarning(info),
      h('strong', { dir: 'auto' }, ch.name),
      fingerprintView(info),
      marks(info),
      ch.place ? h('span', { class: 'place', dir: 'auto' }, placeTrail(ch.place, ch)) : null,
      ch.about ? h('span', { class: 'about', dir: 'auto' }, ch.about.slice(0, 160)) : null));
}

/** 0 for a channel the reader owns, follows or has vouched for, 2 for one marked as a look-alike, 1 else: a
 * look-alike never comes before the channel it could be taken for, in a place's list or a search's. */
function rank(ch) {
  const info = trust().of(ch);
  if (info.relation !== 'carried' || info.vouchedBy.size) return 0;
  return info.warned || info.twinned ? 2 : 1;
}

function valid() {
  return [...state.channels.values()].filter((c) => !c.error)
    .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

export function directoryView(path) {
  const el = h('main', { class: 'directory' });
  let query = '';
  const results = h('div');
  const search = h('input', { type: 'search', id: 'search', placeholder: t('search-placeholder'), 'aria-label': t('search'),
    oninput: (ev) => {
      query = ev.target.value.trim();
      draw();
    } });
  const vouchedOnly = h('label', { class: 'switch' },
    h('input', { type: 'checkbox', id: 'vouched-only', checked: state.vouchedOnly, onchange: async (ev) => {
      await setVouchedOnly(ev.target.checked);
      draw();
    } }), ' ', t('vouched-only'));

  function draw() {
    let all = valid();
    if (state.vouchedOnly) {
      all = all.filter((c) => state.vouches.has(c.address));
      if (!query) {
        mount(results, all.length ? [h('h2', null, t('vouched-channels')), h('ul', { class: 'channels vouched' }, all.map(card))]
          : h('p', { class: 'empty' }, state.verifiers.length ? t('no-vouched') : t('no-verifiers')));
        return;
      }
    }
    if (query) {
      // Places and channels in any script or spelling (places.js): a district's channels show up by its name.
      const hits = searchChannels(all, query);
      const spots = findPlaces(query).filter((e) => all.some((c) => isUnder(c, e.path)));
      mount(results,
        spots.length ? [h('h2', null, t('places-matching')), h('ul', { class: 'places found' }, spots.map((e) =>
          h('li', null, link(place(e.path.split('/')), null, h('bdi', null, placeTrail(e.path))))))] : null,
        hits.length ? [spots.length ? h('h2', null, t('channels-matching')) : null, h('ul', { class: 'channels' }, hits.map(card))] : null,
        !hits.length && !spots.length ? h('p', { class: 'empty' }, t('no-match')) : null);
      return;
    }
    const followed = all.filter((c) => state.follows.includes(c.address));
    const at = canonical(path.join('/'));
    const here = all.filter((c) => (path.length ? isUnder(c, at) : true));
    const children = new Map();
    const exact = [];
    for (const c of here) {
      const p = c.place ? canonical(c.place).split('/') : [];
      if (p.length === path.length) exact.push(c);
      else children.set(p[path.length], (children.get(p[path.length]) || 0) + 1);
    }
    const atParts = at ? at.split('/') : [];
    const crumbs = [link(place([]), null, t('all-places'))];
    atParts.forEach((s, i) => crumbs.push(' › ', link(place(atParts.slice(0, i + 1)), null, h('bdi', null, placeName(atParts.slice(0, i + 1).join('/'))))));
    const sub = (s) => [...atParts, s].join('/');
    // The start screen: followed channels (a tap opens one, newest post first), then near you, then the tree.
    mount(results,
      !path.length && followed.length ? [h('h2', null, t('followed')), h('ul', { class: 'channels followed' }, followed.map(card))] : null,
      !path.length ? nearView({ near: state.near, channels: all.filter((c) => c.place), card, choose: async (p) => {
        await setNear(p);
        draw();
      } }) : null,
      !path.length ? [h('h2', null, t('places-tree')), treeView(all.filter((c) => c.place), (parts, attrs, ...kids) => link(place(parts), attrs, ...kids))]
        : h('nav', { class: 'crumbs' }, crumbs),
      path.length && children.size ? h('ul', { class: 'places' }, [...children.keys()].sort((a, b) => placeName(sub(a)).localeCompare(placeName(sub(b)))).map((s) =>
        h('li', null, link(place([...atParts, s]), null, h('bdi', null, placeName(sub(s))), h('span', { class: 'count' }, String(children.get(s))))))) : null,
      exact.length ? [h('h2', null, path.length ? t('channels-here') : t('channels-no-place')), h('ul', { class: 'channels' }, exact.map(card))] : null,
      !all.length ? h('p', { class: 'empty' }, state.online ? t('no-channels') : t('no-channels-offline')) : null);
  }

  const title = h('h1', { dir: 'auto' });
  const heading = () => mount(title, path.length ? placeName(canonical(path.join('/'))) : t('directory'));
  heading();
  mount(el, title, search, vouchedOnly, results, path.length ? null : followLinkPanel());
  draw();
  const stop = onGazetteer(() => {
    heading();
    draw();
  });
  loadGazetteer();
  return { el, refresh: draw, destroy: stop }; // redraws the results only: the search box keeps its text and focus
}
