"""Helpers for the store tests: a fake clock, an author who signs events, and a short way to write filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey

NOW = 1_700_000_000


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Author:
    """A key that signs events, with ``created_at`` defaulting to one second before the clock's start."""

    def __init__(self) -> None:
        self.key = SecretKey.generate()
        self.pubkey = self.key.public_key_hex

    def sign(
        self, kind: int = 1, content: str = "", tags: Sequence[Sequence[str]] = (), *, created_at: int = NOW - 1
    ) -> Event:
        return sign_event(self.key, kind, content, tags, created_at=created_at)


def F(**fields: Any) -> Filter:  # noqa: N802 - reads like the JSON filter it stands for
    """A Filter from JSON-like keywords: lists become frozensets, ``tags={"e": [...]}`` becomes ``#e``."""
    tags = fields.pop("tags", {})
    for name in ("ids", "authors", "kinds"):
        if name in fields:
            fields[name] = frozenset(fields[name])
    return Filter(tags=tuple(sorted((k, frozenset(v)) for k, v in tags.items())), **fields)
