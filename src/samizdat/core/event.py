"""Nostr events exactly as NIP-01 defines them.

An :class:`Event` can only exist in a valid shape: :func:`parse_event` checks every field's type and range,
recomputes the id from the canonical serialisation and verifies the BIP-340 signature, and returns an ``Event`` or
raises one :class:`~samizdat.errors.RemoteProtocolError` whose message says what was wrong (prefix ``invalid``).
Events we create ourselves come from :func:`sign_event`.

Canonical serialisation is ``[0,pubkey,created_at,kind,tags,content]`` as compact UTF-8 JSON. NIP-01 asks that
``\\n \\" \\\\ \\r \\t \\b \\f`` are escaped and every other character is written verbatim; the other control
characters cannot be verbatim in JSON, so they are ``\\u00XX``, as every major implementation (and orjson) writes
them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import orjson

from samizdat.core.keys import SecretKey, verify_signature
from samizdat.errors import RemoteProtocolError

# Bounds that no legitimate event comes near; the relay applies tighter, configurable limits on top.
MAX_TAGS = 5000
MAX_TAG_VALUES = 100
MAX_CREATED_AT = 2**40  # about year 36812; also keeps SQLite's INTEGER and JS numbers exact
MAX_KIND = 65535

_FIELDS = ("id", "pubkey", "created_at", "kind", "tags", "content", "sig")
# Every EVENT a relay takes passes these: a compiled pattern checks 64 characters in half the time a set does.
_HEX64 = re.compile("[0-9a-f]{64}").fullmatch
_HEX128 = re.compile("[0-9a-f]{128}").fullmatch

Tags = tuple[tuple[str, ...], ...]


def is_hex64(value: object) -> TypeGuard[str]:
    """Whether ``value`` is 64 lowercase hex characters (an event id or a public key)."""
    return isinstance(value, str) and _HEX64(value) is not None


def canonical(pubkey: str, created_at: int, kind: int, tags: Tags, content: str) -> bytes:
    """The bytes whose SHA-256 is an event's id (NIP-01)."""
    return orjson.dumps([0, pubkey, created_at, kind, tags, content])


def compute_id(pubkey: str, created_at: int, kind: int, tags: Tags, content: str) -> str:
    return hashlib.sha256(canonical(pubkey, created_at, kind, tags, content)).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """A signed Nostr event. Build with :func:`parse_event` or :func:`sign_event`, not directly."""

    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: Tags
    content: str
    sig: str
    _json: bytes = field(default=b"", init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pubkey": self.pubkey,
            "created_at": self.created_at,
            "kind": self.kind,
            "tags": [list(t) for t in self.tags],
            "content": self.content,
            "sig": self.sig,
        }

    def to_json(self) -> bytes:
        """The event as compact JSON, computed once and cached (fan-out sends the same bytes to everyone)."""
        if not self._json:
            # As to_dict(), but orjson writes the tag tuples as arrays itself: no lists made for them.
            fields = {"id": self.id, "pubkey": self.pubkey, "created_at": self.created_at, "kind": self.kind,
                      "tags": self.tags, "content": self.content, "sig": self.sig}  # fmt: skip
            # Copied to a bytes object of its own size: orjson 3.13 returns its output in an oversized buffer (about
            # 8 KB for a 1 KB event), and the copy is cached for as long as the event lives.
            object.__setattr__(self, "_json", bytes(memoryview(orjson.dumps(fields))))
        return self._json

    def tag_values(self, name: str) -> list[str]:
        """Every first value of the tags called ``name``, in order."""
        return [t[1] for t in self.tags if len(t) >= 2 and t[0] == name]

    def first_tag(self, name: str) -> tuple[str, ...] | None:
        for t in self.tags:
            if t and t[0] == name:
                return t
        return None

    @property
    def d_tag(self) -> str:
        """The ``d`` identifier of an addressable event ("" when absent, as NIP-01 says)."""
        values = self.tag_values("d")
        return values[0] if values else ""

    @property
    def expiration(self) -> int | None:
        """The NIP-40 expiration timestamp, or None when the event does not expire (or the tag is malformed)."""
        for value in self.tag_values("expiration"):
            if value.isascii() and value.isdigit() and len(value) <= 12:
                return int(value)
        return None

    def is_expired(self, now: int) -> bool:
        expiration = self.expiration
        return expiration is not None and expiration <= now


