// Where the reader is in the app. Routes live in the app's own state, never in the address bar: the address bar
// and the browser's history always say "/", so a seized phone's history names no channel, place or post. Each
// history entry carries its route sealed with the vault's key (vault.seal), so the back button and a reload still
// work, and read nothing once the app is locked or erased.
//
// Links that arrive from outside (a shared #naddr1..., #/c/<address>, an operator login link #op=<code>) are read
// once and removed from the address bar at once (takeFragment). The entry the browser made for such a link keeps
// "/" and the sealed route; the browser's own history file may still list the link as it was opened
// (docs/safety.md, "Your phone").

import { h } from './dom.js';
import * as vault from './vault.js';

/** Routes: {screen: 'directory', path: [place parts]}, {screen: 'channel', address}, {screen: 'compose', address,
 * mode ('' | 'correct' | 'retract'), target (post id)}, {screen: 'keys'}, {screen: 'status'}, {screen: 'nearby', address}. */
export const HOME = Object.freeze({ screen: 'directory', path: [] });

let here = HOME;
let show = () => {};

export const current = () => here;

/** main.js: what to do when the route changes. */
export function onRoute(fn) {
  show = fn;
}

const text = (v) => (typeof v === 'string' ? v : '');

/** A route from untrusted data (a history entry, a fragment), or null. */
export function checkRoute(r) {
  if (!r || typeof r !== 'object') return null;
  switch (r.screen) {
    case 'directory':
      return { screen: 'directory', path: Array.isArray(r.path) ? r.path.filter((p) => typeof p === 'string' && p) : [] };
    case 'channel':
    case 'nearby': // a channel's alerts by distance (views/nearby.js)
      return text(r.address) ? { screen: r.screen, address: r.address } : null;
    case 'compose':
      return text(r.address) ? { screen: 'compose', address: r.address, mode: text(r.mode), target: text(r.target) } : null;
    case 'keys':
    case 'status':
      return { screen: r.screen };
    default:
      return null;
  }
}

function entry(route) {
  return { r: vault.seal(route) };
}

/** Show `route`; a new history entry unless `replace` (the entry the browser just made for a link, or a screen
 * that should not be gone back to, such as a sent form). */
export function go(route, { replace = false } = {}) {
  here = checkRoute(route) || HOME;
  if (replace) history.replaceState(entry(here), '', '/');
  else history.pushState(entry(here), '', '/');
  show(here);
}

/** The route sealed in the current history entry (a reload, the back button), or null. */
export function restored(state = history.state) {
  return checkRoute(vault.unseal(state && state.r));
}

/** On the back and forward buttons. */
export function popped(state) {
  here = restored(state) || HOME;
  show(here);
}

/** An <a> to a route: a real link (it can be focused and tapped), whose address is only "/". */
export function link(route, attrs, ...children) {
  return h('a', { ...attrs, href: '/', onclick: (ev) => {
    if (ev.button || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    go(route);
  } }, ...children);
}

const decode = (p) => {
  try {
    return decodeURIComponent(p);
  } catch {
    return '';
  }
};

/** What the address bar's fragment asks for, taken out of the address bar at once (keeping the entry's sealed
 * route): {op: code} (an operator login link), {naddr} (a shared channel, decoded once the extras are loaded),
 * {route}, or null. */
export function takeFragment() {
  const hash = location.hash;
  if (location.pathname !== '/' || hash || location.search) history.replaceState(history.state, '', '/');
  if (!hash || hash === '#') return null;
  const op = /^#op=([A-Za-z0-9_-]{16,128})$/.exec(hash);
  if (op) return { op: op[1] };
  const naddr = /^#(?:\/c\/)?(?:nostr:)?(naddr1[02-9ac-hj-np-z]{6,4000})$/i.exec(hash);
  if (naddr) return { naddr: naddr[1].toLowerCase() };
  const [screen, ...rest] = hash.replace(/^#\/?/, '').split('/').map(decode);
  if (screen === 'c' && rest[0]) return { route: { screen: 'channel', address: rest[0] } };
  if (screen === 'compose' && rest[0]) return { route: { screen: 'compose', address: rest[0], mode: rest[1] || '', target: rest[2] || '' } };
  if (screen === 'keys' || screen === 'status') return { route: { screen } };
  if (screen === 'place') return { route: { screen: 'directory', path: rest.filter(Boolean) } };
  return { route: HOME };
}
