// Where a post is, without asking a reader to type a geohash. The compose form carries the post's own geohash
// in a hidden field: empty (the post is placed by its channel's area tags, rules.js areaTags), the one a
// corrected post already had, or the phone's location when the author taps "Add my location" (only where the
// browser offers it: a secure context, and the author's consent). The point is cut to 6 characters (a cell of
// about 1.2 × 0.6 km): enough to find the post by area, not the doorstep.

import { h } from './dom.js';
import { t } from './i18n.js';

const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';
export const POINT_PRECISION = 6;

/** The geohash of a point (latitude, longitude in degrees), `precision` characters. */
export function encodeGeohash(lat, lon, precision = POINT_PRECISION) {
  const box = [[-90, 90], [-180, 180]];
  let out = '', bits = 0, n = 0, even = true;
  while (out.length < precision) {
    const [range, value] = even ? [box[1], lon] : [box[0], lat];
    const mid = (range[0] + range[1]) / 2;
    n <<= 1;
    if (value >= mid) {
      n |= 1;
      range[0] = mid;
    } else range[1] = mid;
    even = !even;
    if (++bits === 5) {
      out += BASE32[n];
      bits = 0;
      n = 0;
    }
  }
  return out;
}

/** The compose form's place of a post: a hidden geohash field and, where the browser has one, a button that
 * fills it from the phone's location. */
export function locationPicker(initial) {
  const field = h('input', { type: 'hidden', name: 'geohash', value: initial || '' });
  const note = h('span', { class: 'hint', role: 'status' }, initial ? t('location-added', { where: initial }) : t('location-channel'));
  const button = 'geolocation' in navigator && window.isSecureContext ? h('button', { type: 'button', class: 'small', id: 'use-location',
    onclick: () => navigator.geolocation.getCurrentPosition((p) => {
      field.value = encodeGeohash(p.coords.latitude, p.coords.longitude);
      note.textContent = t('location-added', { where: field.value });
    }, () => {
      note.textContent = t('location-failed');
    }, { maximumAge: 600000, timeout: 20000 }) }, t('use-my-location')) : null;
  return h('div', { class: 'in in-geohash' }, field, button, ' ', note);
}
