// Channel rules, ported from the Python reference (src/samizdat/core/posts.py, core/channel.py, feed.py).
//
// Theory of operation: the relay gives us events; nothing is shown until these rules said so. parseChannel
// checks a definition (kind 30333), parsePost the shape of a post (kind 2333), postVerdict whether a post
// counts in a channel (signer's role, shape, clock, expiry, in that order), threadView folds corrections,
// retractions, deletion requests and labels into what a reader sees, and feed builds a channel's list.
// Every function is pure: time comes in as `now` (unix seconds). tests/web/test_rules.py runs this module
// under node against the Python reference on the same events.

export const CHANNEL = 30333;
export const POST = 2333;
export const DELETION = 5;
export const LABEL = 1985;

export const NEWS = 'news', ALERT = 'alert', HELP = 'help', SAFE_PLACE = 'safe-place', CONTACT = 'contact';
export const EVENT = 'event', APPEAL = 'appeal', CORRECTION = 'correction', RETRACTION = 'retraction';
export const POST_TYPES = [NEWS, ALERT, HELP, SAFE_PLACE, CONTACT, EVENT, APPEAL, CORRECTION, RETRACTION];
export const OWNER = 'owner', ADMIN = 'admin', EDITOR = 'editor', FORMER = 'former';
export const REMOVED_CORRECTION = 'a correction by a removed key does not count: it can date it before its removal';
export const LABEL_NAMESPACE = 'samizdat.verify';
export const LABEL_VALUES = ['confirmed', 'disputed', 'false', 'misleading'];
export const HELP_STATUSES = ['open', 'resolved'];
export const CONTACT_ROLES = ['lawyer', 'medic', 'other'];
export const ALERT_TTL = 3 * 3600;
export const MAX_ALERT_TTL = 7 * 86400;
export const MAX_FUTURE = 15 * 60;

const MAX_LINE = 500, MAX_SUBJECT = 200, MAX_TEXT = 20000, MAX_HASHTAGS = 20, MAX_GIVE = 10;
export const MAX_RESOLUTION = MAX_LINE;
const MAX_ADMINS = 100, MAX_REVOKED = 1000, MAX_MIRRORS = 20, MAX_LANGUAGES = 5, MAX_NAME = 100;
const MAX_ABOUT = 2000, MAX_PLACE_DEPTH = 8;

const LINE_BAD = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
const TEXT_BAD = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;
const AMOUNT = /^[0-9]{1,15}(\.[0-9]{1,8})?$/;
const CURRENCY = /^[A-Za-z]{2,8}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const DIGITS = /^[0-9]{1,12}$/;
const SLUG = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;
const LANGUAGE = /^[a-z]{2}$/;
const GEOHASH = /^[0-9b-hjkmnp-z]{1,12}$/;

const LINE_FIELDS = ['location', 'need', 'status', 'hours', 'role', 'reach', 'purpose'];
const INT_FIELDS = ['start', 'end', 'expiration'];
const ALL_FIELDS = [...LINE_FIELDS, 'geohash', 'expiration', 'start', 'end', 'give', 'target'];
export const CORRECTABLE = new Set(ALL_FIELDS.filter((f) => f !== 'expiration'));

const set = (...names) => new Set(names);
// type -> [required fields, optional fields, content required]
export const SCHEMA = {
  [NEWS]: [set(), set('location', 'geohash', 'expiration'), true],
  [ALERT]: [set('location', 'expiration'), set('geohash'), true],
  [HELP]: [set('need', 'status'), set('location', 'geohash', 'reach', 'expiration'), false],
  [SAFE_PLACE]: [set('location'), set('geohash', 'hours', 'reach', 'expiration'), false],
  [CONTACT]: [set('role', 'reach'), set('location', 'geohash', 'hours', 'expiration'), false],
  [EVENT]: [set('start', 'location'), set('end', 'geohash', 'expiration'), false],
  [APPEAL]: [set('purpose', 'give'), set('target', 'expiration'), false],
  [CORRECTION]: [set(), CORRECTABLE, false],
  [RETRACTION]: [set(), set(), true],
};
const ARTICLE = {
  [NEWS]: 'a news post', [ALERT]: 'an alert', [HELP]: 'a help request', [SAFE_PLACE]: 'a safe-place post',
  [CONTACT]: 'a contact post', [EVENT]: 'an event post', [APPEAL]: 'an appeal', [CORRECTION]: 'a correction',
  [RETRACTION]: 'a retraction',
};
const NEEDS = {
  location: 'a location', expiration: 'an expiration time', need: 'to say what is needed',
  status: 'a status (open or resolved)', role: 'a role (lawyer, medic or other)',
  reach: 'to say how to reach them', start: 'a start time', purpose: 'a purpose', give: 'to say how to give',
};

