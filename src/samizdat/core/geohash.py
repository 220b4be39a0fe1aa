"""Geohashes: places as short strings whose prefixes are the enclosing areas.

Theory of operation: a geohash interleaves longitude and latitude bits (longitude first), halving the
remaining interval with each bit, and writes 5 bits per character in the alphabet ``0-9 b-z`` without
``a i l o``. Each character narrows the cell (5 characters ≈ 4.9 km x 4.9 km, 6 ≈ 1.2 km x 0.6 km,
9 ≈ 5 m), and every prefix is the cell containing it. Nostr relays match ``#g`` filters by exact value only,
so an event that wants to be found at several zoom levels carries one ``g`` tag per prefix length (NIP-52
style); :func:`prefixes` produces them.

Precision is privacy: a 9-character geohash of a safe flat points at one building. Builders take the geohash a
person gives and never add precision to it.
"""

from __future__ import annotations

from samizdat.errors import LocalProtocolError, UsageError

ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}

#: Longer geohashes are below a GPS fix's accuracy and only make tags longer.
MAX_LENGTH = 12
#: Shortest prefix emitted as a ``g`` tag: 3 characters ≈ 156 km x 156 km, a region.
MIN_TAG_LENGTH = 3


def is_geohash(text: object, *, max_length: int = MAX_LENGTH) -> bool:
    """True when ``text`` is a lowercase geohash of 1 to ``max_length`` characters."""
    return isinstance(text, str) and 1 <= len(text) <= max_length and all(c in _INDEX for c in text)


def encode(lat: float, lon: float, precision: int = 9) -> str:
    """The geohash of a point, ``precision`` characters long.

    Raises :class:`UsageError` for a latitude outside [-90, 90], a longitude outside [-180, 180] or NaN (a
    person's coordinates), and :class:`LocalProtocolError` for a precision outside 1..12 (ours).
    """
    if not 1 <= precision <= MAX_LENGTH:
        raise LocalProtocolError(f"geohash precision must be 1 to {MAX_LENGTH}")
    if not -90.0 <= lat <= 90.0:  # also rejects NaN
        raise UsageError("The latitude must be between -90 and 90.")
    if not -180.0 <= lon <= 180.0:
        raise UsageError("The longitude must be between -180 and 180.")
    lat_range, lon_range = [-90.0, 90.0], [-180.0, 180.0]
    chars: list[str] = []
    bit_count = value = 0
    even = True  # even bits are longitude
    while len(chars) < precision:
        interval, coordinate = (lon_range, lon) if even else (lat_range, lat)
        middle = (interval[0] + interval[1]) / 2
        if coordinate >= middle:
            value = value << 1 | 1
            interval[0] = middle
        else:
            value <<= 1
            interval[1] = middle
        even = not even
        bit_count += 1
        if bit_count == 5:
            chars.append(ALPHABET[value])
            bit_count = value = 0
    return "".join(chars)


def decode(geohash: str) -> tuple[float, float, float, float]:
    """The centre of a geohash's cell and its half-sizes: ``(lat, lon, lat_error, lon_error)``.

    Raises :class:`LocalProtocolError` when ``geohash`` is not a valid geohash: check text from people and
    peers with :func:`is_geohash` first, and report it as theirs.
    """
    if not is_geohash(geohash):
        raise LocalProtocolError(f"{geohash[:20]!r} is not a geohash")
    lat_range, lon_range = [-90.0, 90.0], [-180.0, 180.0]
    even = True
    for char in geohash:
        value = _INDEX[char]
        for shift in range(4, -1, -1):
            interval = lon_range if even else lat_range
            middle = (interval[0] + interval[1]) / 2
            if value >> shift & 1:
                interval[0] = middle
            else:
                interval[1] = middle
            even = not even
    return (
        (lat_range[0] + lat_range[1]) / 2,
        (lon_range[0] + lon_range[1]) / 2,
        (lat_range[1] - lat_range[0]) / 2,
        (lon_range[1] - lon_range[0]) / 2,
    )


def prefixes(geohash: str, *, min_length: int = MIN_TAG_LENGTH) -> tuple[str, ...]:
    """Every prefix of ``geohash`` from ``min_length`` characters up to the whole, shortest first.

    A geohash shorter than ``min_length`` is returned alone. Raises :class:`LocalProtocolError` for an invalid
    geohash (check it with :func:`is_geohash` first, as for :func:`decode`).
    """
    if not is_geohash(geohash):
        raise LocalProtocolError(f"{geohash[:20]!r} is not a geohash")
    start = min(min_length, len(geohash))
    return tuple(geohash[:n] for n in range(start, len(geohash) + 1))


def longest_consistent(values: list[str] | tuple[str, ...]) -> str | None:
    """The longest of several geohashes if every other one is a prefix of it, else None (they disagree)."""
    if not values:
        return None
    longest = max(values, key=len)
    if all(longest.startswith(v) for v in values):
        return longest
    return None


# -- area tags (docs/protocol.md, "Area tags") ------------------------------------------------------------------

#: The third element of a coarse area tag, ``["g", "u9ed", "area"]``. Relays match ``#g`` on the value alone, so
#: a reader's area filter finds the post; readers of the post's own location skip tags with this marker, so a
#: post's precise place is never taken from its channel's area.
AREA_MARKER = "area"
#: Lengths of the area tags a post carries: about 156 km and 39 km across, enough to find a city's channels
#: without naming one of them.
AREA_LENGTHS = (3, 4)


def area_cell(geohash: str) -> str | None:
    """The area a channel at ``geohash`` is synced by: its 4-character cell (its 3-character cell when the
    geohash is that short), or None when it is shorter than 3 characters or empty (then the channel is synced by
    channel). The value need not be valid: anything that is not a geohash has no area."""
    if not is_geohash(geohash) or len(geohash) < AREA_LENGTHS[0]:
        return None
    return geohash[: AREA_LENGTHS[-1]]


def area_tags(geohash: str) -> list[list[str]]:
    """The coarse ``g`` tags a post of a channel at ``geohash`` carries: one per :data:`AREA_LENGTHS` the geohash
    is long enough for, each marked :data:`AREA_MARKER`; none without an area (see :func:`area_cell`)."""
    if area_cell(geohash) is None:
        return []
    cells = dict.fromkeys(geohash[:n] for n in AREA_LENGTHS)
    return [["g", cell, AREA_MARKER] for cell in cells]


def is_area_tag(tag: tuple[str, ...] | list[str]) -> bool:
    """Whether ``tag`` is a coarse area tag (``["g", cell, "area"]``) rather than a place the author gave."""
    return len(tag) >= 3 and tag[0] == "g" and tag[2] == AREA_MARKER
