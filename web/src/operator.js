// The operator's channel to the node (/op), in /screens.js with the Keys screen that uses it: loaded when an
// operator logs in (state.js: a login link, the Keys screen, or at start when a session is kept).

import { answerChallenge, sessionAfter } from './oplogin.js';

/** The operator channel (/op): the node signs with its own key for someone holding an operator token. */
export class Operator {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.waiting = new Map();
    this.seq = 0;
  }

  login() {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.url);
      let done = false;
      const finish = (result) => {
        if (!done) {
          done = true;
          resolve(result);
        }
      };
      let challenge = null;
      // The code never travels (oplogin.js): the node's nonce first, then a proof for it.
      ws.onopen = () => ws.send(JSON.stringify({ login: 'challenge' }));
      ws.onmessage = (m) => {
        let msg;
        try {
          msg = JSON.parse(m.data);
        } catch {
          return;
        }
        if (!done && challenge === null) {
          if (answerChallenge(ws, msg, this.token)) challenge = msg.challenge;
          else finish({ ok: false, error: String(msg.error || 'refused') });
          return;
        }
        if (!done) {
          if (msg.ok) {
            this.ws = ws;
            this.pubkey = msg.pubkey;
            // A login link's code works once: it is replaced by a session code both sides work out, which the app keeps.
            if (msg.renewed === true) this.token = sessionAfter(this.token, challenge);
            finish({ ok: true, pubkey: msg.pubkey });
          } else finish({ ok: false, error: String(msg.error || 'refused') });
          return;
        }
        const resolveOne = this.waiting.get(msg.id);
        if (resolveOne) {
          this.waiting.delete(msg.id);
          resolveOne(msg);
        }
      };
      ws.onclose = () => {
        this.ws = null;
        finish({ ok: false, error: 'offline' });
        for (const r of this.waiting.values()) r({ error: 'offline' });
        this.waiting.clear();
      };
    });
  }

  /** Have the node sign and publish `template`; resolves {event} or {error}. */
  sign(template) {
    return this.request({ sign: template });
  }

  /** Wipe the node: ask for this connection's confirmation nonce, send it back; resolves {wiped: true} or {error}.
   * (The person has confirmed in the page before this is called.) */
  async wipeNode() {
    const asked = await this.request({ wipe: 'ask' });
    if (typeof asked.confirm !== 'string') return { error: asked.error || 'refused' };
    return this.request({ wipe: asked.confirm });
  }

  request(body) {
    return new Promise((resolve) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        resolve({ error: 'offline' });
        return;
      }
      const id = ++this.seq;
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ id, ...body }));
    });
  }
}