export class Malformed extends Error {
  /** `code` names the common mistakes (['needs', type, field], ['needs-text', type], ...) for translations. */
  constructor(message, code = null) {
    super(message);
    this.code = code;
  }
}

const chars = (s) => [...s].length; // Python counts code points, not UTF-16 units
const pyStrip = (s) => s.replace(/^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/gu, '');

export const AREA_MARKER = 'area';
export const AREA_LENGTHS = [3, 4];

// The values of the 'g' tags that are a place someone gave, not a channel's area tag.
export function placeTags(event) {
  return event.tags.filter((t) => t.length >= 2 && t[0] === 'g' && t[2] !== AREA_MARKER).map((t) => t[1]);
}

// The coarse area tags a post of a channel at `geohash` carries (core/geohash.py area_tags).
export function areaTags(geohash) {
  if (!geohash || !/^[0-9b-hjkmnp-z]{3,12}$/.test(geohash)) return [];
  const cells = [...new Set(AREA_LENGTHS.map((n) => geohash.slice(0, n)))];
  return cells.map((c) => ['g', c, AREA_MARKER]);
}

export function tagValues(event, name) {
  const out = [];
  for (const t of event.tags) if (t.length >= 2 && t[0] === name) out.push(t[1]);
  return out;
}
const tagsNamed = (event, name) => event.tags.filter((t) => t.length && t[0] === name);

export function expiration(event) {
  for (const v of tagValues(event, 'expiration')) if (/^[0-9]{1,12}$/.test(v)) return Number(v);
  return null;
}
export const isExpired = (event, now) => {
  const e = expiration(event);
  return e !== null && e <= now;
};

/** The events a node's store keeps of `events` at `now` (store/rules.py deletion_targets, NIP-09 and NIP-40): none
 * expired, none its own author asked to delete (an `e` id, or an `a` replaceable slot up to the request's date;
 * a deletion request itself and a channel definition are never deleted). What a phone passes on in a bundle, as
 * `samizdat export` does: a phone's door follows the node's rule (tests/web/test_store_rules_parity.py feeds both
 * the same events). */
export function keptByStore(events, now) {
  const ids = new Set(), slots = new Map();
  for (const e of events) {
    if (e.kind !== DELETION || isExpired(e, now)) continue;
    for (const v of tagValues(e, 'e')) if (/^[0-9a-f]{64}$/.test(v) && v !== e.id) ids.add(`${e.pubkey}:${v}`);
    for (const v of tagValues(e, 'a')) {
      const i = v.indexOf(':'), j = i < 0 ? -1 : v.indexOf(':', i + 1);
      if (j < 0 || !/^[0-9]{1,5}$/.test(v.slice(0, i)) || v.slice(i + 1, j) !== e.pubkey) continue;
      const slot = slotOf(Number(v.slice(0, i)), e.pubkey, v.slice(j + 1));
      if (slot !== null && !(slots.get(slot) >= e.created_at)) slots.set(slot, e.created_at);
    }
  }
  return events.filter((e) => {
    if (isExpired(e, now)) return false;
    if (e.kind === DELETION || e.kind === CHANNEL) return true; // never deleted (store/rules.py UNDELETABLE_KINDS)
    if (ids.has(`${e.pubkey}:${e.id}`)) return false;
    const slot = slotOf(e.kind, e.pubkey, tagValues(e, 'd')[0] ?? '');
    return slot === null || !(slots.get(slot) >= e.created_at);
  });
}

/** The replacement slot of a replaceable (0, 3, 10000-19999) or addressable (30000-39999) kind, else null. */
function slotOf(kind, pubkey, d) {
  if (kind === 0 || kind === 3 || (kind >= 10000 && kind < 20000)) return `${kind}:${pubkey}:`;
  if (kind >= 30000 && kind < 40000) return `${kind}:${pubkey}:${d}`;
  return null;
}

export function isGeohash(v) {
  return typeof v === 'string' && GEOHASH.test(v);
}
export function longestConsistent(values) {
  if (!values.length) return null;
  let longest = values[0];
  for (const v of values) if (v.length > longest.length) longest = v;
  return values.every((v) => longest.startsWith(v)) ? longest : null;
}

