"""Channel posts (kind 2333), corrections, retractions, and verifier labels (NIP-32, kind 1985).

Theory of operation: every post is one regular event that names its channel with an ``a`` tag and its type
with a ``type`` tag; the type decides which other tags it must and may carry (the table is ``SCHEMA`` below
and ``docs/protocol.md``). :func:`parse_post` turns an event into a :class:`Post` or raises one
:class:`~samizdat.errors.RemoteProtocolError` saying what is malformed. It checks the *shape* only; whether
the signer may post in the channel, and whether the post is still current, is
:func:`samizdat.core.thread.post_verdict`.

Builders validate by construction: they write the tags, sign, and run the result through :func:`parse_post`,
so a builder cannot produce a post that readers would reject for its shape. A person's mistake (an alert
without a location, an editor correcting someone else's post) is a :class:`~samizdat.errors.UsageError` whose
message can be shown as-is.

Every event the builders sign for a channel that has a geohash (posts of all types, corrections, retractions
and their deletion requests, vouches) also carries the channel's coarse area tags, ``["g", cell, "area"]`` for its
3- and 4-character cells (:func:`samizdat.core.geohash.area_tags`), so a reader can fetch a whole area without
naming the channel (docs/protocol.md, "Area tags"). They are never read as the post's own place.

Corrections and retractions are posts too (types ``correction`` and ``retraction``) pointing at the original
with ``["e", <id>, <relay>, "correction"|"retraction", <original author>]``. A correction may replace the text
and any type field; resolving a help request is a correction that sets ``status`` to ``resolved``, with empty
content (the request's text stays) and, optionally, a note saying how in a ``["resolution", <note>]`` tag. A
retraction also comes with a NIP-09 deletion request, but only when the retracting key wrote the original:
NIP-09 lets authors delete only their own events, so when an admin retracts someone else's post the visible
retraction is all there is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Protocol, TypedDict, Unpack

from samizdat.core import geohash as gh
from samizdat.core import kinds
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError, UsageError

NEWS, ALERT, HELP, SAFE_PLACE, CONTACT, EVENT = "news", "alert", "help", "safe-place", "contact", "event"
APPEAL, CORRECTION, RETRACTION = "appeal", "correction", "retraction"
POST_TYPES = (NEWS, ALERT, HELP, SAFE_PLACE, CONTACT, EVENT, APPEAL, CORRECTION, RETRACTION)

ALERT_TTL = 3 * 3600  #: default lifetime of an alert: "police at X" is stale after a few hours
MAX_ALERT_TTL = 7 * 86400  #: an alert that claims to live longer than this is malformed
HELP_STATUSES = ("open", "resolved")
CONTACT_ROLES = ("lawyer", "medic", "other")

LABEL_NAMESPACE = "samizdat.verify"
LABEL_VALUES = ("confirmed", "disputed", "false", "misleading")

MAX_LINE = 500  #: a one-line tag value (location, need, ...)
MAX_SUBJECT = 200
MAX_RESOLUTION = MAX_LINE  #: the one-line note of a ``resolution`` tag ("A neighbour drove them")
MAX_TEXT = 20_000  #: content of a post, in characters
MAX_HASHTAGS = 20
MAX_GIVE = 10

_ARTICLE = {NEWS: "a news post", ALERT: "an alert", HELP: "a help request", SAFE_PLACE: "a safe-place post",
            CONTACT: "a contact post", EVENT: "an event post", APPEAL: "an appeal",
            CORRECTION: "a correction", RETRACTION: "a retraction"}  # fmt: skip
_NEEDS = {"location": "a location", "expiration": "an expiration time", "need": "to say what is needed",
          "status": "a status (open or resolved)", "role": "a role (lawyer, medic or other)",
          "reach": "to say how to reach them", "start": "a start time", "purpose": "a purpose",
          "give": "to say how to give"}  # fmt: skip

_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TEXT_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,8})?")
_CURRENCY = re.compile(r"[A-Za-z]{2,8}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,12}")  # not \d: int() accepts digits of other scripts


class ChannelLike(Protocol):
    """What the builders need of a channel; :class:`samizdat.core.channel.Channel` is one.

    A protocol rather than an import: channel definitions are checked with this module's text checks, so
    :mod:`samizdat.core.channel` sits above this module and this module never imports it.
    """

    @property
    def address(self) -> str: ...

    @property
    def channel_id(self) -> str: ...

    @property
    def mirrors(self) -> tuple[str, ...]: ...

    @property
    def geohash(self) -> str: ...

    def role_of(self, pubkey: str, created_at: int) -> str | None: ...

    def may_amend(self, pubkey: str, created_at: int, original_author: str) -> bool: ...


class TypeFields(TypedDict, total=False):
    """The keyword arguments the builders accept for type-specific fields (see :class:`PostFields`)."""

    location: str
    geohash: str
    expiration: int | None
    need: str
    status: str
    hours: str
    role: str
    reach: str
    start: int | None
    end: int | None
    purpose: str
    give: tuple[str, ...]
    target: tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class PostFields:
    """Type-specific fields of a post; empty values mean "not given". ``geohash`` is the most precise one."""

    location: str = ""
    geohash: str = ""
    expiration: int | None = None
    need: str = ""
    status: str = ""
    hours: str = ""
    role: str = ""
    reach: str = ""
    start: int | None = None
    end: int | None = None
    purpose: str = ""
    give: tuple[str, ...] = ()
    target: tuple[str, str] | None = None  # (amount, currency)

    def given(self) -> frozenset[str]:
        """Names of the fields that have a value."""
        return frozenset(f.name for f in fields(self) if getattr(self, f.name) not in ("", None, ()))

    def merged(self, changes: PostFields) -> PostFields:
        """These fields with every field that ``changes`` gives replacing ours (how corrections apply)."""
        return replace(self, **{name: getattr(changes, name) for name in changes.given()})


_LINE_FIELDS = ("location", "need", "status", "hours", "role", "reach", "purpose")
_INT_FIELDS = ("start", "end", "expiration")
_ALL_FIELDS = frozenset(f.name for f in fields(PostFields))
#: Fields a correction may change. Not expiration: relays drop the original when it expires whatever a
#: correction says, so an alert is extended by posting a new one.
CORRECTABLE = _ALL_FIELDS - {"expiration"}

#: type -> (required fields, optional fields, content required)
SCHEMA: dict[str, tuple[frozenset[str], frozenset[str], bool]] = {
    NEWS: (frozenset(), frozenset({"location", "geohash", "expiration"}), True),
    ALERT: (frozenset({"location", "expiration"}), frozenset({"geohash"}), True),
    HELP: (frozenset({"need", "status"}), frozenset({"location", "geohash", "reach", "expiration"}), False),
    SAFE_PLACE: (frozenset({"location"}), frozenset({"geohash", "hours", "reach", "expiration"}), False),
    CONTACT: (frozenset({"role", "reach"}), frozenset({"location", "geohash", "hours", "expiration"}), False),
    EVENT: (frozenset({"start", "location"}), frozenset({"end", "geohash", "expiration"}), False),
    APPEAL: (frozenset({"purpose", "give"}), frozenset({"target", "expiration"}), False),
    CORRECTION: (frozenset(), CORRECTABLE, False),
    RETRACTION: (frozenset(), frozenset(), True),
}


@dataclass(frozen=True, slots=True)
class Post:
    """A post whose shape is valid. Whether it may be shown is :func:`~samizdat.core.thread.post_verdict`."""

    event: Event
    channel: str  # "30333:<owner>:<d>"
    channel_relay: str
    post_type: str
    text: str
    subject: str
    hashtags: tuple[str, ...]
    fields: PostFields
    target: str | None = None  # the original's id, for corrections and retractions
    target_relay: str = ""
    resolution: str = ""  # a correction's note on how a help request was resolved ("resolution" tag)

    @property
    def id(self) -> str:
        return self.event.id

    @property
    def author(self) -> str:
        return self.event.pubkey

    @property
    def created_at(self) -> int:
        return self.event.created_at


@dataclass(frozen=True, slots=True)
class Label:
    """A verifier's NIP-32 label on one post."""

    event: Event
    value: str  # one of LABEL_VALUES
    post_id: str
    post_author: str | None
    reason: str

    @property
    def verifier(self) -> str:
        return self.event.pubkey


