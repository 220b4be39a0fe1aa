"""A NIP-77 list from the SQLite store ends at the relay's ``build_seconds`` (relay/negentropy.py sets
READ_SECONDS for the build): before, only PostgreSQL's did, and a NEG-OPEN over a whole large store held the
relay's one build turn and a reader thread for as long as the listing took."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from samizdat.store.base import READ_SECONDS
from samizdat.store.sqlite import SqliteStore

ROWS = 300_000


async def _store(path: Path) -> SqliteStore:
    store = await SqliteStore.open(path)  # made and migrated, then filled by hand
    await store.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO events (id, pubkey, created_at, kind, raw) VALUES (?, ?, ?, 1, X'7B7D')",
            ((hashlib.sha256(b"%d" % i).digest(), bytes(32), 1_700_000_000 + i) for i in range(ROWS)),
        )
    conn.close()
    return await SqliteStore.open(path)


async def test_a_listing_of_the_whole_store_ends_at_its_time_limit(tmp_path: Path) -> None:
    store = await _store(tmp_path / "events.sqlite")
    try:
        count = 0
        async for _ in store.negentropy_items([]):  # no limit set: every event
            count += 1
        assert count == ROWS
        READ_SECONDS.set(0.01)
        try:
            with pytest.raises(TimeoutError):
                async for _ in store.negentropy_items([]):
                    pass
        finally:
            READ_SECONDS.set(None)
        assert [item async for item in store.negentropy_items([])][-1][0] == 1_700_000_000 + ROWS - 1  # still serves
    finally:
        await store.close()