export function checkLine(value, what, maxLength = MAX_LINE) {
  if (!value) throw new Malformed(`${what} is empty`);
  if (chars(value) > maxLength) throw new Malformed(`${what} is longer than ${maxLength} characters`);
  if (LINE_BAD.test(value)) throw new Malformed(`${what} contains line breaks or control characters`);
  if (value !== pyStrip(value)) throw new Malformed(`${what} starts or ends with spaces`);
  return value;
}
export function checkText(value, what, maxLength = MAX_TEXT) {
  if (chars(value) > maxLength) throw new Malformed(`${what} is longer than ${maxLength} characters`);
  if (TEXT_BAD.test(value)) throw new Malformed(`${what} contains control characters`);
  return value;
}

export function splitAddress(address) {
  const i = address.indexOf(':');
  const j = i < 0 ? -1 : address.indexOf(':', i + 1);
  if (j < 0) return null;
  const kind = address.slice(0, i), pubkey = address.slice(i + 1, j), d = address.slice(j + 1);
  if (!DIGITS.test(kind) || !HEX64.test(pubkey)) return null;
  return [Number(kind), pubkey, d];
}

// -- fields ----------------------------------------------------------------------------------------------

export function given(fields) {
  return new Set(Object.keys(fields).filter((k) => {
    const v = fields[k];
    return v !== '' && v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0);
  }));
}
export function merged(fields, changes) {
  const out = { ...fields };
  for (const name of given(changes)) out[name] = changes[name];
  return out;
}

function single(event, name) {
  const found = tagsNamed(event, name);
  if (!found.length) return null;
  if (found.length > 1) throw new Malformed(`the post has more than one '${name}' tag`);
  if (found[0].length < 2) throw new Malformed(`the post's '${name}' tag has no value`);
  return found[0][1];
}

export function checkFields(f, postType, createdAt) {
  const have = given(f);
  const missing = [...SCHEMA[postType][0]].filter((n) => !have.has(n)).sort();
  if (missing.length) throw new Malformed(`${ARTICLE[postType]} needs ${NEEDS[missing[0]]}`, ['needs', postType, missing[0]]);
  if (f.status && !HELP_STATUSES.includes(f.status)) throw new Malformed("a help request's status must be open or resolved");
  if (f.role && !CONTACT_ROLES.includes(f.role)) throw new Malformed("a contact's role must be lawyer, medic or other");
  if (f.start != null && f.end != null && f.end <= f.start) throw new Malformed('an event must end after it starts', ['end-before-start']);
  if (postType === ALERT && f.expiration != null) {
    if (f.expiration <= createdAt) throw new Malformed('an alert must expire after it is posted');
    if (f.expiration - createdAt > MAX_ALERT_TTL) throw new Malformed(`an alert must expire within ${MAX_ALERT_TTL / 86400} days`);
  }
}

function parseFields(event, postType) {
  const [required, optional] = SCHEMA[postType];
  const allowed = new Set([...required, ...optional]);
  const values = {};
  for (const name of LINE_FIELDS) {
    const value = allowed.has(name) ? single(event, name) : null;
    if (value !== null) values[name] = checkLine(value, `the '${name}' tag`);
  }
  for (const name of INT_FIELDS) {
    const value = allowed.has(name) || name === 'expiration' ? single(event, name) : null;
    if (value !== null) {
      if (!DIGITS.test(value)) throw new Malformed(`the '${name}' tag is not a unix time`);
      values[name] = Number(value);
    }
  }
  // A channel's coarse area tags (["g", cell, "area"], docs/protocol.md "Area tags") say where the channel is,
  // never where the post is: only the place the author gave counts.
  const g = placeTags(event);
  if (allowed.has('geohash') && g.length) {
    if (!g.every(isGeohash)) throw new Malformed("a 'g' tag is not a geohash");
    const longest = longestConsistent(g);
    if (longest === null) throw new Malformed("the post's 'g' tags point at different places");
    values.geohash = longest;
  }
  const give = tagValues(event, 'give');
  if (allowed.has('give') && give.length) {
    if (give.length > MAX_GIVE) throw new Malformed(`the post has more than ${MAX_GIVE} 'give' tags`);
    values.give = give.map((v) => checkLine(v, "a 'give' tag"));
  }
  const target = tagsNamed(event, 'target');
  if (allowed.has('target') && target.length) {
    if (target.length > 1 || target[0].length < 3) throw new Malformed("the post's 'target' tag must be one [\"target\", amount, currency]");
    const [, amount, currency] = target[0];
    if (!AMOUNT.test(amount) || !CURRENCY.test(currency)) throw new Malformed("the post's target must be an amount like 5000 or 0.25 and a currency");
    values.target = [amount, currency];
  }
  checkFields(values, postType, event.created_at);
  return values;
}