# -- text checks shared with channel.py ----------------------------------------------------------------------


def check_line(value: str, what: str, *, max_length: int = MAX_LINE) -> str:
    """``value`` if it is one printable line of at most ``max_length`` characters; else RemoteProtocolError"""
    if not value:
        raise RemoteProtocolError(f"{what} is empty")
    if len(value) > max_length:
        raise RemoteProtocolError(f"{what} is longer than {max_length} characters")
    if _LINE_BAD.search(value):
        raise RemoteProtocolError(f"{what} contains line breaks or control characters")
    if value != value.strip():
        raise RemoteProtocolError(f"{what} starts or ends with spaces")
    return value


def check_text(value: str, what: str, *, max_length: int = MAX_TEXT) -> str:
    """``value`` if it is text of at most ``max_length`` characters without control characters (tabs and
    line breaks are fine); else RemoteProtocolError."""
    if len(value) > max_length:
        raise RemoteProtocolError(f"{what} is longer than {max_length} characters")
    if _TEXT_BAD.search(value):
        raise RemoteProtocolError(f"{what} contains control characters")
    return value


def split_address(address: str) -> tuple[int, str, str] | None:
    """``(kind, pubkey, d)`` of an ``a``-tag address, or None when it is not one."""
    parts = address.split(":", 2)
    if len(parts) != 3 or not _DIGITS.fullmatch(parts[0]) or not _HEX64.fullmatch(parts[1]):
        return None
    return int(parts[0]), parts[1], parts[2]


