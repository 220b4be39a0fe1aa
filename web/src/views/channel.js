// A channel: its posts newest first (windowed, so 10,000 posts scroll smoothly), follow/unfollow, share, and
// compose for whoever may post. Posts come from the node's relay and from this phone's cache. The header says
// first when another key named this channel like one the reader follows ("not the channel you follow"), then
// the name, the owner key's fingerprint and the marks (followed, vouched for by trusted verifiers).

import { h, mount } from '../dom.js';
import { t, plural } from '../i18n.js';
import { state, now, setFollow, trust, addClaims, changed } from '../state.js';
import { feed, fold, mayAmend, roleOf } from '../rules.js';
import { extras, screens } from '../lazy.js';
import * as cache from '../cache.js';
import { VirtualList } from '../vlist.js';
import { renderPost } from './post.js';
import { qrImage } from './qr.js';
import { collisionWarning, fingerprintView, marks, vouchedKey } from './directory.js';
import { link } from '../nav.js';
import { watchMirrors, mirrorNote } from '../mirrors.js';
import { placeTrail } from '../places.js';
import { verifying } from '../embedded.js';
import { neutralize } from '../display.js';

const PAGE = 5000; // the relay's largest limit per filter

/** Who can sign for this channel here: this phone's key, else the operator's, when either has a role. */
export function signers(channel) {
  const out = [];
  if (!channel || channel.error) return out;
  const ts = now();
  if (state.secret && state.pubkey && roleOf(channel, state.pubkey, ts)) out.push({ who: 'phone', pubkey: state.pubkey });
  if (state.operator && roleOf(channel, state.operator.pubkey, ts)) out.push({ who: 'operator', pubkey: state.operator.pubkey });
  return out;
}

/** Whose labels (confirmed, disputed, ...) are shown on the channel's posts: the verifiers this reader trusts, and
 * the reader's own keys (as `samizdat feed` counts the node's). Never the channel's owner as such: an impostor
 * would "confirm" his own fake posts (docs/protocol.md, "How readers render a post"). */
const labelersOf = () => [...new Set([...state.verifiers, state.pubkey, state.operator?.pubkey].filter(Boolean))];

/** Said before anything else when the channel's recovery key says its owner key was seized, or trusted verifiers
 * name another recovery key than the one this phone honours (views/seized.js, in /screens.js with its words). */
function seizedWarning(channel) {
  if (channel.seizedSince == null && !channel.recoveryDisputes?.length) return null;
  const box = h('div', { class: 'warning seized', role: 'alert', id: 'seized' }, '⚠');
  screens().then((s) => mount(box, s.seizedWarning(channel)), () => {});
  return box;
}