/** The shape of a channel post: returns a post object or throws Malformed (as posts.parse_post). */
export function parsePost(event) {
  if (event.kind !== POST) throw new Malformed(`a channel post is kind ${POST}, not ${event.kind}`);
  const channelTags = tagsNamed(event, 'a').filter((t) => t.length >= 2 && t[1].startsWith(`${CHANNEL}:`));
  if (channelTags.length !== 1) throw new Malformed("a channel post must name exactly one channel in an 'a' tag");
  const address = splitAddress(channelTags[0][1]);
  if (address === null || !address[2]) throw new Malformed("the post's channel address is malformed");
  const postType = single(event, 'type');
  if (postType === null) throw new Malformed("the post has no 'type' tag");
  if (!Object.hasOwn(SCHEMA, postType)) throw new Malformed(`unknown post type '${postType.slice(0, 40)}'`);
  const text = checkText(event.content, "the post's text");
  const subject = single(event, 'subject') || '';
  if (subject) checkLine(subject, 'the subject', MAX_SUBJECT);
  const hashtags = tagValues(event, 't');
  if (hashtags.length > MAX_HASHTAGS) throw new Malformed(`the post has more than ${MAX_HASHTAGS} hashtags`);
  for (const tag of hashtags) checkLine(tag, 'a hashtag', 64);
  const fields = parseFields(event, postType);
  let target = null, targetRelay = '';
  if (postType === CORRECTION || postType === RETRACTION) {
    const refs = tagsNamed(event, 'e').filter((t) => t.length >= 4 && t[3] === postType);
    if (refs.length !== 1 || !HEX64.test(refs[0][1])) throw new Malformed(`${ARTICLE[postType]} must name the post it amends in one 'e' tag`);
    target = refs[0][1];
    targetRelay = refs[0][2];
  }
  let resolution = '';
  if (postType === CORRECTION) {
    // Only with status resolved, so that old readers, who ignore this tag, see the same resolution.
    const note = single(event, 'resolution');
    if (note !== null) {
      resolution = checkLine(note, "the 'resolution' tag", MAX_RESOLUTION);
      if (fields.status !== 'resolved') throw new Malformed("a correction with a 'resolution' tag must set the status to resolved");
    }
    const changed = [...given(fields)].filter((n) => n !== 'expiration');
    if (!pyStrip(text) && !changed.length && !subject) throw new Malformed('a correction must change the text or a field', ['unchanged']);
  }
  if (SCHEMA[postType][2] && !pyStrip(text)) throw new Malformed(`${ARTICLE[postType]} needs text`, ['needs-text', postType]);
  return {
    event, id: event.id, author: event.pubkey, created_at: event.created_at, channel: channelTags[0][1],
    channelRelay: channelTags[0].length > 2 ? channelTags[0][2] : '', type: postType, text, subject, hashtags,
    fields, target, targetRelay, resolution,
  };
}

/** A NIP-32 verification label, or throws Malformed (as posts.parse_label). */
export function parseLabel(event) {
  if (event.kind !== LABEL) throw new Malformed(`a label is kind ${LABEL}, not ${event.kind}`);
  if (!tagValues(event, 'L').includes(LABEL_NAMESPACE)) throw new Malformed(`the label is not in the '${LABEL_NAMESPACE}' namespace`);
  const ours = tagsNamed(event, 'l').filter((t) => t.length >= 3 && t[2] === LABEL_NAMESPACE);
  if (ours.length !== 1 || !LABEL_VALUES.includes(ours[0][1])) throw new Malformed('a verification label must carry one of: ' + LABEL_VALUES.join(', '));
  const targets = tagsNamed(event, 'e').filter((t) => t.length >= 2);
  if (targets.length !== 1 || !HEX64.test(targets[0][1])) throw new Malformed("a verification label must name exactly one post in an 'e' tag");
  const reason = checkText(event.content, "the label's reason", MAX_LINE * 4);
  return { event, value: ours[0][1], postId: targets[0][1], verifier: event.pubkey, reason };
}