# -- parsing -------------------------------------------------------------------------------------------------


def _tags(event: Event, name: str) -> list[tuple[str, ...]]:
    return [t for t in event.tags if t and t[0] == name]


def _single(event: Event, name: str) -> str | None:
    found = _tags(event, name)
    if not found:
        return None
    if len(found) > 1:
        raise RemoteProtocolError(f"the post has more than one {name!r} tag")
    if len(found[0]) < 2:
        raise RemoteProtocolError(f"the post's {name!r} tag has no value")
    return found[0][1]


def _parse_fields(event: Event, post_type: str) -> PostFields:
    required, optional, _ = SCHEMA[post_type]
    allowed = required | optional
    values: dict[str, object] = {}
    for name in _LINE_FIELDS:
        value = _single(event, name) if name in allowed else None
        if value is not None:
            values[name] = check_line(value, f"the {name!r} tag")
    for name in _INT_FIELDS:
        # expiration is read on every post: NIP-40 applies to any event whatever its type.
        value = _single(event, name) if name in allowed or name == "expiration" else None
        if value is not None:
            if not _DIGITS.fullmatch(value):
                raise RemoteProtocolError(f"the {name!r} tag is not a unix time")
            values[name] = int(value)
    # Only the place the author gave: a channel's coarse area tags (core/geohash.py, AREA_MARKER) say where the
    # channel is, not where this post is, and may even lie outside a post's own place.
    g_values = [t[1] for t in event.tags if len(t) >= 2 and t[0] == "g" and not gh.is_area_tag(t)]
    if "geohash" in allowed and g_values:
        if not all(gh.is_geohash(v) for v in g_values):
            raise RemoteProtocolError("a 'g' tag is not a geohash")
        longest = gh.longest_consistent(g_values)
        if longest is None:
            raise RemoteProtocolError("the post's 'g' tags point at different places")
        values["geohash"] = longest
    if "give" in allowed and (give := event.tag_values("give")):
        if len(give) > MAX_GIVE:
            raise RemoteProtocolError(f"the post has more than {MAX_GIVE} 'give' tags")
        values["give"] = tuple(check_line(v, "a 'give' tag") for v in give)
    if "target" in allowed and (target := _tags(event, "target")):
        if len(target) > 1 or len(target[0]) < 3:
            raise RemoteProtocolError("the post's 'target' tag must be one [\"target\", amount, currency]")
        amount, currency = target[0][1], target[0][2]
        if not _AMOUNT.fullmatch(amount) or not _CURRENCY.fullmatch(currency):
            raise RemoteProtocolError("the post's target must be an amount like 5000 or 0.25 and a currency")
        values["target"] = (amount, currency)
    result = PostFields(**values)  # type: ignore[arg-type]  # keys and types are checked above
    check_fields(result, post_type, event.created_at)
    return result


