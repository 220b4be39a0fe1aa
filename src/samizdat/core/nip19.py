"""NIP-19 bech32 entities: ``npub``, ``nsec``, ``note``, ``nprofile``, ``nevent``, ``naddr``.

Theory of operation: keys and ids are 32 bytes behind a prefix that says what they are, so a secret key cannot
be pasted where a public key belongs. The shareable entities carry a TLV list (type byte, length byte, value):

====  =========  ===========================================================================
type  name       value
====  =========  ===========================================================================
0     special    ``nprofile``: 32-byte pubkey; ``nevent``: 32-byte id; ``naddr``: the ``d`` tag (UTF-8)
1     relay      a relay URL in ASCII; may repeat
2     author     32-byte pubkey (required for ``naddr``, optional for ``nevent``)
3     kind       32-bit big-endian unsigned kind (required for ``naddr``, optional for ``nevent``)
====  =========  ===========================================================================

Decoding is strict about what it understands and lenient about what it does not, as NIP-19 asks: unknown TLV
types are skipped, but a truncated TLV, a value of the wrong length, a repeated single-valued type, a missing
required type, a relay that is not ASCII, or a public key that is not on the curve are all refused.

Every decoder accepts surrounding whitespace and a ``nostr:`` prefix (NIP-21), because people paste links.
Errors are :class:`~samizdat.errors.UsageError` by default, or the class given as ``error`` (use
:class:`~samizdat.errors.RemoteProtocolError` for text from the network). Encoders raise :class:`UsageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import coincurve

from samizdat.core import bech32
from samizdat.core.bech32 import ErrorClass
from samizdat.core.event import MAX_KIND
from samizdat.errors import UsageError

TLV_SPECIAL = 0
TLV_RELAY = 1
TLV_AUTHOR = 2
TLV_KIND = 3

#: Relay hints beyond this many are dropped when encoding, so a shared code stays short enough for a QR code.
MAX_RELAYS = 16

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class ProfilePointer:
    """An ``nprofile``: a public key and relays where its events are likely found."""

    pubkey: str
    relays: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventPointer:
    """An ``nevent``: an event id, relays, and optionally its author and kind."""

    id: str
    relays: tuple[str, ...] = ()
    author: str | None = None
    kind: int | None = None


@dataclass(frozen=True, slots=True)
class AddressPointer:
    """An ``naddr``: the coordinate of an addressable (or replaceable) event, and relays."""

    kind: int
    pubkey: str
    identifier: str
    relays: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """The ``<kind>:<pubkey>:<d>`` form used in ``a`` tags."""
        return f"{self.kind}:{self.pubkey}:{self.identifier}"


Entity = str | ProfilePointer | EventPointer | AddressPointer


# -- helpers -------------------------------------------------------------------------------------------------


def _is_hex32(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


def _on_curve(raw: bytes) -> bool:
    try:
        coincurve.PublicKeyXOnly(raw)
    except (ValueError, TypeError):
        return False
    return True


def _pubkey_bytes(pubkey: str, what: str) -> bytes:
    if not _is_hex32(pubkey):
        raise UsageError(f"{what} must be 64 lowercase hex characters")
    raw = bytes.fromhex(pubkey)
    if not _on_curve(raw):
        raise UsageError(f"{what} is not a valid public key")
    return raw


def _id_bytes(value: str, what: str) -> bytes:
    if not _is_hex32(value):
        raise UsageError(f"{what} must be 64 lowercase hex characters")
    return bytes.fromhex(value)


def _a(hrp: str) -> str:
    """The prefix with its article as it is read aloud: "an npub", "a note"."""
    return f"an {hrp}" if hrp[:1] in "aeiounx" and hrp != "note" else f"a {hrp}"


def _strip(text: str) -> str:
    text = text.strip()
    if text[:6].lower() == "nostr:":
        text = text[6:]
    return text


def _decode(text: str, expected: str, error: ErrorClass) -> bytes:
    if not isinstance(text, str):
        raise error(f"{_a(expected)} must be text")
    hrp, data = bech32.decode(_strip(text), error=error)
    if hrp != expected:
        if hrp == "nsec" and expected != "nsec":
            raise error(f"this is a secret key (nsec), not {_a(expected)}; never share an nsec")
        raise error(f"this is {_a(hrp)} code, but {_a(expected)} was expected")
    return data


def _tlv(entries: Sequence[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for kind, value in entries:
        if len(value) > 255:
            raise UsageError("a relay URL or identifier in a shared code can be at most 255 bytes")
        out += bytes((kind, len(value))) + value
    return bytes(out)


def _parse_tlv(data: bytes, hrp: str, error: ErrorClass) -> dict[int, list[bytes]]:
    items: dict[int, list[bytes]] = {}
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise error(f"this {hrp} is cut short: its last entry has no length")
        kind, length = data[pos], data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise error(f"this {hrp} is cut short: an entry is shorter than it says")
        items.setdefault(kind, []).append(value)
        pos += 2 + length
    for kind in (TLV_SPECIAL, TLV_AUTHOR, TLV_KIND):
        if len(items.get(kind, ())) > 1:
            raise error(f"this {hrp} is malformed: it repeats an entry that may appear only once")
    return items


def _relays(items: dict[int, list[bytes]], hrp: str, error: ErrorClass) -> tuple[str, ...]:
    relays = []
    for raw in items.get(TLV_RELAY, ()):
        try:
            relay = raw.decode("ascii")
        except UnicodeDecodeError:
            raise error(f"this {hrp} is malformed: a relay address is not ASCII") from None
        if not relay.isprintable() or not relay:
            raise error(f"this {hrp} is malformed: a relay address has invisible characters")
        relays.append(relay)
    return tuple(relays)


def _author(raw: bytes, hrp: str, error: ErrorClass) -> str:
    if len(raw) != 32:
        raise error(f"this {hrp} is malformed: its author key is {len(raw)} bytes instead of 32")
    if not _on_curve(raw):
        raise error(f"this {hrp} is malformed: its author is not a valid public key")
    return raw.hex()


def _kind(raw: bytes, hrp: str, error: ErrorClass) -> int:
    if len(raw) != 4:
        raise error(f"this {hrp} is malformed: its kind is {len(raw)} bytes instead of 4")
    kind = int.from_bytes(raw, "big")
    if kind > MAX_KIND:
        raise error(f"this {hrp} is malformed: kind {kind} is out of range")
    return kind


def _relay_entries(relays: Sequence[str]) -> list[tuple[int, bytes]]:
    entries = []
    for relay in list(relays)[:MAX_RELAYS]:
        if not relay.isascii() or not relay.isprintable() or not relay:
            raise UsageError("a relay address in a shared code must be printable ASCII")
        entries.append((TLV_RELAY, relay.encode("ascii")))
    return entries


# -- bare keys and ids ---------------------------------------------------------------------------------------


def npub_encode(pubkey: str) -> str:
    """``npub`` of a hex public key; raises :class:`UsageError` if it is not a valid public key."""
    return bech32.encode("npub", _pubkey_bytes(pubkey, "a public key"))


def npub_decode(text: str, *, error: ErrorClass = UsageError) -> str:
    """The hex public key of an ``npub``."""
    data = _decode(text, "npub", error)
    if len(data) != 32:
        raise error(f"this npub holds {len(data)} bytes instead of 32, so part of it is missing or extra")
    if not _on_curve(data):
        raise error("this npub is not a valid public key")
    return data.hex()


def nsec_encode(secret: str) -> str:
    """``nsec`` of a hex secret key (64 hex characters)."""
    return bech32.encode("nsec", _id_bytes(secret, "a secret key"))


def nsec_decode(text: str, *, error: ErrorClass = UsageError) -> str:
    """The hex secret key of an ``nsec``. Range checks happen in :class:`~samizdat.core.keys.SecretKey`."""
    data = _decode(text, "nsec", error)
    if len(data) != 32:
        raise error(f"this nsec holds {len(data)} bytes instead of 32, so part of it is missing or extra")
    return data.hex()


def note_encode(event_id: str) -> str:
    """``note`` of a hex event id."""
    return bech32.encode("note", _id_bytes(event_id, "an event id"))


def note_decode(text: str, *, error: ErrorClass = UsageError) -> str:
    """The hex event id of a ``note``."""
    data = _decode(text, "note", error)
    if len(data) != 32:
        raise error(f"this note holds {len(data)} bytes instead of 32, so part of it is missing or extra")
    return data.hex()


# -- shareable identifiers -----------------------------------------------------------------------------------


def nprofile_encode(pubkey: str, relays: Sequence[str] = ()) -> str:
    entries = [(TLV_SPECIAL, _pubkey_bytes(pubkey, "a public key")), *_relay_entries(relays)]
    return bech32.encode("nprofile", _tlv(entries))


def nprofile_decode(text: str, *, error: ErrorClass = UsageError) -> ProfilePointer:
    items = _parse_tlv(_decode(text, "nprofile", error), "nprofile", error)
    if TLV_SPECIAL not in items:
        raise error("this nprofile is malformed: it has no public key")
    return ProfilePointer(_author(items[TLV_SPECIAL][0], "nprofile", error), _relays(items, "nprofile", error))


def nevent_encode(
    event_id: str, relays: Sequence[str] = (), *, author: str | None = None, kind: int | None = None
) -> str:
    entries = [(TLV_SPECIAL, _id_bytes(event_id, "an event id")), *_relay_entries(relays)]
    if author is not None:
        entries.append((TLV_AUTHOR, _pubkey_bytes(author, "the author")))
    if kind is not None:
        if not 0 <= kind <= MAX_KIND:
            raise UsageError(f"kind must be between 0 and {MAX_KIND}")
        entries.append((TLV_KIND, kind.to_bytes(4, "big")))
    return bech32.encode("nevent", _tlv(entries))


def nevent_decode(text: str, *, error: ErrorClass = UsageError) -> EventPointer:
    items = _parse_tlv(_decode(text, "nevent", error), "nevent", error)
    if TLV_SPECIAL not in items:
        raise error("this nevent is malformed: it has no event id")
    special = items[TLV_SPECIAL][0]
    if len(special) != 32:
        raise error(f"this nevent is malformed: its event id is {len(special)} bytes instead of 32")
    author = _author(items[TLV_AUTHOR][0], "nevent", error) if TLV_AUTHOR in items else None
    kind = _kind(items[TLV_KIND][0], "nevent", error) if TLV_KIND in items else None
    return EventPointer(special.hex(), _relays(items, "nevent", error), author, kind)


def naddr_encode(kind: int, pubkey: str, identifier: str, relays: Sequence[str] = ()) -> str:
    if not 0 <= kind <= MAX_KIND:
        raise UsageError(f"kind must be between 0 and {MAX_KIND}")
    entries = [
        (TLV_SPECIAL, identifier.encode("utf-8")),
        *_relay_entries(relays),
        (TLV_AUTHOR, _pubkey_bytes(pubkey, "the author")),
        (TLV_KIND, kind.to_bytes(4, "big")),
    ]
    return bech32.encode("naddr", _tlv(entries))


def naddr_decode(text: str, *, error: ErrorClass = UsageError) -> AddressPointer:
    items = _parse_tlv(_decode(text, "naddr", error), "naddr", error)
    for tlv, what in ((TLV_SPECIAL, "identifier"), (TLV_AUTHOR, "author"), (TLV_KIND, "kind")):
        if tlv not in items:
            raise error(f"this naddr is malformed: it has no {what}")
    try:
        identifier = items[TLV_SPECIAL][0].decode("utf-8")
    except UnicodeDecodeError:
        raise error("this naddr is malformed: its identifier is not UTF-8 text") from None
    return AddressPointer(
        _kind(items[TLV_KIND][0], "naddr", error),
        _author(items[TLV_AUTHOR][0], "naddr", error),
        identifier,
        _relays(items, "naddr", error),
    )


_DECODERS: dict[str, Callable[..., Entity]] = {
    "npub": npub_decode,
    "nsec": nsec_decode,
    "note": note_decode,
    "nprofile": nprofile_decode,
    "nevent": nevent_decode,
    "naddr": naddr_decode,
}


def decode(text: str, *, error: ErrorClass = UsageError) -> tuple[str, Entity]:
    """Decode any supported entity: ``(prefix, value)``; hex for npub, nsec and note, else a pointer."""
    if not isinstance(text, str):
        raise error("a bech32 code must be text")
    hrp, _ = bech32.decode(_strip(text), error=error)
    decoder = _DECODERS.get(hrp)
    if decoder is None:
        raise error(f"{hrp} codes are not supported (expected npub, note, nprofile, nevent or naddr)")
    return hrp, decoder(text, error=error)


def parse_pubkey(text: str, *, error: ErrorClass = UsageError) -> str:
    """A public key given as 64 hex characters, an ``npub`` or an ``nprofile``; returns hex.

    NIP-19 asks clients to accept both hex and ``npub`` wherever a person types a key.
    """
    if not isinstance(text, str):
        raise error("a public key must be text")
    stripped = _strip(text)
    if _is_hex32(stripped.lower()):
        if not _on_curve(bytes.fromhex(stripped)):
            raise error("this hex string is not a valid public key")
        return stripped.lower()
    if stripped.lower().startswith("nprofile1"):
        return nprofile_decode(stripped, error=error).pubkey
    if stripped.lower().startswith("npub1"):
        return npub_decode(stripped, error=error)
    if stripped.lower().startswith("nsec1"):
        raise error("this is a secret key (nsec), not a public key; never share an nsec")
    raise error("a public key is an npub or 64 hex characters")