// A verifier's vouch for a channel: a label with the value 'vouched' on the channel's address (one 'a' tag, no
// 'e' tag), or throws Malformed (as posts.parse_vouch). docs/protocol.md, "Vouching for a channel".
export const VOUCH_VALUE = 'vouched';
export function parseVouch(event) {
  if (event.kind !== LABEL) throw new Malformed(`a vouch is kind ${LABEL}, not ${event.kind}`);
  if (!tagValues(event, 'L').includes(LABEL_NAMESPACE)) throw new Malformed(`the vouch is not in the '${LABEL_NAMESPACE}' namespace`);
  const ours = tagsNamed(event, 'l').filter((t) => t.length >= 3 && t[2] === LABEL_NAMESPACE);
  if (ours.length !== 1 || ours[0][1] !== VOUCH_VALUE) throw new Malformed(`a vouch carries the one label '${VOUCH_VALUE}'`);
  if (tagsNamed(event, 'e').length) throw new Malformed("a vouch names a channel, not a post: it has no 'e' tag");
  const targets = tagsNamed(event, 'a').filter((t) => t.length >= 2);
  const address = targets.length === 1 ? splitAddress(targets[0][1]) : null;
  if (!address || address[0] !== CHANNEL || !address[2]) throw new Malformed("a vouch must name exactly one channel address in an 'a' tag");
  const reason = checkText(event.content, "the vouch's reason", MAX_LINE * 4);
  return { event, channel: targets[0][1], verifier: event.pubkey, reason };
}

// -- channels --------------------------------------------------------------------------------------------

function only(event, name) {
  const found = tagsNamed(event, name);
  if (found.length > 1) throw new Malformed(`the channel definition has more than one '${name}' tag`);
  if (found.length && found[0].length < 2) throw new Malformed(`the channel definition's '${name}' tag has no value`);
  return found.length ? found[0][1] : null;
}

function checkRelay(url) {
  checkLine(url, 'a mirror relay URL', 256);
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new Malformed(`mirror '${url.slice(0, 60)}' is not a valid URL`);
  }
  if (!['ws:', 'wss:'].includes(parsed.protocol) || !parsed.hostname || parsed.username || url.includes('@') || url.includes(' ')) {
    throw new Malformed(`mirror '${url.slice(0, 60)}' is not a ws:// or wss:// relay URL`);
  }
  return url;
}

const MAX_PLACE_NAMES = 64;

/** The channel's names for the levels of its place (["place-name", <level path>, <lang>, <name>], as
 * channel.place_names): Map(level path -> Map(lang -> name)). Tags that do not fit are ignored, never fatal. */
export function placeNames(event, place) {
  const out = new Map();
  if (!place) return out;
  let n = 0;
  for (const t of event.tags) {
    if (n >= MAX_PLACE_NAMES) break;
    if (t.length < 4 || t[0] !== 'place-name') continue;
    const [, path, code, name] = t;
    if (typeof path !== 'string' || typeof code !== 'string' || typeof name !== 'string') continue;
    if (!(path === place || place.startsWith(`${path}/`)) || !LANGUAGE.test(code)) continue;
    try {
      checkLine(name, 'a place name', MAX_NAME);
    } catch {
      continue;
    }
    if (!out.has(path)) out.set(path, new Map());
    if (!out.get(path).has(code)) out.get(path).set(code, name);
    n += 1;
  }
  return out;
}

/** A channel definition (kind 30333) as an object, or throws Malformed (as channel.parse_channel).
 * Public keys are checked for shape only (the node's relay has verified every signature, and an invalid point
 * can never sign, so it grants nothing). */
