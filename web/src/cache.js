// What this phone saw, kept in IndexedDB so the app can show it away from the hub. Events are stored by id
// with the channel they were fetched for (`ch`: a channel address, or "dir" for channel definitions).

const DB = 'samizdat';
const MAX_PER_CHANNEL = 3000; // recent posts kept per channel; older ones are dropped when a channel grows

let opening = null;

function open() {
  if (!opening) {
    opening = new Promise((resolve) => {
      let request;
      try {
        request = indexedDB.open(DB, 1);
      } catch {
        resolve(null);
        return;
      }
      request.onupgradeneeded = () => {
        const store = request.result.createObjectStore('events', { keyPath: 'id' });
        store.createIndex('ch', 'ch');
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null); // private mode etc.: the app still works, without a cache
    });
  }
  return opening;
}

export async function save(ch, events) {
  const db = await open();
  if (!db || !events.length) return;
  await new Promise((resolve) => {
    const tx = db.transaction('events', 'readwrite');
    const store = tx.objectStore('events');
    for (const e of events) store.put({ ...e, ch });
    tx.oncomplete = tx.onerror = tx.onabort = () => resolve();
  });
}

export async function load(ch) {
  const db = await open();
  if (!db) return [];
  return new Promise((resolve) => {
    const request = db.transaction('events').objectStore('events').index('ch').getAll(ch);
    request.onsuccess = () => resolve(request.result.map(({ ch: _, ...e }) => e));
    request.onerror = () => resolve([]);
  });
}

export async function count() {
  const db = await open();
  if (!db) return 0;
  return new Promise((resolve) => {
    const request = db.transaction('events').objectStore('events').count();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(0);
  });
}

/** Keep the newest MAX_PER_CHANNEL events of a channel. */
export async function prune(ch) {
  const events = await load(ch);
  if (events.length <= MAX_PER_CHANNEL) return;
  events.sort((a, b) => b.created_at - a.created_at);
  const db = await open();
  const tx = db.transaction('events', 'readwrite');
  for (const e of events.slice(MAX_PER_CHANNEL)) tx.objectStore('events').delete(e.id);
}
