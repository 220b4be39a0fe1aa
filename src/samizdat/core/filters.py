"""NIP-01 filters: parsing with limits, and matching an event.

A filter matches when every condition it states holds: ``ids``, ``authors`` and ``kinds`` are sets the field must
be in, ``#x`` tags need at least one tag ``x`` whose value is in the set, ``since <= created_at <= until`` (both
inclusive). ``limit`` only applies to the initial query and caps how many of the newest events are returned.
``search`` (NIP-50) is kept for the store's full-text index and is not checked by :meth:`Filter.matches`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from samizdat.core.event import MAX_CREATED_AT, Event
from samizdat.errors import RemoteProtocolError

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class FilterLimits:
    """Caps on what one filter may ask for (constructor arguments, advertised in NIP-11)."""

    max_values: int = 1000  # per ids/authors/kinds/#x list
    max_limit: int = 5000  # ``limit`` is clamped to this
    default_limit: int = 500  # used when a filter has no ``limit``
    max_search_length: int = 256


@dataclass(frozen=True, slots=True)
class Filter:
    ids: frozenset[str] | None = None
    authors: frozenset[str] | None = None
    kinds: frozenset[int] | None = None
    tags: tuple[tuple[str, frozenset[str]], ...] = ()
    since: int | None = None
    until: int | None = None
    limit: int | None = None
    search: str | None = None

    def matches(self, event: Event) -> bool:
        if self.ids is not None and event.id not in self.ids:
            return False
        if self.authors is not None and event.pubkey not in self.authors:
            return False
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if self.since is not None and event.created_at < self.since:
            return False
        if self.until is not None and event.created_at > self.until:
            return False
        for name, values in self.tags:
            if not any(len(t) >= 2 and t[0] == name and t[1] in values for t in event.tags):
                return False
        return True

    @property
    def is_empty_set(self) -> bool:
        """True when the filter can match nothing (an empty list, or since > until)."""
        if any(s is not None and not s for s in (self.ids, self.authors, self.kinds)):
            return True
        if any(not values for _, values in self.tags):
            return True
        return self.since is not None and self.until is not None and self.since > self.until

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.ids is not None:
            out["ids"] = sorted(self.ids)
        if self.authors is not None:
            out["authors"] = sorted(self.authors)
        if self.kinds is not None:
            out["kinds"] = sorted(self.kinds)
        for name, values in self.tags:
            out[f"#{name}"] = sorted(values)
        for key in ("since", "until", "limit", "search"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _hex_list(raw: object, name: str, limits: FilterLimits) -> frozenset[str]:
    values = _list(raw, name, limits)
    for value in values:
        if not isinstance(value, str) or len(value) != 64 or not _HEX.issuperset(value):
            raise RemoteProtocolError(f"{name} must be 64-character lowercase hex strings")
    return frozenset(v for v in values if isinstance(v, str))


def _list(raw: object, name: str, limits: FilterLimits) -> list[object]:
    if not isinstance(raw, list):
        raise RemoteProtocolError(f"{name} must be an array")
    if len(raw) > limits.max_values:
        raise RemoteProtocolError(f"{name} has too many values ({len(raw)} > {limits.max_values})")
    return raw


def _timestamp(raw: object, name: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= MAX_CREATED_AT:
        raise RemoteProtocolError(f"{name} must be a non-negative integer timestamp")
    return raw


def parse_filter(raw: object, limits: FilterLimits = FilterLimits()) -> Filter:
    """Check a decoded JSON filter and return a :class:`Filter`; raise RemoteProtocolError on bad input.

    Unknown keys are ignored, as NIP-01 expects of relays. ``limit`` is clamped to ``limits.max_limit``.
    """
    if not isinstance(raw, Mapping):
        raise RemoteProtocolError("filter must be a JSON object")
    ids = _hex_list(raw["ids"], "ids", limits) if "ids" in raw else None
    authors = _hex_list(raw["authors"], "authors", limits) if "authors" in raw else None
    kinds = None
    if "kinds" in raw:
        kind_list = _list(raw["kinds"], "kinds", limits)
        if not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= 65535 for k in kind_list):
            raise RemoteProtocolError("kinds must be integers between 0 and 65535")
        kinds = frozenset(k for k in kind_list if isinstance(k, int))
    tags = []
    for key, value in raw.items():
        if isinstance(key, str) and len(key) == 2 and key[0] == "#" and key[1].isascii() and key[1].isalpha():
            values = _list(value, key, limits)
            if not all(isinstance(v, str) for v in values):
                raise RemoteProtocolError(f"{key} must be an array of strings")
            tags.append((key[1], frozenset(v for v in values if isinstance(v, str))))
    since = _timestamp(raw["since"], "since") if "since" in raw and raw["since"] is not None else None
    until = _timestamp(raw["until"], "until") if "until" in raw and raw["until"] is not None else None
    limit = None
    if "limit" in raw and raw["limit"] is not None:
        raw_limit = raw["limit"]
        if not isinstance(raw_limit, int) or isinstance(raw_limit, bool) or raw_limit < 0:
            raise RemoteProtocolError("limit must be a non-negative integer")
        limit = min(raw_limit, limits.max_limit)
    search = None
    if "search" in raw and raw["search"] is not None:
        if not isinstance(raw["search"], str):
            raise RemoteProtocolError("search must be a string")
        search = raw["search"][: limits.max_search_length]
    return Filter(ids, authors, kinds, tuple(sorted(tags)), since, until, limit, search)


def matches_any(filters: tuple[Filter, ...] | list[Filter], event: Event) -> bool:
    return any(f.matches(event) for f in filters)