def check_fields(f: PostFields, post_type: str, created_at: int) -> None:
    """Raise :class:`RemoteProtocolError` unless ``f`` are valid fields for a post of ``post_type`` dated
    ``created_at`` (required fields given, enumerations and times consistent)."""
    missing = sorted(SCHEMA[post_type][0] - f.given())
    if missing:
        raise RemoteProtocolError(f"{_ARTICLE[post_type]} needs {_NEEDS[missing[0]]}")
    if f.status and f.status not in HELP_STATUSES:
        raise RemoteProtocolError("a help request's status must be open or resolved")
    if f.role and f.role not in CONTACT_ROLES:
        raise RemoteProtocolError("a contact's role must be lawyer, medic or other")
    if f.start is not None and f.end is not None and f.end <= f.start:
        raise RemoteProtocolError("an event must end after it starts")
    if post_type == ALERT and f.expiration is not None:
        if f.expiration <= created_at:
            raise RemoteProtocolError("an alert must expire after it is posted")
        if f.expiration - created_at > MAX_ALERT_TTL:
            raise RemoteProtocolError(f"an alert must expire within {MAX_ALERT_TTL // 86400} days")


def parse_post(event: Event) -> Post:
    """Check the shape of a channel post and return it as a :class:`Post`.

    Raises :class:`RemoteProtocolError` naming the first problem: wrong kind, no (or more than one) channel
    ``a`` tag, an unknown or missing type, text with control characters, or type fields missing or malformed.
    """
    if event.kind != kinds.POST:
        raise RemoteProtocolError(f"a channel post is kind {kinds.POST}, not {event.kind}")
    channel_tags = [t for t in _tags(event, "a") if len(t) >= 2 and t[1].startswith(f"{kinds.CHANNEL}:")]
    if len(channel_tags) != 1:
        raise RemoteProtocolError("a channel post must name exactly one channel in an 'a' tag")
    address = split_address(channel_tags[0][1])
    if address is None or not address[2]:
        raise RemoteProtocolError("the post's channel address is malformed")
    post_type = _single(event, "type")
    if post_type is None:
        raise RemoteProtocolError("the post has no 'type' tag")
    if post_type not in SCHEMA:
        raise RemoteProtocolError(f"unknown post type {post_type[:40]!r}")
    text = check_text(event.content, "the post's text")
    subject = _single(event, "subject") or ""
    if subject:
        check_line(subject, "the subject", max_length=MAX_SUBJECT)
    hashtags = tuple(event.tag_values("t"))
    if len(hashtags) > MAX_HASHTAGS:
        raise RemoteProtocolError(f"the post has more than {MAX_HASHTAGS} hashtags")
    for tag in hashtags:
        check_line(tag, "a hashtag", max_length=64)
    post_fields = _parse_fields(event, post_type)
    target, target_relay = None, ""
    if post_type in (CORRECTION, RETRACTION):
        refs = [t for t in _tags(event, "e") if len(t) >= 4 and t[3] == post_type]
        if len(refs) != 1 or not _HEX64.fullmatch(refs[0][1]):
            raise RemoteProtocolError(f"{_ARTICLE[post_type]} must name the post it amends in one 'e' tag")
        target, target_relay = refs[0][1], refs[0][2]
    resolution = ""
    if post_type == CORRECTION:
        # Only with status resolved, so that old readers, who ignore this tag, see the same resolution.
        if (note := _single(event, "resolution")) is not None:
            resolution = check_line(note, "the 'resolution' tag", max_length=MAX_RESOLUTION)
            if post_fields.status != "resolved":
                raise RemoteProtocolError("a correction with a 'resolution' tag must set the status to resolved")
        if not text.strip() and not post_fields.given() - {"expiration"} and not subject:
            raise RemoteProtocolError("a correction must change the text or a field")
    if SCHEMA[post_type][2] and not text.strip():
        raise RemoteProtocolError(f"{_ARTICLE[post_type]} needs text")
    return Post(event, channel_tags[0][1], channel_tags[0][2] if len(channel_tags[0]) > 2 else "",
                post_type, text, subject, hashtags, post_fields, target, target_relay, resolution)  # fmt: skip


