"""Paged queries (the relay's REQ path): the same events as ``query``, a bounded page at a time, and a read that
nobody waits for any more stops."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from store_helpers import NOW, Author, F

from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.store import sqlite as sqlite_module
from samizdat.store.base import Store
from samizdat.store.dbapi import sqlite3
from samizdat.store.postgres import PostgresStore
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock, wait_until


@pytest.fixture
async def db(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    """The stores whose pages are read from a database: SQLite and PostgreSQL."""
    store: SqliteStore | PostgresStore
    if request.param == "postgres":
        store = await PostgresStore.open(request.getfixturevalue("postgres_url"), clock=clock)
    else:
        store = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock)
    try:
        yield store
    finally:
        await store.close()


async def paged(store: Store, filters: Sequence[Filter], **sizes: int) -> list[list[Event]]:
    return [page async for page in store.query_pages(filters, **sizes)]


def flat(pages: list[list[Event]]) -> list[str]:
    return [event.id for page in pages for event in page]


async def test_pages_hold_the_events_of_query_in_its_order(store: Store) -> None:
    authors = [Author() for _ in range(3)]
    rng = random.Random(7)
    events = [
        a.sign(kind, f"post {i} topic{i % 4}", [["t", f"topic{i % 4}"]], created_at=NOW - rng.randrange(40))
        for i in range(240)
        for a, kind in [(authors[i % 3], (1, 7)[i % 2])]
    ]
    await store.add_many(events)
    cases = [
        [F(limit=1000)],
        [F(kinds=[1], limit=50), F(authors=[authors[0].pubkey], limit=30)],  # overlapping filters
        [F(tags={"t": ["topic1", "topic2"]}, limit=70), F(kinds=[7], since=NOW - 20, limit=500)],
        [F(ids=[e.id for e in events[::7]], limit=1000), F(until=NOW - 30, limit=25)],
        [F(authors=[a.pubkey for a in authors], kinds=[1, 7], limit=5000)],
    ]
    for filters in cases:
        expected = [e.id for e in await store.query(filters)]
        for sizes in ({"page_events": 7}, {"page_events": 500, "page_bytes": 3000}, {}):
            pages = await paged(store, filters, **sizes)
            assert flat(pages) == expected, (filters, sizes)
            assert all(len(page) <= sizes.get("page_events", 500) for page in pages)


async def test_many_events_of_one_second_page_without_loss_or_repeat(any_db: Store, alice: Author) -> None:
    # Keyset paging must not lose or repeat events that share a created_at across a page boundary.
    same_second = [alice.sign(1, f"flood {i}", created_at=NOW - 5) for i in range(300)]
    await any_db.add_many(same_second)
    filters = [F(kinds=[1], limit=5000), F(authors=[alice.pubkey], limit=120)]
    pages = await paged(any_db, filters, page_events=16)
    ids = flat(pages)
    assert ids == sorted(e.id for e in same_second)
    assert max(len(page) for page in pages) == 16


async def test_a_page_stops_at_its_byte_budget(any_db: Store, alice: Author) -> None:
    await any_db.add_many([alice.sign(1, "x" * 2000, created_at=NOW - i) for i in range(100)])
    pages = await paged(any_db, [F(limit=5000)], page_bytes=10_000)
    assert len(flat(pages)) == 100
    # A page ends with the event that reaches the budget: never more than one event over it.
    assert all(sum(len(e.to_json()) for e in page) < 10_000 + 2500 for page in pages)
    assert len(pages) >= 100 * 2000 // 12_500


async def test_search_filters_page_most_recently_stored_first(any_db: Store, alice: Author) -> None:
    stored = [alice.sign(1, f"water is off in block {i}", created_at=NOW - 100 + (i * 37) % 50) for i in range(60)]
    for event in stored:  # one at a time: insertion order is the list's order
        await any_db.add(event)
    await any_db.add(alice.sign(1, "power is back", created_at=NOW - 3))
    pages = await paged(any_db, [F(search="water", limit=45)], page_events=10)
    assert flat(pages) == [e.id for e in reversed(stored)][:45]
    # A REQ mixing search with other filters: the others first (newest first), then the search matches.
    mixed = await paged(any_db, [F(search="power", limit=10), F(kinds=[1], until=NOW - 60, limit=3)])
    ids = flat(mixed)
    assert ids[:3] == [e.id for e in await any_db.query([F(kinds=[1], until=NOW - 60, limit=3)])]
    assert len(ids) == 4


async def test_a_cancelled_read_stops_inside_sqlite(db: SqliteStore, alice: Author) -> None:
    await db.add(alice.sign(1, "one"))
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    outcome: list[str] = []

    def endless(conn: sqlite3.Connection) -> None:
        loop.call_soon_threadsafe(started.set)
        try:
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
            ).fetchone()
        except sqlite3.OperationalError as exc:
            outcome.append(str(exc))

    task = asyncio.ensure_future(db._read(endless))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: outcome, what="the endless read to be interrupted")
    assert outcome == ["interrupted"]
    # The reader connection went back to the pool in working order.
    assert [e.content for e in await db.query([F()])] == ["one"]


async def test_a_negentropy_stream_closed_early_interrupts_its_read(
    db: SqliteStore, alice: Author, monkeypatch: pytest.MonkeyPatch
) -> None:
    await db.add_many([alice.sign(1, f"e{i}", created_at=NOW - i) for i in range(50)])
    monkeypatch.setattr(sqlite_module, "NEGENTROPY_CHUNK", 10)
    stream = db.negentropy_items([])
    first = await anext(stream)
    assert first[0] == NOW - 49
    started = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - started < 5
    assert len([item async for item in db.negentropy_items([])]) == 50


async def test_before_read_wraps_each_read_and_not_the_end(store: Store, alice: Author) -> None:
    await store.add_many([alice.sign(1, f"e{i}", created_at=NOW - i) for i in range(30)])
    entered: list[int] = []

    @contextlib.asynccontextmanager
    async def before_read() -> AsyncIterator[None]:
        entered.append(len(entered))
        yield

    pages = [page async for page in store.query_pages([F(limit=30)], page_events=10, before_read=before_read)]
    assert [len(page) for page in pages] == [10, 10, 10]
    assert len(entered) == 3  # the limit was reached: no read (and no wait for one) after the last page
