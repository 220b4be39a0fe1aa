// Keeps the app shell so the app opens without the node (after one visit). Stale-while-revalidate: the cached
// copy answers at once, a fresh copy replaces it in the background. The JSON API and the relay are never cached
// here (posts are kept in IndexedDB by the app itself).
const VERSION = '__VERSION__';
const CACHE = `samizdat-${VERSION}`;
const SHELL = ['/', '/extras.js', '/manifest.webmanifest', '/icon.svg'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: 'reload' })))).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  const key = request.mode === 'navigate' ? '/' : request;
  event.respondWith(caches.open(CACHE).then(async (cache) => {
    const cached = await cache.match(key);
    const fresh = fetch(request).then((response) => {
      if (response.ok && response.type === 'basic') cache.put(key, response.clone());
      return response;
    });
    if (cached) {
      event.waitUntil(fresh.catch(() => null));
      return cached;
    }
    return fresh;
  }));
});