def parse_label(event: Event) -> Label:
    """A Samizdat verification label (NIP-32) on one post; RemoteProtocolError when it is not one."""
    if event.kind != kinds.LABEL:
        raise RemoteProtocolError(f"a label is kind {kinds.LABEL}, not {event.kind}")
    if LABEL_NAMESPACE not in event.tag_values("L"):
        raise RemoteProtocolError(f"the label is not in the {LABEL_NAMESPACE!r} namespace")
    ours = [t for t in _tags(event, "l") if len(t) >= 3 and t[2] == LABEL_NAMESPACE]
    if len(ours) != 1 or ours[0][1] not in LABEL_VALUES:
        raise RemoteProtocolError("a verification label must carry one of: " + ", ".join(LABEL_VALUES))
    targets = [t for t in _tags(event, "e") if len(t) >= 2]
    if len(targets) != 1 or not _HEX64.fullmatch(targets[0][1]):
        raise RemoteProtocolError("a verification label must name exactly one post in an 'e' tag")
    authors = [t[1] for t in _tags(event, "p") if len(t) >= 2 and _HEX64.fullmatch(t[1])]
    reason = check_text(event.content, "the label's reason", max_length=MAX_LINE * 4)
    return Label(event, ours[0][1], targets[0][1], authors[0] if authors else None, reason)


# -- building ------------------------------------------------------------------------------------------------


def _field_tags(f: PostFields) -> list[list[str]]:
    tags = [[name, getattr(f, name)] for name in _LINE_FIELDS if getattr(f, name)]
    tags += [["give", value] for value in f.give]
    if f.target is not None:
        tags.append(["target", f.target[0], f.target[1]])
    tags += [[name, str(getattr(f, name))] for name in ("start", "end") if getattr(f, name) is not None]
    if f.geohash:
        if not gh.is_geohash(f.geohash):
            raise UsageError(f"{f.geohash[:20]!r} is not a geohash (1 to 12 of 0-9 and b-z without a, i, l, o).")
        tags += [["g", prefix] for prefix in gh.prefixes(f.geohash)]
    if f.expiration is not None:
        tags.append(["expiration", str(f.expiration)])
    return tags


def _sentence(exc: RemoteProtocolError) -> UsageError:
    return UsageError(str(exc)[:1].upper() + str(exc)[1:] + ".")


def _sign_checked(key: SecretKey, kind: int, content: str, tags: list[list[str]], created_at: int) -> Event:
    event = sign_event(key, kind, content, tags, created_at=created_at)
    try:
        if kind == kinds.POST:
            parse_post(event)
        elif kind == kinds.LABEL:
            parse_label(event)
    except RemoteProtocolError as exc:
        raise _sentence(exc) from exc
    return event


def _check_role(key: SecretKey, channel: ChannelLike, created_at: int) -> None:
    if channel.role_of(key.public_key_hex, created_at) is None:
        raise UsageError(f"This key is not the owner, an admin or an editor of the channel {channel.channel_id!r}.")


def _common_tags(
    channel: ChannelLike, post_type: str, subject: str, hashtags: Sequence[str], hint: str | None
) -> list[list[str]]:
    relay = hint if hint is not None else (channel.mirrors[0] if channel.mirrors else "")
    tags = [["a", channel.address, relay], ["type", post_type]]
    if subject:
        tags.append(["subject", subject])
    tags += [["t", tag.lower().lstrip("#")] for tag in hashtags]
    return tags


