"""Fixtures for the store tests: a fake clock, signed-event helpers, and each Store implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from store_helpers import NOW, Author

from samizdat.store.base import Store
from samizdat.store.memory import MemoryStore
from samizdat.store.postgres import PostgresStore
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """The fake clock at ``NOW``, where the authors' events are one second old."""
    return FakeClock(NOW)


@pytest.fixture
def alice() -> Author:
    return Author()


@pytest.fixture
def bob() -> Author:
    return Author()


@pytest.fixture(params=["memory", "sqlite", "sqlite-encrypted", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    """Every Store implementation, on the fake clock; the SQLite store also encrypted (AEGIS-256: another SQLite
    library underneath, store/aegis.py)."""
    if request.param == "memory":
        memory = MemoryStore(clock=clock)
        yield memory
        await memory.close()
        return
    if request.param == "postgres":
        postgres = await PostgresStore.open(request.getfixturevalue("postgres_url"), clock=clock)
        try:
            yield postgres
        finally:
            await postgres.close()
        return
    key = bytes(range(32)) if request.param == "sqlite-encrypted" else None
    sqlite = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock, key=key)
    try:
        yield sqlite
    finally:
        await sqlite.close()
