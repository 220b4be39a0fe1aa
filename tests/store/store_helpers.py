"""Helpers for the store tests: an author who signs events, and a short way to write filters (the fake clock is
``samizdat.testing.FakeClock``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.store.dbapi import sqlite3
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import wait_until

NOW = 1_700_000_000


class Author:
    """A key that signs events, with ``created_at`` defaulting to one second before the clock's start."""

    def __init__(self) -> None:
        self.key = SecretKey.generate()
        self.pubkey = self.key.public_key_hex

    def sign(
        self, kind: int = 1, content: str = "", tags: Sequence[Sequence[str]] = (), *, created_at: int = NOW - 1
    ) -> Event:
        return sign_event(self.key, kind, content, tags, created_at=created_at)


def F(**fields: Any) -> Filter:  # reads like the JSON filter it stands for
    """A Filter from JSON-like keywords: lists become frozensets, ``tags={"e": [...]}`` becomes ``#e``."""
    tags = fields.pop("tags", {})
    for name in ("ids", "authors", "kinds"):
        if name in fields:
            fields[name] = frozenset(fields[name])
    return Filter(tags=tuple(sorted((k, frozenset(v)) for k, v in tags.items())), **fields)


@contextlib.asynccontextmanager
async def writer_held(store: SqliteStore) -> AsyncIterator[asyncio.Future[None]]:
    """The store's writer thread busy with a job of ours until the block ends (as a long transaction keeps it);
    yields that job's future."""
    started, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(30)

    job = asyncio.ensure_future(store._writer.call(hold))
    try:
        await wait_until(started.is_set, what="the writer to take the job")
        yield job
    finally:
        release.set()
        await job