def build_post(
    key: SecretKey,
    channel: ChannelLike,
    post_type: str,
    text: str,
    *,
    created_at: int,
    subject: str = "",
    hashtags: Sequence[str] = (),
    relay_hint: str | None = None,
    extra_tags: Sequence[Sequence[str]] = (),
    **type_fields: Unpack[TypeFields],
) -> Event:
    """Sign a post of ``post_type`` (any type but correction and retraction) in ``channel``.

    ``extra_tags`` are appended as given (the photos' NIP-92 ``imeta`` tags, built by :mod:`samizdat.core.imeta`).

    An alert without ``expiration`` expires :data:`ALERT_TTL` seconds after ``created_at``; a help request
    without ``status`` is ``open``. ``geohash`` is the most precise geohash; one ``g`` tag per prefix from 3
    characters is written. ``relay_hint`` defaults to the channel's first mirror.

    Raises :class:`UsageError` when the key may not post in the channel, the type is unknown, a field does not
    apply to the type, or a required field is missing or malformed.
    """
    if post_type in (CORRECTION, RETRACTION):
        raise UsageError(f"Use build_{post_type} for a {post_type}.")
    if post_type not in SCHEMA:
        raise UsageError(f"Unknown post type {post_type!r}; known types: {', '.join(POST_TYPES[:-2])}.")
    _check_role(key, channel, created_at)
    if post_type == ALERT and type_fields.get("expiration") is None:
        type_fields["expiration"] = created_at + ALERT_TTL
    if post_type == HELP and not type_fields.get("status"):
        type_fields["status"] = "open"
    post_fields = PostFields(**type_fields)
    required, optional, _ = SCHEMA[post_type]
    if extra := post_fields.given() - required - optional:
        raise UsageError(f"{', '.join(sorted(extra)).capitalize()} does not apply to {_ARTICLE[post_type]}.")
    tags = _common_tags(channel, post_type, subject, hashtags, relay_hint) + _field_tags(post_fields)
    tags += gh.area_tags(channel.geohash)
    tags.append(["alt", f"Samizdat channel post ({post_type})"])
    tags += [list(tag) for tag in extra_tags]
    return _sign_checked(key, kinds.POST, text, tags, created_at)


def _original(channel: ChannelLike, original: Event) -> Post:
    try:
        post = parse_post(original)
    except RemoteProtocolError as exc:
        raise UsageError(f"The original is not a valid channel post: {exc}.") from exc
    if post.channel != channel.address:
        raise UsageError(f"The original post belongs to another channel ({post.channel}).")
    if post.post_type in (CORRECTION, RETRACTION):
        raise UsageError(f"A {post.post_type} cannot itself be corrected or retracted; amend the original post.")
    return post


def _check_amend(key: SecretKey, channel: ChannelLike, original: Post, created_at: int, what: str) -> None:
    _check_role(key, channel, created_at)
    if not channel.may_amend(key.public_key_hex, created_at, original.author):
        raise UsageError(
            f"Only the channel's owner may {what} the owner's or an admin's post; admins may {what} their own, "
            f"editors' and former admins' posts, editors only their own."
        )


def build_correction(
    key: SecretKey,
    channel: ChannelLike,
    original: Event,
    text: str,
    *,
    created_at: int,
    subject: str = "",
    relay_hint: str | None = None,
    resolution: str = "",
    **changes: Unpack[TypeFields],
) -> Event:
    """Sign a correction of ``original``: new text (or "" to keep it) and any type fields that change.
    ``resolution`` is a one-line note on how a help request was resolved, for a correction that sets
    ``status`` to ``resolved`` (a ``resolution`` tag).

    Raises :class:`UsageError` when the original is not a post of this channel, is itself a correction or
    retraction, a changed field does not apply to the original's type, the correction changes nothing, the
    resolution note is not one line of at most :data:`MAX_RESOLUTION` characters or comes without status
    resolved, or the key may not amend the original (editors amend only their own posts).
    """
    post = _original(channel, original)
    _check_amend(key, channel, post, created_at, "correct")
    change_fields = PostFields(**changes)
    required, optional, _ = SCHEMA[post.post_type]
    if extra := change_fields.given() - ((required | optional) & CORRECTABLE):
        raise UsageError(f"A correction cannot change {', '.join(sorted(extra))} of {_ARTICLE[post.post_type]}.")
    _check_merged(post, change_fields)
    if resolution:
        try:
            check_line(resolution, "the resolution note", max_length=MAX_RESOLUTION)
        except RemoteProtocolError as exc:
            raise _sentence(exc) from exc
        if change_fields.status != "resolved":
            raise UsageError("A resolution note goes with a correction that sets the status to resolved.")
    tags = _common_tags(channel, CORRECTION, subject, (), relay_hint)
    tags.append(["e", original.id, post.channel_relay, CORRECTION, original.pubkey])
    tags += _field_tags(change_fields)
    if resolution:
        tags.append(["resolution", resolution])
    tags += gh.area_tags(channel.geohash)
    tags.append(["alt", "Samizdat channel post (correction)"])
    return _sign_checked(key, kinds.POST, text, tags, created_at)


