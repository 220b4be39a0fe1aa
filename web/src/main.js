// The app's shell: language, top bar, routes (#/..., so any path serves the same page), service worker.

import { h, mount } from './dom.js';
import { t, lang, setLang, LANGUAGES } from './i18n.js';
import { state, start, operatorLogin } from './state.js';
import { directoryView } from './views/directory.js';
import { channelView } from './views/channel.js';
import { composeView } from './views/compose.js';
import { keysView } from './views/keys.js';
import { statusView } from './views/status.js';

const root = document.getElementById('app');
let current = null; // the mounted view: {el, destroy?, refresh?}

function topBar() {
  const select = h('select', { id: 'lang', 'aria-label': t('language'), onchange: (ev) => {
    setLang(ev.target.value);
    route();
  } }, LANGUAGES.map(([code, name]) => h('option', { value: code, selected: code === lang() }, name)));
  return h('header', { class: 'top' },
    h('a', { href: '#/', class: 'brand' }, 'Samizdat'),
    h('nav', null,
      h('a', { href: '#/' }, t('channels')),
      h('a', { href: '#/keys' }, t('keys')),
      h('a', { href: '#/status' }, t('status'))),
    h('span', { id: 'conn', class: state.online ? 'online' : 'offline' }, state.online ? t('online') : t('offline')),
    select);
}

function route() {
  current?.destroy?.();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return '';
    }
  });
  const [screen, ...rest] = parts;
  if (screen === 'c' && rest[0]) current = channelView(rest[0]);
  else if (screen === 'compose' && rest[0]) current = composeView(rest[0], rest[1] || '', rest[2] || '');
  else if (screen === 'keys') current = keysView();
  else if (screen === 'status') current = statusView();
  else current = directoryView(screen === 'place' ? rest.filter(Boolean) : []);
  document.documentElement.lang = lang();
  document.title = `Samizdat · ${t('title')}`;
  mount(root, topBar(), current.el);
  window.scrollTo(0, 0);
  current.mounted?.();
}

state.listeners.add(() => {
  const conn = document.getElementById('conn');
  if (conn) {
    conn.className = state.online ? 'online' : 'offline';
    conn.textContent = state.online ? t('online') : t('offline');
  }
  current?.refresh?.();
});

// An operator login link carries its token in the fragment (#op=...): never sent to the server in a request
// line, never in a Referer. Take it, then drop it from the address bar and the history.
function takeOperatorLink() {
  const op = /^#op=([A-Za-z0-9_-]{16,128})$/.exec(location.hash);
  if (op) {
    history.replaceState(null, '', '#/keys');
    operatorLogin(op[1]);
  }
}
takeOperatorLink();

window.addEventListener('hashchange', () => {
  takeOperatorLink();
  route();
});
start().then(route);
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {});
