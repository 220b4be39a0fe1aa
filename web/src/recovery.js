// A channel whose owner key was seized (docs/protocol.md, "Recovery"): the browser's port of core/recovery.py.
// The recovery key's claim (a post of type `seized`) takes the owner key's power from `since` on; the first
// recovery key this phone saw a channel name is the one it honours (kept in its settings, not taken from the
// newest definition, which whoever seized the key can rewrite); a phone that remembers none honours the key the
// earliest vouch of a verifier it trusts names (whatever its date against the claims' `since`), else the
// oldest definition naming one; a trusted vouch naming another key disputes it (shown, never switched). tests/web/test_recovery_parity.py runs both ports on web/test/recovery-vectors.json.
//
// Checking a claim's proof needs its signature checked: `verify` (nostr.js verifyEvent) is given by the caller.
// The module comes with /extras.js (self.samizdatExtras.recovery), never in the page: state.js loads it when
// there is a claim, or a followed channel names a recovery key not remembered yet.
import { CHANNEL, DELETION, LABEL, MAX_FUTURE, POST, Malformed, checkText, isExpired, parseChannel, parseVouch, splitAddress, supersedes, tagValues } from './rules.js';

export const SEIZED = 'seized';
export const MAX_PROOF = 64 * 1024;
export const MAX_MESSAGE = 2000;
const DIGITS = /^[0-9]{1,12}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** The key the first `recovery` tag of a definition names, or '' (never fatal: see core/channel.py). */
export function recoveryKey(event) {
  const found = event && event.tags.find((t) => t.length >= 2 && t[0] === 'recovery');
  if (!found || found[1] === event.pubkey || !HEX64.test(found[1])) return '';
  return found[1];
}

/** Map address -> [vouch events that count for a reader trusting `verifiers`], from vouch labels and deletion
 * requests (any order), as core/recovery.py witnesses() (the rule of trust.js vouchers()). */
export function witnesses(allEvents, verifiers, now) {
  const trusted = new Set(verifiers);
  const events = Array.from(allEvents);
  const withdrawn = new Set();
  for (const e of events) if (e.kind === DELETION) for (const t of e.tags) if (t.length >= 2 && t[0] === 'e') withdrawn.add(`${e.pubkey}:${t[1]}`);
  const found = new Map();
  for (const e of events) {
    if (e.kind !== LABEL || !trusted.has(e.pubkey) || withdrawn.has(`${e.pubkey}:${e.id}`)) continue;
    if (e.created_at > now + MAX_FUTURE || isExpired(e, now)) continue;
    try {
      const address = parseVouch(e).channel;
      if (!found.has(address)) found.set(address, []);
      found.get(address).push(e);
    } catch (exc) {
      if (!(exc instanceof Malformed)) throw exc;
    }
  }
  return found;
}

/** Each of `vouches` for `address` that names a recovery key, as [event, key] (core/recovery.py _naming()). */
function* naming(address, vouches) {
  const owner = address.split(':')[1];
  for (const e of vouches) {
    try {
      if (parseVouch(e).channel !== address) continue;
    } catch (exc) {
      if (!(exc instanceof Malformed)) throw exc;
      continue;
    }
    const found = e.tags.find((t) => t.length >= 2 && t[0] === 'recovery');
    if (found && found[1] !== owner && HEX64.test(found[1])) yield [e, found[1]];
  }
}

/** The key the earliest of `vouches` for `address` that names one names, or '' (as core/recovery.py _witnessed()). */
function witnessed(address, vouches) {
  let best = null;
  for (const [e, key] of naming(address, vouches)) if (!best || order(e, best[0]) < 0) best = [e, key];
  return best ? best[1] : '';
}

/** The recovery keys other than `key` that `vouches` for `address` name: [{key, verifiers (sorted), successor
 * (where its earliest claim of `valid` points, or '')}] by key, as core/recovery.py _disputes() (its rule 4). */
function disputes(address, key, vouches, valid) {
  const named = new Map();
  for (const [e, other] of naming(address, vouches)) {
    if (other !== key) named.set(other, (named.get(other) || new Set()).add(e.pubkey));
  }
  const goesOn = new Map();
  for (const c of [...valid].sort((a, b) => order(a.event, b.event))) if (!goesOn.has(c.signer)) goesOn.set(c.signer, c.successor);
  return [...named.keys()].sort().map((k) => ({ key: k, verifiers: [...named.get(k)].sort(), successor: goesOn.get(k) || '' }));
}

/** `pairs` (Map address -> [addresses it could be taken for]) without the pairs a claim links (`links`: Map
 * seized address -> successor), as core/recovery.py drop_linked(). */
export function dropLinked(pairs, links) {
  const linked = new Set();
  for (const [old, fresh] of links) {
    linked.add(`${old} ${fresh}`);
    linked.add(`${fresh} ${old}`);
  }
  const out = new Map();
  for (const [address, others] of pairs) {
    const kept = others.filter((o) => !linked.has(`${address} ${o}`));
    if (kept.length) out.set(address, kept);
  }
  return out;
}

function single(event, name) {
  const found = event.tags.filter((t) => t.length && t[0] === name);
  if (found.length !== 1 || found[0].length < 2) throw new Malformed(`a seizure claim has exactly one '${name}' tag with a value`);
  return found[0][1];
}