def _check_merged(post: Post, changes: PostFields) -> None:
    try:
        check_fields(post.fields.merged(changes), post.post_type, post.created_at)
    except RemoteProtocolError as exc:
        raise UsageError(f"After this correction, {exc}.") from exc


def build_resolution(
    key: SecretKey,
    channel: ChannelLike,
    help_request: Event,
    note: str = "",
    *,
    created_at: int,
    relay_hint: str | None = None,
) -> Event:
    """Mark a help request resolved: a correction with empty content (the request's text stays) that sets
    ``status`` to ``resolved`` and carries ``note`` (how it was resolved; optional, surrounding spaces dropped)
    in a ``["resolution", note]`` tag. Raises :class:`UsageError` as :func:`build_correction`, and when the post
    is not a help request."""
    if _original(channel, help_request).post_type != HELP:
        raise UsageError("Only a help request can be marked resolved.")
    return build_correction(
        key, channel, help_request, "", created_at=created_at, relay_hint=relay_hint, resolution=note.strip(),
        status="resolved",
    )  # fmt: skip


def build_retraction(
    key: SecretKey,
    channel: ChannelLike,
    original: Event,
    reason: str,
    *,
    created_at: int,
    relay_hint: str | None = None,
) -> tuple[Event, Event | None]:
    """Sign a retraction of ``original`` with ``reason``, and a NIP-09 deletion request when ``key`` wrote it.

    Returns ``(retraction, deletion)``; ``deletion`` is None when the original is someone else's, because
    NIP-09 honours deletion requests from the author only: then readers still see the retraction, but relays
    keep the original. Publish both. Raises :class:`UsageError` as :func:`build_correction`, or when
    ``reason`` is empty.
    """
    post = _original(channel, original)
    _check_amend(key, channel, post, created_at, "retract")
    if not reason.strip():
        raise UsageError("A retraction needs a reason, which readers see instead of the post.")
    tags = _common_tags(channel, RETRACTION, "", (), relay_hint)
    tags.append(["e", original.id, post.channel_relay, RETRACTION, original.pubkey])
    tags += gh.area_tags(channel.geohash)
    tags.append(["alt", "Samizdat channel post (retraction)"])
    retraction = _sign_checked(key, kinds.POST, reason, tags, created_at)
    deletion = None
    if key.public_key_hex == original.pubkey:
        tags = [["e", original.id], ["k", str(kinds.POST)], *gh.area_tags(channel.geohash)]
        deletion = sign_event(key, kinds.DELETION, reason, tags, created_at=created_at)
    return retraction, deletion


def build_label(
    key: SecretKey,
    post: Event,
    value: str,
    reason: str = "",
    *,
    created_at: int,
    relay_hint: str = "",
) -> Event:
    """Sign a verifier's NIP-32 label (kind 1985) saying ``post`` is confirmed, disputed, false or misleading.

    Raises :class:`UsageError` for an unknown value or a reason with control characters.
    """
    if value not in LABEL_VALUES:
        raise UsageError(f"A label is one of: {', '.join(LABEL_VALUES)}; not {value[:40]!r}.")
    tags = [
        ["L", LABEL_NAMESPACE],
        ["l", value, LABEL_NAMESPACE],
        ["e", post.id, relay_hint],
        ["p", post.pubkey, relay_hint],
        ["k", str(post.kind)],
        ["alt", f"Samizdat verification label: {value}"],
    ]
    return _sign_checked(key, kinds.LABEL, reason, tags, created_at)


