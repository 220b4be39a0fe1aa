// A channel's alerts and safe places that carry coordinates (a `g` geohash), as a list sorted by distance from a
// point the reader picks among the places this phone knows (the place tree's channels, the posts' own places) or
// types as a geohash. No map tiles, no network for the point: it is worked out here and never sent.

import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { state, now } from '../state.js';
import { feed } from '../rules.js';
import * as cache from '../cache.js';
import { link } from '../nav.js';
import { renderPost } from './post.js';

const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';
const GEOHASH = /^[0-9b-hjkmnp-z]{1,12}$/;
const KINDS = new Set(['alert', 'safe-place']);

/** The centre of a geohash cell: [lat, lon] in degrees. */
export function geohashCenter(hash) {
  let lat = [-90, 90], lon = [-180, 180], even = true;
  for (const c of hash) {
    const v = BASE32.indexOf(c);
    for (let bit = 4; bit >= 0; bit--) {
      const range = even ? lon : lat;
      const mid = (range[0] + range[1]) / 2;
      if ((v >> bit) & 1) range[0] = mid;
      else range[1] = mid;
      even = !even;
    }
  }
  return [(lat[0] + lat[1]) / 2, (lon[0] + lon[1]) / 2];
}

/** Great-circle distance in km between two [lat, lon] points. */
export function distanceKm([la1, lo1], [la2, lo2]) {
  const r = Math.PI / 180;
  const a = Math.sin(((la2 - la1) * r) / 2) ** 2 + Math.cos(la1 * r) * Math.cos(la2 * r) * Math.sin(((lo2 - lo1) * r) / 2) ** 2;
  return 12742 * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Places to measure from: the channel's own, the channels this phone knows, the posts' own locations. */
function places(channel, located) {
  const out = new Map(); // geohash -> label
  if (channel.geohash) out.set(channel.geohash, `${channel.place || channel.name} (${t('nearby-here')})`);
  for (const c of state.channels.values()) {
    if (!c.error && c.geohash && !out.has(c.geohash)) out.set(c.geohash, c.place ? c.place.split('/').join(' › ') : c.name);
  }
  for (const item of located) {
    const f = item.view.fields;
    if (!out.has(f.geohash)) out.set(f.geohash, f.location || f.geohash);
  }
  return [...out.entries()];
}

export function nearbyView(address) {
  const el = h('main', { class: 'nearby-page' });
  const events = new Map();
  let from = null;
  let sub = null;

  function draw() {
    const channel = state.channels.get(address);
    if (!channel || channel.error) {
      mount(el, h('p', null, t('loading')));
      return;
    }
    const ts = now();
    const located = feed(channel, events.values(), ts, new Set(state.verifiers)).filter((item) => !item.orphan
      && !item.view.retraction && !item.view.deletion && KINDS.has(item.view.verdict.post.type)
      && GEOHASH.test(item.view.fields.geohash || ''));
    const choices = places(channel, located);
    if (!from && choices.length) from = choices[0][0];
    const point = from ? geohashCenter(from) : null;
    const rows = located.map((item) => ({ item, km: point ? distanceKm(point, geohashCenter(item.view.fields.geohash)) : 0 }))
      .sort((a, b) => a.km - b.km);
    const ctx = { now: ts, canAmend: () => false, compose: () => null };
    const picker = h('select', { id: 'nearby-from', onchange: (ev) => { from = ev.target.value; draw(); } },
      choices.map(([g, label]) => h('option', { value: g, selected: g === from }, label)));
    const typed = h('input', { id: 'nearby-geohash', placeholder: t('nearby-geohash'), autocapitalize: 'off', value: '', onchange: (ev) => {
      const v = ev.target.value.trim().toLowerCase();
      if (GEOHASH.test(v)) {
        from = v;
        draw();
      }
    } });
    mount(el,
      h('h1', { dir: 'auto' }, channel.name), h('h2', null, t('nearby')),
      h('label', { class: 'in' }, h('span', null, t('nearby-from')), picker), typed,
      h('p', { class: 'count' }, t('nearby-note')),
      rows.length ? h('ol', { class: 'nearby' }, rows.map(({ item, km }) => h('li', { 'data-km': km.toFixed(3) },
        h('p', { class: 'distance' }, t('km', { n: km < 10 ? km.toFixed(1) : Math.round(km) })), renderPost(item, ctx))))
        : h('p', { class: 'empty' }, t('nearby-none')),
      h('p', null, link({ screen: 'channel', address }, null, t('cancel'))));
  }

  cache.load(address).then((saved) => {
    for (const e of saved) events.set(e.id, e);
    draw();
    // Reading the channel's posts, as its page does; the point picked above stays on this phone.
    sub = state.relay.subscribe([{ kinds: [2333], '#a': [address], limit: 5000 }], (e) => events.set(e.id, e), () => draw());
  });
  draw();
  return { el, refresh: draw, destroy: () => sub && state.relay.close(sub) };
}