export function parseChannel(event) {
  if (event.kind !== CHANNEL) throw new Malformed(`a channel definition is kind ${CHANNEL}, not ${event.kind}`);
  const channelId = only(event, 'd');
  if (channelId === null || !SLUG.test(channelId)) throw new Malformed("the channel id ('d' tag) must be 1-64 of a-z, 0-9, '.', '_' and '-'");
  const name = only(event, 'name');
  if (name === null) throw new Malformed('the channel definition has no name');
  checkLine(name, 'the channel name', MAX_NAME);
  const about = checkText(event.content, 'the channel description', MAX_ABOUT);
  const languages = [...new Set(event.tags.filter((t) => t.length >= 3 && t[0] === 'l' && t[2] === 'ISO-639-1').map((t) => t[1]))];
  if (languages.length > MAX_LANGUAGES || !languages.every((c) => LANGUAGE.test(c))) throw new Malformed(`channel languages must be at most ${MAX_LANGUAGES} two-letter ISO 639-1 codes`);
  const place = only(event, 'place') || '';
  if (place) {
    checkLine(place, 'the channel place');
    const parts = place.split('/');
    if (parts.length > MAX_PLACE_DEPTH || !parts.every((s) => s && s === pyStrip(s))) throw new Malformed(`the channel place must be 1-${MAX_PLACE_DEPTH} non-empty parts joined by '/'`);
  }
  const g = placeTags(event);
  if (!g.every(isGeohash)) throw new Malformed("a 'g' tag of the channel definition is not a geohash");
  const geohash = g.length ? longestConsistent(g) : '';
  if (geohash === null) throw new Malformed("the channel definition's 'g' tags point at different places");
  const admins = new Map();
  for (const t of event.tags) {
    if (t.length >= 4 && t[0] === 'p' && (t[3] === ADMIN || t[3] === EDITOR)) {
      if (!HEX64.test(t[1])) throw new Malformed('an admin key is not 64 lowercase hex characters');
      if (admins.has(t[1]) || t[1] === event.pubkey) throw new Malformed('the channel definition lists an admin twice, or the owner as an admin');
      admins.set(t[1], t[3]);
    }
  }
  if (admins.size > MAX_ADMINS) throw new Malformed(`a channel may have at most ${MAX_ADMINS} admins`);
  const revoked = new Map();
  for (const t of event.tags) {
    if (t.length && t[0] === 'revoked') {
      if (t.length < 3 || !DIGITS.test(t[2])) throw new Malformed('a \'revoked\' tag must be ["revoked", <pubkey>, <since unix time>]');
      if (!HEX64.test(t[1])) throw new Malformed('a revoked key is not 64 lowercase hex characters');
      if (revoked.has(t[1]) || admins.has(t[1]) || t[1] === event.pubkey) throw new Malformed('a revoked key is listed twice, or is also an admin or the owner');
      revoked.set(t[1], Number(t[2]));
    }
  }
  if (revoked.size > MAX_REVOKED) throw new Malformed(`a channel may list at most ${MAX_REVOKED} revoked keys`);
  const mirrors = [...new Set(tagValues(event, 'r').map(checkRelay))];
  if (mirrors.length > MAX_MIRRORS) throw new Malformed(`a channel may have at most ${MAX_MIRRORS} mirror relays`);
  return {
    owner: event.pubkey, channelId, name, about, languages, place, geohash, admins, revoked, mirrors, placeNames: placeNames(event, place),
    created_at: event.created_at, event, address: `${CHANNEL}:${event.pubkey}:${channelId}`,
  };
}

export function supersedes(a, b) {
  return a.created_at > b.created_at || (a.created_at === b.created_at && a.id < b.id);
}

export function roleOf(channel, pubkey, createdAt) {
  // A seized owner key (recovery.js) counts before the seizure only, as a former admin.
  if (pubkey === channel.owner) return channel.seizedSince == null ? OWNER : createdAt < channel.seizedSince ? FORMER : null;
  if (channel.admins.has(pubkey)) return channel.admins.get(pubkey);
  const since = channel.revoked.get(pubkey);
  if (since !== undefined && createdAt < since) return FORMER;
  return null;
}

// As channel.Channel.may_amend: the owner amends any post, an admin their own and editors' and former admins'
// (never the owner's nor another admin's), editors and former admins only their own.
export function mayAmend(channel, pubkey, createdAt, originalAuthor) {
  const role = roleOf(channel, pubkey, createdAt);
  if (role === null) return false;
  if (role === OWNER || pubkey === originalAuthor) return true;
  return role === ADMIN && !outranksAdmins(channel, originalAuthor);
}

/** The keys whose posts an admin may not amend: the owner (unless its key was seized) and the listed admins. */
export function outranksAdmins(channel, pubkey) {
  if (pubkey === channel.owner) return channel.seizedSince == null;
  return channel.admins.get(pubkey) === ADMIN;
}

// -- verdicts --------------------------------------------------------------------------------------------

