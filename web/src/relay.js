// A NIP-01 client of the node's own relay (same host as the page), reconnecting with back-off. Subscriptions
// are re-sent after a reconnect; events are handed over as they come, de-duplicated by the callers. The operator's
// channel (/op) is operator.js, in /screens.js.

export class Relay {
  /** `early`: a socket to `url` opened before the app started (early.js), taken over if it is not closed. */
  constructor(url, onState, early = null) {
    this.url = url;
    this.onState = onState || (() => {});
    this.subs = new Map(); // id -> {filters, onEvent, onEose}
    this.pending = new Map(); // event id -> resolve
    this.queue = [];
    this.ws = null;
    this.delay = 500;
    this.seq = 0;
    this.state = 'connecting';
    this.connect(early);
  }

  connect(early = null) {
    let ws = early && early.url === this.url && early.readyState <= WebSocket.OPEN ? early : null;
    try {
      ws = ws || new WebSocket(this.url);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.setState('online');
      for (const [id, sub] of this.subs) this.raw(['REQ', id, ...sub.filters]);
      for (const frame of this.queue.splice(0)) ws.send(frame);
    };
    if (ws.readyState === WebSocket.OPEN) queueMicrotask(() => ws.onopen?.()); // after the first subscriptions
    ws.onmessage = (m) => this.receive(m.data);
    ws.onclose = () => {
      this.ws = null;
      this.setState('offline');
      for (const resolve of this.pending.values()) resolve({ ok: false, message: 'offline' });
      this.pending.clear();
      this.retry();
    };
  }

  retry() {
    setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 15000);
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  raw(message) {
    const frame = JSON.stringify(message);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
    else if (message[0] !== 'REQ') this.queue.push(frame); // REQs are re-sent on open anyway
  }

  receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!Array.isArray(msg)) return;
    const [type, a, b, c] = msg;
    if (type === 'EVENT' && this.subs.has(a) && b && typeof b === 'object') this.subs.get(a).onEvent(b);
    else if (type === 'EOSE' && this.subs.has(a)) this.subs.get(a).onEose?.();
    else if (type === 'OK' && this.pending.has(a)) {
      this.pending.get(a)({ ok: b === true, message: String(c || '') });
      this.pending.delete(a);
    } else if (type === 'CLOSED' && this.subs.has(a)) this.subs.get(a).onClosed?.(String(b || ''));
  }

  subscribe(filters, onEvent, onEose, onClosed) {
    const id = `s${++this.seq}`;
    this.subs.set(id, { filters, onEvent, onEose, onClosed });
    this.raw(['REQ', id, ...filters]);
    return id;
  }

  close(id) {
    if (this.subs.delete(id) && this.ws && this.ws.readyState === WebSocket.OPEN) this.raw(['CLOSE', id]);
  }

  publish(event) {
    return new Promise((resolve) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        resolve({ ok: false, message: 'offline' });
        return;
      }
      this.pending.set(event.id, resolve);
      this.raw(['EVENT', event]);
    });
  }
}
