// Keeps the app shell so the app opens without the node (after one visit). Stale-while-revalidate: the cached
// copy answers at once, a fresh copy replaces it in the background. The JSON API and the relay are never cached
// here (posts are kept, encrypted, in IndexedDB by the app itself: vault.js).
//
// The page the node sends carries channel definitions (its "seed": names, places, relays) and the newest posts of
// the node's own and followed channels; the copy kept here has an empty seed and no posts, so that the browser's files hold no channel name in the clear (the node sends the page itself
// with Cache-Control: no-store for the same reason), and its Content-Security-Policy names no mirror relay. The
// cache's name says nothing about the app.
const VERSION = '__VERSION__';
const CACHE = `app-${VERSION}`;
// /screens.js by its content's hash, as the page asks for it (build.mjs).
const SHELL = ['/', '/extras.js', '__SCREENS__', '/gazetteer-by.json', '/lang-be.json', '/lang-ru.json', '/manifest.webmanifest', '/icon.svg', '/verify-worker.js'];
// The seed, and the newest posts of the node's channels (web/embedded.js): both emptied in the kept copy.
const SEED = /(<script type="application\/json" id="(?:seed|posts)">)[\s\S]*?(<\/script>)/g;
const FIRST = /<!--FIRST-->[\s\S]*?<!--\/FIRST-->/; // the first paint's channel list (web/firstpaint.py)

// Mirrors the page asked for (mirrors.js), in memory only: a page opened from this cache while the node is
// unreachable may then connect to the mirrors of the channels the phone knows (the kept copy names none, above).
const MIRROR = /^wss?:\/\/([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?$/;
let mirrors = [];

self.addEventListener('message', (event) => {
  const list = event.data && event.data.mirrors;
  if (Array.isArray(list)) mirrors = [...new Set(list.filter((u) => typeof u === 'string' && MIRROR.test(u)))].slice(0, 64);
});

/** A kept page with the asked-for mirrors added to its connect-src. */
function withMirrors(response) {
  const policy = response.headers.get('content-security-policy');
  if (!mirrors.length || !policy) return response;
  const headers = new Headers(response.headers);
  headers.set('content-security-policy', policy.replace(/connect-src [^;]*/, (m) => `${m} ${mirrors.join(' ')}`));
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** The page without its seed; other responses as they are. */
async function keepable(response) {
  if (!(response.headers.get('content-type') || '').startsWith('text/html')) return response;
  const page = (await response.text()).replace(SEED, (_, open, close) => `${open}[]${close}`).replace(FIRST, '');
  const headers = new Headers(response.headers);
  // The node's policy names the mirrors of its channels (connect-src), which would name relays on the phone's
  // disk: the kept copy may connect to the node alone (docs/web.md, "Reading from mirrors").
  const policy = headers.get('content-security-policy');
  if (policy) {
    const own = `'self' ws://${location.host} wss://${location.host}`;
    headers.set('content-security-policy', policy.replace(/connect-src [^;]*/, `connect-src ${own}`));
  }
  headers.delete('content-encoding');
  headers.delete('content-length');
  return new Response(page, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => Promise.all(SHELL.map(async (url) => {
    const response = await fetch(new Request(url, { cache: 'reload' }));
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    await cache.put(url, await keepable(response));
  }))).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// Photos (blobs named by their SHA-256) are never kept here: Cache Storage is not encrypted, so a kept photo
// would be readable on a seized phone without the PIN, and its SHA-256 names its post, hence the channel, on any
// relay that carries it (docs/safety.md, "What someone with the browser's files can still learn"). They go to
// the network as they are (the node sends them no-store: nothing in the HTTP cache either); offline, a post shows
// its blurhash. The cache where earlier versions kept them is deleted on activation, with the old app shells.
const BLOB = /^\/[0-9a-f]{64}(\.(webp|jpg|png))?$/;

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (BLOB.test(url.pathname)) return; // photos: never kept (above)
  const key = request.mode === 'navigate' ? '/' : request;
  event.respondWith(caches.open(CACHE).then(async (cache) => {
    const cached = await cache.match(key);
    const fresh = fetch(request).then(async (response) => {
      if (response.ok && response.type === 'basic') await cache.put(key, await keepable(response.clone()));
      return response;
    });
    if (cached) {
      event.waitUntil(fresh.catch(() => null));
      return key === '/' ? withMirrors(cached) : cached;
    }
    return fresh;
  }));
});
