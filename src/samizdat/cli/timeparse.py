"""Times and durations as people type them: ``2h``, ``30m``, ``1d``, ``2026-11-22T18:00``, or Unix seconds."""

from __future__ import annotations

import re
from datetime import datetime

from samizdat.errors import UsageError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise UsageError(f"{text!r} is not a duration such as 30m, 2h or 1d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_when(text: str, now: int, *, relative: bool = False) -> int:
    """A point in time: a duration from ``now`` (``2h``; with ``relative`` or a leading ``+``), Unix seconds,
    or an ISO 8601 date-time (local time unless it has an offset)."""
    value = text.strip()
    if value.startswith("+") or (relative and _DURATION.match(value.lower())):
        return now + parse_duration(value.lstrip("+"))
    if value.isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value).timestamp())
    except ValueError as exc:
        raise UsageError(f"{text!r} is not a time such as 2026-11-22T18:00, a Unix time, or +2h") from exc


def parse_since(text: str, now: int) -> int:
    """A lower time bound: a duration means that long ago (``2d``: the last two days), else as :func:`parse_when`."""
    value = text.strip().lower()
    if _DURATION.match(value):
        return now - parse_duration(value)
    return parse_when(text, now)
