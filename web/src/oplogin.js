// The operator login's proof (src/samizdat/web/operator.py, login_proof and session_after): the code itself never
// goes over the network. On a hub's plain-http Wi-Fi anyone can read the frames, and a code read there logged in
// as the node for a month (post in its channels, wipe it). The node sends a nonce for this connection only; the
// browser answers with HMAC-SHA256 under SHA-256(code), which is all the node stores of a code.

import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

const mac = (code, label, challenge) => bytesToHex(hmac(sha256, sha256(utf8ToBytes(code)), utf8ToBytes(label + challenge)));

/** What proves `code` for `challenge` (hex). */
export const loginProof = (code, challenge) => mac(code, 'samizdat operator login ', challenge);

/** The session code that replaces a login link's `code` after a login with `challenge`: worked out on both sides. */
export const sessionAfter = (code, challenge) => mac(code, 'samizdat operator session ', challenge);

/** Send the proof of `code` on `ws` once the node's challenge (`msg`) arrives; true when `msg` was that challenge. */
export function answerChallenge(ws, msg, code) {
  if (!msg || typeof msg.challenge !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(msg.challenge)) return false;
  ws.send(JSON.stringify({ proof: loginProof(code, msg.challenge) }));
  return true;
}