/** Whether `event` is a valid post of `channel` at `now`: {status, reason, role, post}. Never throws. */
export function postVerdict(event, channel, now, maxFuture = MAX_FUTURE) {
  if (event.kind !== POST) return { status: 'not-a-post', reason: `kind ${event.kind} is not a channel post`, role: null, post: null };
  if (!tagValues(event, 'a').includes(channel.address)) return { status: 'other-channel', reason: 'the post belongs to another channel', role: null, post: null };
  const role = roleOf(channel, event.pubkey, event.created_at);
  if (role === null) {
    if (event.pubkey === channel.owner) return { status: 'revoked', reason: "signed by the channel's seized owner key after it was seized", role, post: null };
    if (channel.revoked.has(event.pubkey)) return { status: 'revoked', reason: 'signed by a removed admin after their removal', role, post: null };
    return { status: 'forged', reason: "signed by a key that is not the channel's owner or admin", role, post: null };
  }
  let post;
  try {
    post = parsePost(event);
  } catch (exc) {
    if (!(exc instanceof Malformed)) throw exc;
    return { status: 'malformed', reason: exc.message, role, post: null };
  }
  if (event.created_at > now + maxFuture) return { status: 'future', reason: 'dated in the future', role, post };
  if (isExpired(event, now)) return { status: 'expired', reason: 'expired', role, post };
  return { status: 'valid', reason: '', role, post };
}

const order = (a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Fold amendments into `original` (as thread.thread_view). `verifiers` is a Set of followed verifier keys.
 * `resolution` is the note of the latest counted correction that set the status to resolved ('' after one
 * back to open). */
export function threadView(original, related, channel, now, verifiers = new Set(), maxFuture = MAX_FUTURE) {
  const verdict = postVerdict(original, channel, now, maxFuture);
  const byId = new Map();
  for (const e of related) if (e.id !== original.id) byId.set(e.id, e);
  const events = [...byId.values()].sort(order);
  const ignored = [];
  const authors = new Map([...events.map((e) => [e.id, e.pubkey]), [original.id, original.pubkey]]);
  const deleted = new Map();
  for (const e of events) {
    if (e.kind !== DELETION) continue;
    const hits = tagValues(e, 'e').filter((i) => authors.get(i) === e.pubkey);
    for (const t of hits) if (!deleted.has(t)) deleted.set(t, e);
    if (!hits.length) ignored.push([e.id, 'a deletion request by someone other than the author']);
  }
  const base = verdict.post;
  const allowed = base ? new Set([...SCHEMA[base.type][0], ...SCHEMA[base.type][1]]) : new Set();
  let text = original.content, subject = base ? base.subject : '', resolution = '';
  let fields = base ? base.fields : {};
  const corrections = [], retractions = [];
  const votes = new Map();
  for (const e of events) {
    if (e.kind === DELETION) continue;
    if (deleted.has(e.id)) {
      ignored.push([e.id, 'deleted by its author']);
    } else if (e.kind === POST) {
      const a = postVerdict(e, channel, now, maxFuture);
      const post = a.post;
      if (a.status !== 'valid' || !post) ignored.push([e.id, `not a valid post of this channel: ${a.reason}`]);
      else if ((post.type !== CORRECTION && post.type !== RETRACTION) || post.target !== original.id) ignored.push([e.id, 'not an amendment of this post']);
      else if (!mayAmend(channel, e.pubkey, e.created_at, original.pubkey)) ignored.push([e.id, "its signer may not amend this post (admins amend their own, editors' and former admins' posts)"]);
      // As core/thread.py: a removed key can date a correction before its removal; its own posts stay as posted.
      else if (post.type === CORRECTION && a.role === FORMER) ignored.push([e.id, REMOVED_CORRECTION]);
      else if (post.type === RETRACTION) retractions.push(post);
      else {
        const changes = {};
        for (const n of given(post.fields)) if (allowed.has(n)) changes[n] = post.fields[n];
        const next = merged(fields, changes);
        try {
          if (base) checkFields(next, base.type, base.created_at);
        } catch (exc) {
          if (!(exc instanceof Malformed)) throw exc;
          ignored.push([e.id, `the correction would make the post malformed: ${exc.message}`]);
          continue;
        }
        fields = next;
        if (pyStrip(post.text)) text = post.text;
        subject = post.subject || subject;
        if (changes.status) resolution = changes.status === 'resolved' ? post.resolution : '';
        corrections.push(post);
      }
    } else if (e.kind === LABEL) {
      let label;
      try {
        label = parseLabel(e);
      } catch (exc) {
        if (!(exc instanceof Malformed)) throw exc;
        ignored.push([e.id, `not a verification label: ${exc.message}`]);
        continue;
      }
      if (label.postId !== original.id) ignored.push([e.id, 'a label on another post']);
      else if (!verifiers.has(label.verifier)) ignored.push([e.id, 'a label by a verifier you do not follow']);
      else if (e.created_at > now + maxFuture || isExpired(e, now)) ignored.push([e.id, 'a label dated in the future or expired']);
      else {
        votes.set(label.verifier, label); // sorted oldest first, so the newest stays
      }
    } else {
      ignored.push([e.id, `kind ${e.kind} is not an amendment`]);
    }
  }
  const labels = {};
  for (const label of votes.values()) labels[label.value] = (labels[label.value] || 0) + 1;
  return {
    verdict, text, subject, fields, corrections, retraction: retractions.length ? retractions[0] : null,
    deletion: deleted.get(original.id) || null, labels, labelEvents: [...votes.values()], ignored, resolution,
  };
}

/** A channel's feed from the events we have (as feed.collect_feed, without its limit): newest first. Each item
 * is {created_at, id, view, original} or {created_at, id, orphan} (a retraction whose original is gone). */
export function feed(channel, allEvents, now, verifiers = new Set()) {
  const events = Array.from(allEvents); // walked twice: an iterator would be empty the second time
  const originals = [], amendments = [], byTarget = new Map();
  const seen = new Set();
  for (const e of events) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    if (e.kind === POST && tagValues(e, 'a').includes(channel.address)) {
      const v = postVerdict(e, channel, now);
      const type = v.post ? v.post.type : null;
      (type === CORRECTION || type === RETRACTION ? amendments : originals).push(e);
    }
  }
  const ids = new Set(originals.map((e) => e.id));
  const amended = new Set(amendments);
  for (const e of events) {
    if (!(e.kind === DELETION || e.kind === LABEL || amended.has(e))) continue;
    for (const target of tagValues(e, 'e')) {
      if (!byTarget.has(target)) byTarget.set(target, []);
      byTarget.get(target).push(e);
    }
  }
  const items = [];
  for (const original of originals) {
    const view = threadView(original, byTarget.get(original.id) || [], channel, now, verifiers);
    if (view.verdict.status === 'valid') items.push({ created_at: original.created_at, id: original.id, view, original });
  }
  for (const e of amendments) {
    const v = postVerdict(e, channel, now);
    if (v.status === 'valid' && v.post.type === RETRACTION && v.post.target !== null && !ids.has(v.post.target)) {
      items.push({ created_at: e.created_at, id: e.id, orphan: v.post });
    }
  }
  items.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
  return items;
}