# -- channel vouches: a verifier's label on a channel's address (docs/protocol.md, "Vouching for a channel") ----

VOUCH_VALUE = "vouched"  #: the label value of a vouch, in the LABEL_NAMESPACE; never a value of a post label


@dataclass(frozen=True, slots=True)
class Vouch:
    """A verifier's NIP-32 label saying the channel at ``channel`` (the owner key and the id) is the real one."""

    event: Event
    channel: str  # "30333:<owner>:<d>"
    reason: str

    @property
    def verifier(self) -> str:
        return self.event.pubkey


def parse_vouch(event: Event) -> Vouch:
    """A vouch for a channel: like a verification label, but with the ``vouched`` value and one ``a`` tag naming
    the channel instead of the ``e`` tag. RemoteProtocolError when it is not one."""
    if event.kind != kinds.LABEL:
        raise RemoteProtocolError(f"a vouch is kind {kinds.LABEL}, not {event.kind}")
    if LABEL_NAMESPACE not in event.tag_values("L"):
        raise RemoteProtocolError(f"the vouch is not in the {LABEL_NAMESPACE!r} namespace")
    ours = [t for t in _tags(event, "l") if len(t) >= 3 and t[2] == LABEL_NAMESPACE]
    if len(ours) != 1 or ours[0][1] != VOUCH_VALUE:
        raise RemoteProtocolError(f"a vouch carries the one label {VOUCH_VALUE!r}")
    if _tags(event, "e"):
        raise RemoteProtocolError("a vouch names a channel, not a post: it has no 'e' tag")
    targets = [t for t in _tags(event, "a") if len(t) >= 2]
    address = split_address(targets[0][1]) if len(targets) == 1 else None
    if address is None or address[0] != kinds.CHANNEL or not address[2]:
        raise RemoteProtocolError("a vouch must name exactly one channel address in an 'a' tag")
    reason = check_text(event.content, "the vouch's reason", max_length=MAX_LINE * 4)
    return Vouch(event, targets[0][1], reason)


def build_vouch(
    key: SecretKey, channel: ChannelLike, reason: str = "", *, created_at: int, recovery: str | None = None
) -> Event:
    """Sign a verifier's vouch (kind 1985) for ``channel``, naming the recovery key the verifier saw it name
    (``recovery``; by default the definition's own): readers new to the channel honour that key's seizure claim
    (core/recovery.py). Raises UsageError for a reason with control characters."""
    relay = channel.mirrors[0] if channel.mirrors else ""
    owner = channel.address.split(":", 2)[1]
    named = getattr(channel, "recovery", "") if recovery is None else recovery
    tags = [
        ["L", LABEL_NAMESPACE],
        ["l", VOUCH_VALUE, LABEL_NAMESPACE],
        ["a", channel.address, relay],
        ["p", owner, relay],
        ["k", str(kinds.CHANNEL)],
        *([["recovery", named]] if named else []),
        *gh.area_tags(channel.geohash),
        ["alt", f"Samizdat: a verifier vouches for the channel {channel.channel_id}"],
    ]
    event = sign_event(key, kinds.LABEL, reason, tags, created_at=created_at)
    try:
        parse_vouch(event)
    except RemoteProtocolError as exc:
        raise _sentence(exc) from exc
    return event


def build_vouch_withdrawal(key: SecretKey, vouches: Sequence[Event], reason: str = "", *, created_at: int) -> Event:
    """Sign the NIP-09 deletion request that withdraws ``vouches`` (the key's own vouch labels on a channel).
    Raises UsageError when there are none or one is not the key's own vouch."""
    if not vouches:
        raise UsageError("There is no vouch to withdraw.")
    for vouch in vouches:
        if vouch.pubkey != key.public_key_hex:
            raise UsageError("Only the verifier who vouched can withdraw the vouch.")
        try:
            parse_vouch(vouch)
        except RemoteProtocolError as exc:
            raise UsageError(f"Event {vouch.id[:12]} is not a vouch: {exc}.") from exc
    tags = [["e", vouch.id] for vouch in vouches] + [["k", str(kinds.LABEL)]]
    return sign_event(key, kinds.DELETION, reason, tags, created_at=created_at)
