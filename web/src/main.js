// The app's shell: language, top bar (its name, held down 1.5 s, is the panic action: panic.js), the lock screen
// when the app is locked with a PIN (vault.js), routes (nav.js: in the app's state, never in the address bar), and
// the service worker.

import { capped } from './datause.js'; // first: counts the app's own traffic from the start
import { h, mount } from './dom.js';
import { t, lang, setLang, ready, LANGUAGES } from './i18n.js';
import { state, start, operatorLogin } from './state.js';
import * as vault from './vault.js';
import * as nav from './nav.js';
import { onLongPress, confirmPanic } from './panic.js';
import { openLink, routeChanged } from './follow-link.js';
import { screens } from './lazy.js';
import { directoryView } from './views/directory.js';
import { channelView } from './views/channel.js';
import { lockView } from './views/lock.js';

const root = document.getElementById('app');
// A node may disguise the app (`[web] disguise`): its name and colour come with the page.
const APP_NAME = document.querySelector('meta[name="application-name"]')?.content || 'Samizdat';
const DISGUISED = APP_NAME !== 'Samizdat';
const THEME = document.querySelector('meta[name="theme-color"]')?.content || '';
if (DISGUISED && /^#[0-9a-f]{6}$/i.test(THEME)) document.documentElement.style.setProperty('--accent', THEME);

let current = null; // the mounted view: {el, destroy?, refresh?, mounted?}
let booted = false;
let pending = null; // a link that arrived before the app was open (nav.takeFragment)

function brand(linked) {
  const el = linked ? nav.link(nav.HOME, { class: 'brand', id: 'brand' }, APP_NAME) : h('span', { class: 'brand', id: 'brand' }, APP_NAME);
  onLongPress(el, confirmPanic);
  return el;
}

function languages(redraw) {
  return h('select', { id: 'lang', 'aria-label': t('language'), onchange: (ev) => {
    setLang(ev.target.value).then(redraw); // not switched (its words could not be fetched): as it was
  } }, LANGUAGES.map(([code, name]) => h('option', { value: code, selected: code === lang() }, name)));
}

function topBar() {
  return h('header', { class: 'top' },
    brand(true),
    h('nav', null,
      nav.link(nav.HOME, null, t('channels')),
      nav.link({ screen: 'keys' }, null, t('keys')),
      nav.link({ screen: 'status' }, null, t('status'))),
    h('span', { id: 'conn', class: state.online ? 'online' : 'offline' }, state.online ? t('online') : t('offline')),
    languages(() => render(nav.current())));
}

function titles() {
  document.documentElement.lang = lang();
  document.title = DISGUISED ? APP_NAME : `Samizdat · ${t('title')}`;
}

// Screens in /screens.js (screens.js), loaded when first opened: until then the screen shows '…'.
const LATER = {
  compose: (s, route) => s.composeView(route.address, route.mode, route.target),
  keys: (s) => s.keysView(),
  status: (s) => s.statusView(),
  nearby: (s, route) => s.nearbyView(route.address),
};

function later(route) {
  current = { el: h('p', { class: 'boot' }, '…') };
  screens().then(() => {
    if (nav.current() === route) render(route);
  }, () => {
    if (nav.current() === route) mount(root, topBar(), h('p', { class: 'error', role: 'alert' }, t('screen-offline')));
  });
}

function render(route) {
  routeChanged(route);
  current?.destroy?.();
  const screen = LATER[route.screen];
  if (screen && !self.samizdatScreens) later(route);
  else if (screen) current = screen(self.samizdatScreens, route);
  else if (route.screen === 'channel') current = channelView(route.address);
  else current = directoryView(route.path || []);
  titles();
  mount(root, topBar(), current.el);
  window.scrollTo(0, 0);
  current.mounted?.();
}

function showLock() {
  // The channels and posts the node put into the page (its seed, its posts: web/app.py) are not kept while the
  // app is locked: nothing in the page names a channel before the PIN (the app reads them anew from the node and
  // its encrypted store once open).
  for (const id of ['seed', 'posts']) document.getElementById(id)?.remove();
  titles();
  const view = lockView(boot);
  mount(root, h('header', { class: 'top' }, brand(false), h('nav'), languages(showLock)), view.el);
  view.mounted();
}

/** Go where a link from outside asked (the entry the browser made for it is replaced). */
async function follow(incoming, { login }) {
  if (incoming.op) {
    nav.go({ screen: 'keys' }, { replace: true });
    if (login) operatorLogin(incoming.op);
    return;
  }
  if (incoming.naddr) {
    await openLink(incoming.naddr); // the channel with its Follow button; relays in the link only if agreed
    return;
  }
  nav.go(incoming.route, { replace: true });
}

async function boot() {
  const incoming = pending;
  pending = null;
  // Else the page's own list stays (web/firstpaint.py), or the channel a link opened (first.js).
  if (!root.querySelector('.first, .first-read')) mount(root, h('p', { class: 'boot' }, '…'));
  await start({ operatorCode: incoming?.op || null });
  booted = true;
  // With a PIN set, the app locks itself when out of sight or left alone: the watch comes with the screens loaded on
  // use (screens.js, autolock.js), loaded now whatever the data cap.
  if (vault.hasPin()) screens().catch(() => {});
  // A reload, or back or forward from another page, returns to where the reader was; opening the app afresh
  // (its address, its icon) starts at the channels.
  const how = performance.getEntriesByType?.('navigation')[0]?.type;
  const back = how === 'reload' || how === 'back_forward' ? nav.restored() : null;
  if (incoming) await follow(incoming, { login: false });
  else nav.go(back || nav.HOME, { replace: true });
  // After the first screen, so that opening the other screens rarely waits (not once the month's data cap is reached).
  if (!capped()) screens().catch(() => {});
}

nav.onRoute(render);
state.listeners.add(() => {
  const conn = document.getElementById('conn');
  if (conn) {
    conn.className = state.online ? 'online' : 'offline';
    conn.textContent = state.online ? t('online') : t('offline');
  }
  current?.refresh?.();
});

pending = nav.takeFragment();
window.addEventListener('hashchange', () => {
  const incoming = nav.takeFragment();
  if (!incoming) return;
  if (booted) follow(incoming, { login: true });
  else pending = incoming;
});
window.addEventListener('popstate', (ev) => {
  if (booted && !location.hash) nav.popped(ev.state); // a fragment's own popstate: hashchange follows it
});
// The reader's language, if not English, is fetched meanwhile (i18n.js): nothing is drawn in the wrong one.
Promise.all([vault.open(), ready()]).then(([status]) => (status === 'locked' ? showLock() : boot()));
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {});