/** The feed `items` with each run of one author's posts past the `run`-th folded into one item
 * {id: '+<first id>', more: [items]} ("+ N posts by the same author", opened on a tap: its id in `open`), unless
 * nothing follows the run: a seized admin key's flood of 3,000 posts no longer hides the owner's alert beneath
 * it, and a channel of one author reads as before. */
export function fold(items, open, run = 3) {
  const out = [];
  let n = 0, by, f;
  for (const i of items) {
    const a = i.original?.pubkey;
    n = a && a === by ? n + 1 : 0;
    by = a;
    if (n === run) f = open.has('+' + i.id) ? null : out[out.length] = { id: '+' + i.id, more: [] };
    if (n >= run && f) f.more.push(i);
    else out.push(i);
  }
  if (f && out[out.length - 1] === f) out.splice(-1, 1, ...f.more);
  return out;
}

/** The newest definition per address among `events` (kind 30333), parsed; malformed newest versions give
 * {address, error} so the channel shows as unreadable instead of falling back to an older version. */
export function currentChannels(events) {
  const newest = new Map();
  for (const e of events) {
    if (e.kind !== CHANNEL) continue;
    const d = tagValues(e, 'd')[0] || '';
    const address = `${CHANNEL}:${e.pubkey}:${d}`;
    const old = newest.get(address);
    if (!old || supersedes(e, old)) newest.set(address, e);
  }
  const out = new Map();
  for (const [address, e] of newest) {
    try {
      out.set(address, parseChannel(e));
    } catch (exc) {
      if (!(exc instanceof Malformed)) throw exc;
      out.set(address, { address, error: exc.message, event: e });
    }
  }
  return out;
}
