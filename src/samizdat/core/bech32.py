"""Bech32 (BIP-173, not bech32m) as NIP-19 uses it.

Theory of operation: a bech32 string is ``<hrp>1<data><checksum>``. The data part is 5-bit groups written with
a 32-letter alphabet; the last six groups are a BCH checksum over the lowercase hrp and the data, which
catches every error of up to four mistyped characters. :func:`encode` takes 8-bit bytes and regroups them into
5 bits; :func:`decode` checks the whole string and regroups back, refusing non-zero or over-long padding so
that every payload has exactly one spelling.

BIP-173 caps a string at 90 characters. NIP-19's TLV entities (``nprofile``, ``nevent``, ``naddr``) need more,
and NIP-19 says a string SHOULD stay under 5000 characters, so the cap here is a parameter with that default.

Errors: :func:`decode` raises :class:`~samizdat.errors.UsageError` (the text was pasted by a person) unless
the caller names another class in ``error`` (e.g. :class:`~samizdat.errors.RemoteProtocolError` for text that
came from the network). Messages never repeat the input: a mistyped ``nsec`` must not end up in a log or a
screenshot.
"""

from __future__ import annotations

from samizdat.errors import RemoteProtocolError, UsageError

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

#: NIP-19: "Bech32-formatted strings SHOULD be limited in size to 5000 characters."
MAX_LENGTH = 5000
CHECKSUM_LENGTH = 6

ErrorClass = type[UsageError] | type[RemoteProtocolError]


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _checksum(hrp: str, data: list[int]) -> list[int]:
    polymod = _polymod(_hrp_expand(hrp) + data + [0] * CHECKSUM_LENGTH) ^ 1
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(CHECKSUM_LENGTH)]


def _to_5bit(data: bytes) -> list[int]:
    acc = bits = 0
    out = []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def _to_8bit(groups: list[int]) -> bytes | None:
    """Regroup 5-bit groups into bytes; None when the padding is not the canonical 0-4 zero bits."""
    acc = bits = 0
    out = bytearray()
    for group in groups:
        acc = (acc << 5) | group
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc << (8 - bits)) & 0xFF:
        return None
    return bytes(out)


def _check_hrp(hrp: str) -> bool:
    return 1 <= len(hrp) <= 83 and all(33 <= ord(c) <= 126 for c in hrp)


def encode(hrp: str, data: bytes, *, max_length: int = MAX_LENGTH) -> str:
    """Encode ``data`` (any bytes) under the human-readable part ``hrp`` (lowercase).

    Raises :class:`UsageError` when ``hrp`` is not 1-83 printable lowercase ASCII characters or the result
    would be longer than ``max_length``.
    """
    if not _check_hrp(hrp) or hrp != hrp.lower():
        raise UsageError("a bech32 prefix is 1 to 83 printable lowercase ASCII characters")
    groups = _to_5bit(data)
    text = hrp + "1" + "".join(CHARSET[g] for g in groups + _checksum(hrp, groups))
    if len(text) > max_length:
        raise UsageError(f"this {hrp} would be {len(text)} characters long, more than the {max_length} allowed")
    return text


def decode(text: str, *, max_length: int = MAX_LENGTH, error: ErrorClass = UsageError) -> tuple[str, bytes]:
    """Check a bech32 string and return its lowercase human-readable part and its data as bytes.

    Raises ``error`` (default :class:`UsageError`) with one sentence saying what is wrong: too long, mixed
    case, a character that bech32 never uses, a missing separator, a wrong checksum, or bad padding.
    """
    if not isinstance(text, str):
        raise error("a bech32 code must be text")
    if len(text) > max_length:
        raise error(f"this code is {len(text)} characters long, more than the {max_length} allowed")
    if text.lower() != text and text.upper() != text:
        raise error("this code mixes upper and lower case letters, which bech32 does not allow")
    lowered = text.lower()
    separator = lowered.rfind("1")
    if separator < 1:
        raise error("this is not a bech32 code: it has no prefix followed by the separator '1'")
    hrp, rest = lowered[:separator], lowered[separator + 1 :]
    if not _check_hrp(hrp):
        raise error("this code's prefix has characters that bech32 does not allow")
    if len(rest) < CHECKSUM_LENGTH:
        raise error(f"this {hrp} code is too short to be complete; part of it is missing")
    groups = []
    for char in rest:
        index = _CHARSET_INDEX.get(char)
        if index is None:
            shown = repr(char) if char.isprintable() and char.isascii() else f"U+{ord(char):04X}"
            raise error(f"this {hrp} code contains {shown}, a character bech32 never uses (b, i, o and 1 are not used)")
        groups.append(index)
    if _polymod(_hrp_expand(hrp) + groups) != 1:
        raise error(f"this {hrp} code has a wrong checksum: a character was mistyped, lost or added")
    data = _to_8bit(groups[:-CHECKSUM_LENGTH])
    if data is None:
        raise error(f"this {hrp} code has a valid checksum but malformed padding, so it was not made correctly")
    return hrp, data
