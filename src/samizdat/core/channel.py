"""Channel definitions (kind 30333), who may post, and what a reader should see.

Theory of operation. A channel is an addressable event signed by its owner; its address ``30333:<owner>:<d>``
is what people share (as an ``naddr``). The owner republishes the definition to change anything; the newest
version wins (:func:`channel_supersedes`). The definition lists admin keys with a role and, once removed,
revoked keys with a ``since`` time. Authority is then a pure function of the current definition
(:meth:`Channel.role_of`):

========  ==========================================================================================
owner     the key in the address; may do everything, and is the only one who can change the definition
admin     may post, and correct or retract their own posts and those of editors and former admins (never
          the owner's nor another admin's: a turned admin must not rewrite the posts of those who outrank them)
editor    may post, and correct or retract only their own posts
former    a revoked key, for events with ``created_at < since``: counts as an editor, so a removed key
          can never retract or rewrite other people's posts; also the owner key of a seized channel, for
          events dated before the seizure (:mod:`samizdat.core.recovery`)
========  ==========================================================================================

``created_at`` is self-declared, so a revoked key can always backdate an event to before ``since``. Revocation
therefore cannot erase history; it stops new posts, and the owner chooses ``since`` (earlier than the removal
when the key was compromised earlier). Readers must check posts against the newest definition they can find
(:func:`samizdat.core.thread.post_verdict` applies it to each post).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

import coincurve

from samizdat.core import geohash as gh
from samizdat.core import kinds, nip19
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import check_line, check_text, split_address
from samizdat.errors import RemoteProtocolError, UsageError

OWNER, ADMIN, EDITOR, FORMER = "owner", "admin", "editor", "former"
ADMIN_ROLES = (ADMIN, EDITOR)  #: roles that may appear in a definition's ``p`` tags

MAX_ADMINS = 100
MAX_REVOKED = 1000  # revocations accumulate over a channel's life
MAX_MIRRORS = 20
MAX_MEDIA = 10
MAX_LANGUAGES = 5
MAX_NAME = 100
MAX_ABOUT = 2000
MAX_PLACE_DEPTH = 8
MAX_PLACE_NAMES = 64  #: place-name tags counted; later ones are ignored
NAADDR_RELAYS = 3  #: mirrors put in a shared naddr: more makes the QR code denser for little gain

LANGUAGE_NAMESPACE = "ISO-639-1"
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_LANGUAGE = re.compile(r"[a-z]{2}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,12}")  # not \d: int() accepts digits of other scripts


@dataclass(frozen=True, slots=True)
class RecoveryDispute:
    """A recovery key other than the one a reader honours for a channel, named by vouches of verifiers the reader
    trusts (``verifiers``, sorted), and where that key's earliest claim says the channel goes on ("" for no
    claim)."""

    key: str
    verifiers: tuple[str, ...]
    successor: str = ""


@dataclass(frozen=True, slots=True)
class Channel:
    """A parsed channel definition. Build with :func:`parse_channel`; change with :func:`rebuild_channel`."""

    owner: str
    channel_id: str
    name: str
    about: str
    languages: tuple[str, ...]
    place: str  # "BY/Minsk/Frunzenski" or ""
    geohash: str  # the most precise geohash, or ""
    admins: Mapping[str, str]  # pubkey -> ADMIN | EDITOR
    revoked: Mapping[str, int]  # pubkey -> since
    mirrors: tuple[str, ...]
    created_at: int
    event: Event = field(repr=False)
    media: tuple[str, ...] = ()  # Blossom media servers (https://...) that the channel's photos are on
    place_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # level path -> lang -> name
    recovery: str = ""  # the recovery key named by the ``recovery`` tag, or ""
    #: Set by :func:`samizdat.core.recovery.judge` when the recovery key says the owner key was seized: the owner
    #: key's events dated at or after this time do not count, and the channel goes on at ``successor``.
    seized_since: int | None = None
    successor: str = ""
    #: Set by :func:`samizdat.core.recovery.judge`: the recovery key whose claims the reader honours ("" for none),
    #: and the other recovery keys the reader's trusted verifiers' vouches name (:class:`RecoveryDispute`), which
    #: faces show before anything else: the key honoured is never switched by a vouch, silently or not.
    recovery_honoured: str = ""
    recovery_disputes: tuple[RecoveryDispute, ...] = ()

    @property
    def address(self) -> str:
        return f"{kinds.CHANNEL}:{self.owner}:{self.channel_id}"

    @property
    def geohashes(self) -> tuple[str, ...]:
        return gh.prefixes(self.geohash) if self.geohash else ()

    def naddr(self, relays: Sequence[str] | None = None) -> str:
        """The shareable ``naddr``; relay hints default to the first few mirrors written in printable ASCII (a
        hostile definition's mirror with a zero-width space made every ``channel list`` fail: red team round 9)."""
        mirrors = [m for m in self.mirrors if m.isascii() and m.isprintable()]
        hints = mirrors[:NAADDR_RELAYS] if relays is None else list(relays)
        return nip19.naddr_encode(kinds.CHANNEL, self.owner, self.channel_id, hints)

    def role_of(self, pubkey: str, created_at: int) -> str | None:
        """The role ``pubkey`` has for an event dated ``created_at``: owner, admin, editor, former or None."""
        if pubkey == self.owner:
            if self.seized_since is None:
                return OWNER
            return FORMER if created_at < self.seized_since else None
        if pubkey in self.admins:
            return self.admins[pubkey]
        since = self.revoked.get(pubkey)
        if since is not None and created_at < since:
            return FORMER
        return None

    def may_amend(self, pubkey: str, created_at: int, original_author: str) -> bool:
        """True when ``pubkey`` may correct or retract a post by ``original_author`` with an event at
        ``created_at``: the owner amends any post; an admin their own and those of editors and former admins,
        never the owner's nor another admin's (one admin's seized key must not rewrite or withdraw the alerts of
        the people it cannot remove); editors and former admins only their own."""
        role = self.role_of(pubkey, created_at)
        if role is None:
            return False
        if role == OWNER or pubkey == original_author:
            return True
        return role == ADMIN and not self.outranks_admins(original_author)

    def outranks_admins(self, pubkey: str) -> bool:
        """True for the keys whose posts an admin may not amend: the owner (unless its key was seized) and the
        listed admins. Editors, former admins and a seized owner key's earlier posts are amendable by admins."""
        if pubkey == self.owner:
            return self.seized_since is None
        return self.admins.get(pubkey) == ADMIN


# -- parsing -------------------------------------------------------------------------------------------------


def _check_relay(url: str) -> str:
    check_line(url, "a mirror relay URL", max_length=256)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a malformed port
    except ValueError:
        raise RemoteProtocolError(f"mirror {url[:60]!r} is not a valid URL") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname or "@" in parts.netloc or " " in url:
        raise RemoteProtocolError(f"mirror {url[:60]!r} is not a ws:// or wss:// relay URL")
    return url


def _check_media(url: str) -> str:
    check_line(url, "a media server URL", max_length=256)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a malformed port
    except ValueError:
        raise RemoteProtocolError(f"media server {url[:60]!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc or " " in url:
        raise RemoteProtocolError(f"media server {url[:60]!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise RemoteProtocolError(f"media server {url[:60]!r} has a query or fragment")
    return url


def _check_pubkey(value: str, what: str) -> str:
    if not _HEX64.fullmatch(value):
        raise RemoteProtocolError(f"{what} is not 64 lowercase hex characters")
    try:
        coincurve.PublicKeyXOnly(bytes.fromhex(value))
    except (ValueError, TypeError):
        raise RemoteProtocolError(f"{what} is not a valid public key") from None
    return value


def _is_pubkey(value: str) -> bool:
    try:
        _check_pubkey(value, "a key")
    except RemoteProtocolError:
        return False
    return True


def _only(event: Event, name: str) -> str | None:
    found = [t for t in event.tags if t and t[0] == name]
    if len(found) > 1:
        raise RemoteProtocolError(f"the channel definition has more than one {name!r} tag")
    if found and len(found[0]) < 2:
        raise RemoteProtocolError(f"the channel definition's {name!r} tag has no value")
    return found[0][1] if found else None


def parse_channel(event: Event) -> Channel:
    """Check a channel definition and return it as a :class:`Channel`.

    The signature must already be verified (:func:`~samizdat.core.event.parse_event`). Raises
    :class:`RemoteProtocolError` naming the first problem: wrong kind, a missing or malformed ``d`` or name,
    bad languages, place or geohashes, an admin listed twice or also revoked, the owner listed as admin or
    revoked, too many admins, revocations or mirrors, or a mirror that is not a ws:// or wss:// URL. ``p``
    tags whose role is not admin or editor are not admins (a future role must not grant powers to old
    readers).
    """
    if event.kind != kinds.CHANNEL:
        raise RemoteProtocolError(f"a channel definition is kind {kinds.CHANNEL}, not {event.kind}")
    channel_id = _only(event, "d")
    if channel_id is None or not _SLUG.fullmatch(channel_id):
        raise RemoteProtocolError("the channel id ('d' tag) must be 1-64 of a-z, 0-9, '.', '_' and '-'")
    name = _only(event, "name")
    if name is None:
        raise RemoteProtocolError("the channel definition has no name")
    check_line(name, "the channel name", max_length=MAX_NAME)
    about = check_text(event.content, "the channel description", max_length=MAX_ABOUT)
    languages = tuple(
        dict.fromkeys(t[1] for t in event.tags if len(t) >= 3 and t[0] == "l" and t[2] == LANGUAGE_NAMESPACE)
    )
    if len(languages) > MAX_LANGUAGES or not all(_LANGUAGE.fullmatch(code) for code in languages):
        raise RemoteProtocolError(f"channel languages must be at most {MAX_LANGUAGES} two-letter ISO 639-1 codes")
    place = _only(event, "place") or ""
    if place:
        check_line(place, "the channel place")
        segments = place.split("/")
        if len(segments) > MAX_PLACE_DEPTH or not all(s and s == s.strip() for s in segments):
            raise RemoteProtocolError(f"the channel place must be 1-{MAX_PLACE_DEPTH} non-empty parts joined by '/'")
    g_values = [t[1] for t in event.tags if len(t) >= 2 and t[0] == "g" and not gh.is_area_tag(t)]
    if not all(gh.is_geohash(v) for v in g_values):
        raise RemoteProtocolError("a 'g' tag of the channel definition is not a geohash")
    geohash = gh.longest_consistent(g_values) if g_values else ""
    if geohash is None:
        raise RemoteProtocolError("the channel definition's 'g' tags point at different places")
    admins: dict[str, str] = {}
    for tag in event.tags:
        if len(tag) >= 4 and tag[0] == "p" and tag[3] in ADMIN_ROLES:
            pubkey = _check_pubkey(tag[1], "an admin key")
            if pubkey in admins or pubkey == event.pubkey:
                raise RemoteProtocolError("the channel definition lists an admin twice, or the owner as an admin")
            admins[pubkey] = tag[3]
    if len(admins) > MAX_ADMINS:
        raise RemoteProtocolError(f"a channel may have at most {MAX_ADMINS} admins")
    revoked: dict[str, int] = {}
    for tag in event.tags:
        if tag and tag[0] == "revoked":
            if len(tag) < 3 or not _DIGITS.fullmatch(tag[2]):
                raise RemoteProtocolError("a 'revoked' tag must be [\"revoked\", <pubkey>, <since unix time>]")
            pubkey = _check_pubkey(tag[1], "a revoked key")
            if pubkey in revoked or pubkey in admins or pubkey == event.pubkey:
                raise RemoteProtocolError("a revoked key is listed twice, or is also an admin or the owner")
            revoked[pubkey] = int(tag[2])
    if len(revoked) > MAX_REVOKED:
        raise RemoteProtocolError(f"a channel may list at most {MAX_REVOKED} revoked keys")
    mirrors = tuple(dict.fromkeys(_check_relay(url) for url in event.tag_values("r")))
    if len(mirrors) > MAX_MIRRORS:
        raise RemoteProtocolError(f"a channel may have at most {MAX_MIRRORS} mirror relays")
    media = tuple(dict.fromkeys(_check_media(url) for url in event.tag_values("media")))
    if len(media) > MAX_MEDIA:
        raise RemoteProtocolError(f"a channel may have at most {MAX_MEDIA} media servers")
    return Channel(event.pubkey, channel_id, name, about, languages, place, geohash, MappingProxyType(admins),
                   MappingProxyType(revoked), mirrors, event.created_at, event, media,
                   place_names(event, place), recovery_key(event))  # fmt: skip


def recovery_key(event: Event) -> str:
    """The key the first ``["recovery", <pubkey>]`` tag names, or "". Never fatal, like ``place-name``: readers
    older than the tag ignore it, and a definition must mean the same to them for posting (it grants no role).
    A value that is not 64 lowercase hex characters, or is the owner's own key, names none."""
    found = next((t for t in event.tags if len(t) >= 2 and t[0] == "recovery"), None)
    # 64 hex characters, as the browser checks (web/src/recovery.js): a value off the curve can sign no claim.
    if found is None or found[1] == event.pubkey or not _HEX64.fullmatch(found[1]):
        return ""
    return found[1]


def place_names(event: Event, place: str) -> Mapping[str, Mapping[str, str]]:
    """The channel's names for the levels of its place, from ``["place-name", <level path>, <lang>, <name>]``
    tags (docs/protocol.md): level path -> ISO 639-1 code -> name. A tag whose path is not the place or a
    leading part of it, whose language is not two letters or whose name is not one line of at most
    :data:`MAX_NAME` characters is ignored (never fatal: old readers ignore the tag too); the first name per
    level and language counts, and only the first :data:`MAX_PLACE_NAMES` fitting tags."""
    out: dict[str, dict[str, str]] = {}
    if not place:
        return MappingProxyType(out)
    counted = 0
    for tag in event.tags:
        if counted >= MAX_PLACE_NAMES:
            break
        if len(tag) < 4 or tag[0] != "place-name":
            continue
        path, code, name = tag[1], tag[2], tag[3]
        if not (path == place or place.startswith(path + "/")) or not _LANGUAGE.fullmatch(code):
            continue
        try:
            check_line(name, "a place name", max_length=MAX_NAME)
        except RemoteProtocolError:
            continue
        out.setdefault(path, {}).setdefault(code, name)
        counted += 1
    return MappingProxyType({k: MappingProxyType(v) for k, v in out.items()})


def channel_supersedes(new: Event, old: Event) -> bool:
    """True when definition ``new`` replaces ``old``: newer ``created_at``, or equal and lower id (NIP-01)."""
    return new.created_at > old.created_at or (new.created_at == old.created_at and new.id < old.id)


def newest_definitions(events: Iterable[Event]) -> dict[str, Event]:
    """The newest channel definition event per address, among ``events`` (other kinds are skipped)."""
    newest: dict[str, Event] = {}
    for event in events:
        if event.kind != kinds.CHANNEL:
            continue
        address = f"{kinds.CHANNEL}:{event.pubkey}:{event.d_tag}"
        if address not in newest or channel_supersedes(event, newest[address]):
            newest[address] = event
    return newest


def current_channel(events: Iterable[Event], address: str) -> Channel | None:
    """The current definition of the channel at ``address`` among ``events``; None when there is none.

    Only the newest version counts, even when it is malformed: falling back to an older version would hand
    power back to admins the owner has since removed. So a malformed newest version raises
    :class:`RemoteProtocolError`.
    """
    newest = newest_definitions(events).get(address)
    return None if newest is None else parse_channel(newest)


def parse_channel_address(text: str) -> nip19.AddressPointer:
    """A channel given as an ``naddr`` (with or without ``nostr:``) or as ``30333:<owner hex>:<id>``.

    Raises :class:`UsageError` when the text is neither, or names something that is not a Samizdat channel.
    """
    stripped = text.strip()
    split = split_address(stripped)
    if split is not None:
        pointer = nip19.AddressPointer(split[0], split[1], split[2])
    else:
        pointer = nip19.naddr_decode(stripped)
    if pointer.kind != kinds.CHANNEL:
        raise UsageError(f"This address is of kind {pointer.kind}, not a Samizdat channel ({kinds.CHANNEL}).")
    if not _SLUG.fullmatch(pointer.identifier):
        raise UsageError("This address's channel id is not a valid channel id.")
    return pointer


# -- building ------------------------------------------------------------------------------------------------


def build_channel_event(
    key: SecretKey,
    channel_id: str,
    name: str,
    *,
    created_at: int,
    about: str = "",
    languages: Sequence[str] = (),
    place: str = "",
    geohash: str = "",
    admins: Mapping[str, str] | None = None,
    revoked: Mapping[str, int] | None = None,
    mirrors: Sequence[str] = (),
    media: Sequence[str] = (),
    place_names: Mapping[str, Mapping[str, str]] | None = None,
    recovery: str = "",
) -> Event:
    """Sign a channel definition owned by ``key``. ``recovery`` is the hex public key that may later say the
    owner key was seized (:mod:`samizdat.core.recovery`), or "". ``place_names`` maps a level of ``place``
    (``BY/Minsk``) to its names by language (``{"be": "Мінск"}``). ``admins`` maps hex pubkeys to ``admin`` or
    ``editor``; ``revoked`` maps hex pubkeys to the ``since`` time from which their posts are invalid.

    Raises :class:`UsageError` with the first problem, exactly as :func:`parse_channel` would find it.
    """
    if geohash and not gh.is_geohash(geohash):
        raise UsageError(f"{geohash[:20]!r} is not a geohash (1 to 12 of 0-9 and b-z without a, i, l, o).")
    for role in (admins or {}).values():
        if role not in ADMIN_ROLES:
            raise UsageError(f"An admin's role is admin or editor, not {role[:20]!r}.")
    tags: list[list[str]] = [["d", channel_id], ["name", name]]
    if languages:
        tags.append(["L", LANGUAGE_NAMESPACE])
        tags += [["l", code, LANGUAGE_NAMESPACE] for code in languages]
    if place:
        tags.append(["place", place])
    for level, names in (place_names or {}).items():
        if not (level == place or place.startswith(level + "/")):
            raise UsageError(f"A place name is for {level[:60]!r}, which is not the place or a part of it.")
        for code, text in names.items():
            if not _LANGUAGE.fullmatch(code):
                raise UsageError(f"A place name's language is a two-letter ISO 639-1 code, not {code[:20]!r}.")
            try:
                check_line(text, "a place name", max_length=MAX_NAME)
            except RemoteProtocolError as exc:
                raise UsageError(str(exc)[:1].upper() + str(exc)[1:] + ".") from exc
            tags.append(["place-name", level, code, text])
    tags += [["g", prefix] for prefix in (gh.prefixes(geohash) if geohash else ())]
    tags += [["p", pubkey, "", role] for pubkey, role in (admins or {}).items()]
    tags += [["revoked", pubkey, str(since)] for pubkey, since in (revoked or {}).items()]
    tags += [["r", url] for url in mirrors]
    tags += [["media", url] for url in media]
    if recovery:
        tags.append(["recovery", recovery])
    tags.append(["alt", f"Samizdat channel: {name}"])
    event = sign_event(key, kinds.CHANNEL, about, tags, created_at=created_at)
    try:
        parse_channel(event)
    except RemoteProtocolError as exc:
        raise UsageError(str(exc)[:1].upper() + str(exc)[1:] + ".") from exc
    if recovery and (recovery_key(event) != recovery or not _is_pubkey(recovery)):
        raise UsageError("The recovery key must be a valid public key other than the owner's.")
    return event


def rebuild_channel(
    key: SecretKey,
    channel: Channel,
    *,
    created_at: int,
    name: str | None = None,
    about: str | None = None,
    languages: Sequence[str] | None = None,
    place: str | None = None,
    geohash: str | None = None,
    admins: Mapping[str, str] | None = None,
    revoked: Mapping[str, int] | None = None,
    mirrors: Sequence[str] | None = None,
    media: Sequence[str] | None = None,
    place_names: Mapping[str, Mapping[str, str]] | None = None,
    recovery: str | None = None,
) -> Event:
    """A new version of ``channel`` with the given fields replaced (None keeps the current value).

    ``created_at`` is raised to one second after the current version if needed, so the new version always
    supersedes it. Raises :class:`UsageError` when ``key`` is not the owner or the result is invalid.
    """
    if key.public_key_hex != channel.owner:
        raise UsageError("Only the channel's owner can change its definition.")
    return build_channel_event(
        key,
        channel.channel_id,
        channel.name if name is None else name,
        created_at=max(created_at, channel.created_at + 1),
        about=channel.about if about is None else about,
        languages=channel.languages if languages is None else languages,
        place=channel.place if place is None else place,
        geohash=channel.geohash if geohash is None else geohash,
        admins=channel.admins if admins is None else admins,
        revoked=channel.revoked if revoked is None else revoked,
        mirrors=channel.mirrors if mirrors is None else mirrors,
        media=channel.media if media is None else media,
        place_names=_kept_names(channel, place) if place_names is None else place_names,
        recovery=channel.recovery if recovery is None else recovery,
    )


def _kept_names(channel: Channel, place: str | None) -> Mapping[str, Mapping[str, str]]:
    """The channel's place names that still name a level of its (possibly new) place."""
    new = channel.place if place is None else place
    return {k: v for k, v in channel.place_names.items() if k == new or new.startswith(k + "/")}


def add_admin(key: SecretKey, channel: Channel, pubkey: str, role: str = ADMIN, *, created_at: int) -> Event:
    """A new definition with ``pubkey`` as admin or editor (taking it off the revoked list if it was there:
    its old posts then count again). Raises :class:`UsageError` for the owner's own key or a bad role."""
    if pubkey == channel.owner:
        raise UsageError("The owner is always an admin and cannot be listed as one.")
    admins = {**channel.admins, pubkey: role}
    revoked = {k: v for k, v in channel.revoked.items() if k != pubkey}
    return rebuild_channel(key, channel, created_at=created_at, admins=admins, revoked=revoked)


def remove_admin(key: SecretKey, channel: Channel, pubkey: str, *, created_at: int, since: int | None = None) -> Event:
    """A new definition that revokes ``pubkey``: its events dated ``since`` or later stop counting.

    ``since`` defaults to the new version's ``created_at``; give an earlier time when the key may have been
    compromised earlier. Also moves an already revoked key's ``since`` (e.g. earlier). Raises
    :class:`UsageError` when the key is not an admin or revoked, or ``since`` is after ``created_at``.
    """
    if pubkey not in channel.admins and pubkey not in channel.revoked:
        raise UsageError("This key is not an admin of the channel.")
    since = created_at if since is None else since
    if since > created_at:
        raise UsageError("A revocation cannot start in the future.")
    admins = {k: v for k, v in channel.admins.items() if k != pubkey}
    return rebuild_channel(
        key, channel, created_at=created_at, admins=admins, revoked={**channel.revoked, pubkey: since}
    )