def _check_tags(raw: object) -> Tags:
    if not isinstance(raw, list):
        raise RemoteProtocolError("tags must be an array of arrays of strings")
    if len(raw) > MAX_TAGS:
        raise RemoteProtocolError(f"too many tags ({len(raw)} > {MAX_TAGS})")
    tags = []
    for tag in raw:  # plain loops: a generator per tag cost as much as the rest of the event's checks
        if not isinstance(tag, list):
            raise RemoteProtocolError("tags must be an array of arrays of strings")
        for value in tag:
            if not isinstance(value, str):
                raise RemoteProtocolError("tags must be an array of arrays of strings")
        if len(tag) > MAX_TAG_VALUES:
            raise RemoteProtocolError(f"a tag has too many values ({len(tag)} > {MAX_TAG_VALUES})")
        tags.append(tuple(tag))
    return tuple(tags)


def _check_int(raw: object, name: str, low: int, high: int) -> int:
    # bool is an int in Python but not a number in JSON.
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise RemoteProtocolError(f"{name} must be an integer")
    if not low <= raw <= high:
        raise RemoteProtocolError(f"{name} out of range ({raw})")
    return raw


def parse_event(raw: object, *, verify: bool = True) -> Event:
    """Check a decoded JSON object and return the :class:`Event` it is.

    Raises :class:`RemoteProtocolError` (prefix ``invalid``) naming the first problem found: a missing or
    mistyped field, an id that is not the hash of the content, or a signature that does not verify. ``verify``
    may be False only for events read back from our own store, which were verified on the way in.
    """
    if type(raw) is not dict and not isinstance(raw, Mapping):  # a dict (from JSON) skips the ABC's check
        raise RemoteProtocolError("event must be a JSON object")
    for name in _FIELDS:
        if name not in raw:
            raise RemoteProtocolError(f"event has no {name!r} field")
    event_id, pubkey, sig, content = raw["id"], raw["pubkey"], raw["sig"], raw["content"]
    if not is_hex64(event_id):
        raise RemoteProtocolError("id must be 64 lowercase hex characters")
    if not is_hex64(pubkey):
        raise RemoteProtocolError("pubkey must be 64 lowercase hex characters")
    if not (isinstance(sig, str) and _HEX128(sig) is not None):
        raise RemoteProtocolError("sig must be 128 lowercase hex characters")
    if not isinstance(content, str):
        raise RemoteProtocolError("content must be a string")
    created_at = _check_int(raw["created_at"], "created_at", 0, MAX_CREATED_AT)
    kind = _check_int(raw["kind"], "kind", 0, MAX_KIND)
    tags = _check_tags(raw["tags"])
    if verify:
        digest = hashlib.sha256(canonical(pubkey, created_at, kind, tags, content)).digest()
        if digest.hex() != event_id:
            raise RemoteProtocolError("event id does not match its content")
        if not verify_signature(pubkey, sig, digest):
            raise RemoteProtocolError("signature is wrong")
    return Event(event_id, pubkey, created_at, kind, tags, content, sig)


def parse_stored_json(data: bytes) -> Event:
    """An event read back from our own store: its fields are checked but its id and signature, verified when it
    was stored, are not; ``data`` is kept as the event's JSON so serving it again needs no serialisation."""
    event = parse_event_json(data, verify=False)
    object.__setattr__(event, "_json", bytes(data))
    return event


def parse_event_json(data: bytes | str, *, verify: bool = True) -> Event:
    """Parse an event from JSON text; malformed JSON is a :class:`RemoteProtocolError` too."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RemoteProtocolError(f"malformed JSON: {exc}") from exc
    return parse_event(raw, verify=verify)


def sign_event(
    key: SecretKey,
    kind: int,
    content: str,
    tags: Sequence[Sequence[str]] = (),
    *,
    created_at: int,
) -> Event:
    """Create and sign a new event with ``key``. ``created_at`` is explicit: time is injected, never read here."""
    frozen_tags = tuple(tuple(t) for t in tags)
    pubkey = key.public_key_hex
    digest = hashlib.sha256(canonical(pubkey, created_at, kind, frozen_tags, content)).digest()
    sig = key.sign(digest)
    return Event(digest.hex(), pubkey, created_at, kind, frozen_tags, content, sig.hex())