export function channelView(address) {
  const el = h('main', { class: 'channel-page' });
  const events = new Map();
  const header = h('div', { class: 'channel-head' });
  const info = h('h2', { class: 'loading' }, t('loading')); // "12 posts": the heading over the posts (each an h3)
  const listBox = h('div', { class: 'feed' });
  let list = null;
  let shown = ''; // what the list shows (drawn): an event that changes nothing on screen does not redraw it
  let subs = [];
  let timer = 0;
  let unsaved = [];
  let deletionSubs = [], deletionKey = '';
  const open = new Set(); // the folded runs the reader opened (rules.js fold)

  function add(e) {
    if (events.has(e.id)) return false;
    events.set(e.id, e);
    // A seizure claim (recovery.js) comes with the posts, from the relay or this phone's cache.
    if (e.tags.some((t) => t[0] === 'type' && t[1] === 'seized') && addClaims([e])) changed();
    return true;
  }

  function schedule() {
    if (!timer) timer = setTimeout(() => {
      timer = 0;
      draw();
      const batch = unsaved.splice(0);
      cache.save(address, batch).then(() => cache.prune(address));
    }, 150);
  }

  function onEvent(e) {
    if (add(e)) {
      unsaved.push(e);
      schedule();
    }
  }

  function page(until) {
    let count = 0, fresh = 0, oldest = Infinity;
    const filter = { kinds: [2333], '#a': [address], limit: PAGE };
    if (until !== undefined) filter.until = until;
    const id = state.relay.subscribe([filter], (e) => {
      count++;
      if (!events.has(e.id)) fresh++;
      oldest = Math.min(oldest, e.created_at);
      onEvent(e);
    }, () => {
      if (until !== undefined) state.relay.close(id);
      if (count >= PAGE && fresh > 0) page(oldest);
    });
    subs.push(id);
  }

  function related(channel) {
    const keys = [channel.owner, ...channel.admins.keys(), ...channel.revoked.keys()].slice(0, 1000);
    const labelers = labelersOf();
    const key = keys.join(',') + '|' + labelers.join(',');
    if (key === deletionKey) return;
    deletionKey = key;
    for (const id of deletionSubs) state.relay.close(id);
    // Each of the first 36 keys' and verifiers' newest apart (10 filters a REQ, a relay's most): one key's flood (a
    // verifier's or an admin's, seized) pushes out only its own labels or deletions (services/feed.py).
    const each = (authors, filter) => [...authors.slice(0, 36).map((a) => ({ ...filter, authors: [a] })),
      ...(authors.length > 36 ? [{ ...filter, authors: authors.slice(36, 1000) }] : [])];
    const filters = [...each(keys, { kinds: [5], limit: PAGE }), ...each(labelers, { kinds: [1985], '#L': ['samizdat.verify'], limit: PAGE })];
    deletionSubs = [];
    for (let i = 0; i < filters.length; i += 10) deletionSubs.push(state.relay.subscribe(filters.slice(i, i + 10), onEvent));
    subs.push(...deletionSubs);
  }

  // The admins, for an operator logged in as the owner (views/admins.js, in /screens.js, which keeps the box's
  // state in this element across redraws of the header).
  const admins = h('div', { id: 'admins-slot' });

  let headerKey = [];
  function drawHeader(channel) {
    const followed = state.follows.includes(address);
    const canPost = signers(channel).length > 0;
    const owner = state.operator?.pubkey === channel.owner;
    const shareBox = h('div');
    const info = trust().of(channel);
    // Drawn again only when it changed: events arriving must not close the share box the reader just opened.
    const key = [channel, followed, canPost, info, owner];
    if (key.every((k, i) => k === headerKey[i])) return;
    headerKey = key;
    mount(header,
      seizedWarning(channel),
      collisionWarning(info, 'p'),
      h('h1', { dir: 'auto' }, channel.name),
      fingerprintView(info, 'p'),
      marks(info),
      channel.place ? h('p', { class: 'place', dir: 'auto' }, placeTrail(channel.place, channel)) : null,
      channel.about ? h('p', { class: 'about', dir: 'auto' }, channel.about) : null,
      h('p', { class: 'actions' },
        h('button', { id: 'follow', class: followed ? 'secondary' : 'primary', onclick: async (ev) => {
          // Once followed, a look-alike is trusted and the warning moves to the real one: asked first, as
          // `samizdat follow` refuses it without --anyway.
          if (!followed && info.warned && !confirm(t(info.likeFollowed ? 'follow-lookalike-confirm' : vouchedKey(info), {
            name: neutralize(info.like ? info.like.name : ''), fp: info.likeFingerprint }) + (info.likeFollowed ? '' : ` ${t('follow-anyway')}`))) return;
          ev.target.disabled = true;
          await setFollow(address, !followed);
          drawHeader(channel);
        } }, followed ? t('unfollow') : t('follow')),
        canPost ? link({ screen: 'compose', address }, { id: 'compose', class: 'button primary' }, t('compose')) : null,
        link({ screen: 'nearby', address }, { id: 'nearby', class: 'button' }, t('nearby'))),
      h('details', { class: 'share', ontoggle: (ev) => {
        if (!ev.target.open || shareBox.firstChild) return;
        extras().then((x) => {
          const naddr = x.naddrEncode(30333, channel.owner, channel.channelId, channel.mirrors.filter((m) => /^[!-~]+$/.test(m)).slice(0, 3));
          mount(shareBox, h('code', { class: 'naddr' }, naddr), qrImage(naddr));
        }, () => mount(shareBox, t('offline')));
      } }, h('summary', null, t('share')), shareBox),
      owner ? admins : null);
    if (owner) screens().then((s) => s.adminsBox(admins, channel, address), () => {});
  }

  function draw() {
    const channel = state.channels.get(address);
    if (!channel) {
      mount(info, state.online ? t('loading') : t('unknown-channel'));
      return;
    }
    if (channel.error) {
      mount(header, h('h1', null, t('unreadable')), h('p', { class: 'error' }, channel.error));
      return;
    }
    related(channel);
    drawHeader(channel);
    const ts = now();
    const posts = feed(channel, events.values(), ts, new Set(labelersOf()));
    const items = fold(posts, open);
    const mine = signers(channel);
    const ctx = {
      now: ts,
      canAmend: (author) => mine.some((s) => mayAmend(channel, s.pubkey, ts, author)),
      compose: (mode, target) => ({ screen: 'compose', address, mode, target }),
      channel,
    };
    mount(info, posts.length ? t('posts-count', { n: plural('posts', posts.length) }) : t('no-posts'));
    info.className = 'count';
    const drawn = `${Math.floor(ts / 60)}|${channel.seizedSince}|${mine.map((s) => s.pubkey).join()}|` + items.map((i) => (i.more ? i.id + i.more.length : i.orphan ? `o${i.id}`
      : `${i.id}:${i.view.corrections.length}:${i.view.retraction ? 1 : 0}:${i.view.deletion ? 1 : 0}:${Object.entries(i.view.labels).join()}`)).join('|');
    if (list && drawn === shown) return;
    shown = drawn;
    // A folded run: one line, "+ 2,997 posts by the same author (<key>)"; a tap shows them in their place.
    const render = (item) => (item.more ? h('button', { class: 'more secondary', onclick: () => { open.add(item.id); draw(); } },
      t('more-by', { n: plural('posts', item.more.length), key: item.more[0].original.pubkey.slice(0, 8) })) : renderPost(item, ctx));
    if (!list) list = new VirtualList(listBox, render);
    list.renderItem = render;
    list.setItems(items);
  }

  const note = h('p', { id: 'mirror-note', class: 'note', role: 'status' });
  mount(el, header, note, info, listBox);
  let mirrors = null; // the channel's mirrors, read directly when the node cannot answer for it (mirrors.js)
  // The newest posts the page carries for this channel, verified (embedded.js): shown at once, kept like any.
  // Shown as they pass their checks (at once when the page's first script has checked them already), and kept on
  // the phone like the relay's (which brings them again: not new then, so not saved with its batches).
  let isMounted = false;
  verifying(address, (verified) => {
    const carried = verified.filter(add);
    if (!carried.length) return;
    cache.save(address, carried).then(() => cache.prune(address));
    if (isMounted) {
      if (!list) draw(); // the first of them at once
      else schedule();
    }
  });
  cache.load(address).then((saved) => {
    for (const e of saved) add(e);
    draw();
    page();
    mirrors = watchMirrors(address, (e) => {
      onEvent(e);
      mirrorNote(note, address);
    });
  });
  return {
    el,
    refresh: draw,
    mounted() {
      isMounted = true;
      if (events.size) draw();
    },
    destroy() {
      mirrors?.stop();
      for (const id of subs) state.relay.close(id);
      clearTimeout(timer);
      list?.destroy();
    },
    events, // for compose (the original of a correction)
  };
}
