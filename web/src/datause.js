// How much mobile data the app has used, and a cap the reader may set. Counted: every HTTP response the page
// loaded (the browser's resource timing: bytes on the wire, nothing for a copy from the cache), and every
// WebSocket message both ways (its payload; the framing adds a few bytes per message). Kept per calendar month
// in localStorage ("data-use": numbers only). When the month's use reaches the cap, the app opens no more
// WebSocket connections and closes the open ones: it shows what this phone saved ("offline") until the reader
// raises the cap or a new month starts. Installed before anything connects (main.js imports it first). What the
// status screen shows of it is views/datause.js, in /screens.js.

const KEY = 'data-use';
export const CAPS_MB = [0, 5, 20, 50, 100, 500]; // 0: no cap

const month = () => new Date().toISOString().slice(0, 7);
let use = { month: month(), bytes: 0, cap: 0 };
try {
  const saved = JSON.parse(localStorage.getItem(KEY) || 'null');
  if (saved && typeof saved.bytes === 'number' && typeof saved.cap === 'number') use = { month: String(saved.month), bytes: saved.bytes, cap: saved.cap };
} catch {
  /* no storage */
}
const sockets = new Set();
export const listeners = new Set(); // called when the count is written (views/datause.js)
let saveTimer = 0;

function write() {
  clearTimeout(saveTimer);
  saveTimer = 0;
  try {
    localStorage.setItem(KEY, JSON.stringify(use));
  } catch {
    /* no storage: counted for this visit only */
  }
  for (const fn of listeners) fn();
}

/** Counting writes at most twice a second; a reader's choice at once. */
function save() {
  if (!saveTimer) saveTimer = setTimeout(write, 500);
}

export const used = () => (use.month === month() ? use.bytes : 0);
export const cap = () => use.cap;
export const capped = () => use.cap > 0 && used() >= use.cap * 1e6;

function count(bytes) {
  if (use.month !== month()) use = { month: month(), bytes: 0, cap: use.cap };
  use.bytes += bytes;
  save();
  if (capped()) for (const ws of sockets) ws.close();
}

/** UTF-8 length of a string without building its bytes. */
function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : c >= 0xd800 && c <= 0xdbff ? 0 : 1;
  }
  return n;
}

const sizeOf = (data) => (typeof data === 'string' ? utf8Length(data) : data?.byteLength ?? data?.size ?? 0);

export function setCap(mb) {
  use.cap = CAPS_MB.includes(mb) ? mb : 0;
  write();
}

export function resetCount() {
  use.bytes = 0;
  use.month = month();
  write();
}

/** After the duress PIN erased everything: this visit's count from before it, and the cap, are forgotten too, so the
 * count kept from now on is a first visit's (it would otherwise tell that the app had been used). */
export function forgetCount() {
  clearTimeout(saveTimer);
  saveTimer = 0;
  use = { month: month(), bytes: 0, cap: 0 };
}

(function install() {
  const Native = self.WebSocket;
  if (typeof Native === 'function') {
    class Counted extends Native {
      constructor(...args) {
        if (capped()) throw new Error('the data cap is reached');
        super(...args);
        sockets.add(this);
        this.addEventListener('message', (m) => count(sizeOf(m.data)));
        this.addEventListener('close', () => sockets.delete(this));
      }

      send(data) {
        count(sizeOf(data));
        super.send(data);
      }
    }
    self.WebSocket = Counted;
  }
  if (typeof PerformanceObserver === 'function') {
    try {
      const seen = (list) => {
        for (const e of list.getEntries()) count(e.transferSize || 0);
      };
      new PerformanceObserver(seen).observe({ type: 'resource', buffered: true });
      new PerformanceObserver(seen).observe({ type: 'navigation', buffered: true });
      performance.setResourceTimingBufferSize?.(2000);
    } catch {
      /* an old browser: WebSocket traffic is still counted */
    }
  }
})();

/** A socket opened before this module was installed (the page's head opens one: early.js), counted from now on
 * like the others (nothing was sent on it before); closed, and null returned, when the cap is reached. */
export function counted(ws) {
  if (!ws) return null;
  if (capped()) {
    ws.close();
    return null;
  }
  sockets.add(ws);
  ws.addEventListener('message', (m) => count(sizeOf(m.data)));
  ws.addEventListener('close', () => sockets.delete(ws));
  const send = ws.send.bind(ws);
  ws.send = (data) => {
    count(sizeOf(data));
    send(data);
  };
  return ws;
}