/** The claim in `event` ({event, channel, since, successor, proof, message}); throws Malformed (as parse_claim). */
export function parseClaim(event, verify) {
  if (event.kind !== POST || single(event, 'type') !== SEIZED) throw new Malformed('not a seizure claim');
  const channel = single(event, 'a');
  const old = splitAddress(channel);
  if (!old || old[0] !== CHANNEL) throw new Malformed('a seizure claim must name a channel');
  const since = single(event, 'since');
  if (!DIGITS.test(since) || Number(since) > event.created_at) throw new Malformed("a seizure claim's 'since' must be a unix time no later than the claim");
  const successor = single(event, 'successor');
  const fresh = splitAddress(successor);
  if (!fresh || fresh[0] !== CHANNEL || fresh[1] === old[1]) throw new Malformed("a seizure claim's successor must be a channel of another owner key");
  const raw = single(event, 'proof');
  if (raw.length > MAX_PROOF) throw new Malformed("a seizure claim's proof is too long");
  let proofEvent;
  try {
    proofEvent = JSON.parse(raw);
  } catch {
    throw new Malformed("a seizure claim's proof is not JSON");
  }
  if (!proofEvent || typeof proofEvent !== 'object' || !Array.isArray(proofEvent.tags) || !verify(proofEvent)) throw new Malformed("a seizure claim's proof is not a signed event");
  const d = tagValues(proofEvent, 'd')[0] || '';
  if (proofEvent.kind !== CHANNEL || `${CHANNEL}:${proofEvent.pubkey}:${d}` !== channel) throw new Malformed("a seizure claim's proof is not a definition of the channel");
  const proof = withRecovery(parseChannel(proofEvent));
  if (proof.recovery !== event.pubkey) throw new Malformed("a seizure claim's proof does not name its signer as the recovery key");
  const message = checkText(event.content, "a seizure claim's text", MAX_MESSAGE);
  return { event, channel, since: Number(since), successor, proof, message, signer: event.pubkey };
}

function withRecovery(channel) {
  return { ...channel, recovery: recoveryKey(channel.event), seizedSince: null, successor: '' };
}

const order = (a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The channel at `address` as a reader takes it, as core/recovery.py judge(): {channel (null: unreadable or
 * unknown), remember (the recovery key to keep when none is remembered, or ''), claim}. Never throws for hostile
 * input. `newest`: the newest definition event at the address, or null; `vouches`: those that count (witnesses()). */
export function judge(address, newest, claims, remembered, verify, vouches = []) {
  let current = null;
  if (newest) {
    try {
      current = withRecovery(parseChannel(newest));
    } catch (exc) {
      if (!(exc instanceof Malformed)) throw exc;
    }
  }
  const valid = [];
  for (const e of claims) {
    try {
      const claim = parseClaim(e, verify);
      if (claim.channel === address) valid.push(claim);
    } catch (exc) {
      if (!(exc instanceof Malformed)) throw exc;
    }
  }
  let key = remembered || witnessed(address, vouches);
  if (!key) {
    const named = valid.map((c) => [c.proof.event, c.signer]);
    if (current && current.recovery) named.push([current.event, current.recovery]);
    named.sort((a, b) => order(a[0], b[0]));
    key = named.length ? named[0][1] : '';
  }
  // A key a trusted verifier's vouch contests is shown with it, never switched, and not remembered for good.
  const marks = { recoveryHonoured: key, recoveryDisputes: disputes(address, key, vouches, valid) };
  const remember = marks.recoveryDisputes.length && !remembered ? '' : key;
  const honoured = valid.filter((c) => c.signer === key).sort((a, b) => order(a.event, b.event));
  if (!honoured.length) return { channel: current && { ...current, ...marks }, remember, claim: null };
  const claim = honoured[0];
  let base = claim.proof.event;
  if (newest && newest.created_at < claim.since && supersedes(newest, base)) base = newest;
  let counted;
  try {
    counted = withRecovery(parseChannel(base));
  } catch (exc) {
    if (!(exc instanceof Malformed)) throw exc;
    counted = claim.proof;
  }
  return { channel: { ...counted, seizedSince: claim.since, successor: claim.successor, ...marks }, remember, claim };
}

/** Judge every channel of `channels` (Map address -> parsed, from rules.js currentChannels; changed in place)
 * that has claims or is followed, with the recovery keys remembered (object address -> key) and the trusted
 * vouches (Map address -> events, witnesses()); returns the remembered keys with the followed channels' first
 * ones added, or null when none was added. */
export function judgeAll(channels, definitions, claims, recoveryKeys, follows, verify, vouches = new Map()) {
  const followed = new Set(follows);
  let remembered = null;
  for (const address of [...channels.keys()]) {
    const found = [...(claims.get(address) || new Map()).values()];
    if (!found.length && !followed.has(address)) continue;
    const memory = recoveryKeys[address] || '';
    const judged = judge(address, definitions.get(address), found, memory, verify, vouches.get(address));
    if (judged.channel) channels.set(address, judged.channel);
    if (!memory && judged.remember && followed.has(address)) (remembered ||= { ...recoveryKeys })[address] = judged.remember;
  }
  return remembered;
}
