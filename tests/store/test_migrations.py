"""Stores made by an older Samizdat open with every event, and the newer schema answers the same (migration 0003:
fewer pages written per event)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from store_helpers import NOW, Author, F

from samizdat.core.event import Event
from samizdat.core.kinds import DELETION
from samizdat.store import dbapi, queries, sqlite
from samizdat.store.memory import MemoryStore
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

KEY = bytes(range(32))


def old_store(path: Path, key: bytes | None, version: int, events: list[Event]) -> None:
    """A store file as Samizdat made it at schema ``version``, holding ``events``."""
    conn = dbapi.connect(str(path), key, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        for number, script in sqlite.migrations():
            if number <= version:
                conn.executescript(f"BEGIN;\n{script}\n;PRAGMA user_version = {number};\nCOMMIT;")
        conn.execute("BEGIN IMMEDIATE")
        if version < 4:  # the add path of that schema had no floors of dropped slots (0004): none stands in
            conn.execute("CREATE TABLE slot_floors (pubkey, kind, d_tag, created_at, id)")
        queries.add_events(conn, events, NOW)
        if version < 4:
            conn.execute("DROP TABLE slot_floors")
        conn.execute("COMMIT")
    finally:
        conn.close()


def mixed_events(authors: list[Author], count: int) -> list[Event]:
    rng = random.Random(3)
    events: list[Event] = []
    for i in range(count):
        author = authors[i % len(authors)]
        kind = rng.choice([1, 1, 7, 0, 30023, DELETION])
        tags = [["t", rng.choice(["minsk", "brest"])]]
        if kind == 30023:
            tags.append(["d", rng.choice(["a", "b"])])
        if kind == DELETION and events:
            tags.append(["e", rng.choice(events).id])
        if rng.random() < 0.1:
            tags.append(["expiration", str(NOW + rng.choice([-5, 3600]))])
        events.append(author.sign(kind, f"post {i} about the bridge", tags, created_at=NOW - 500 + i // 3))
    return events


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "encrypted"])
async def test_a_store_of_schema_2_opens_with_every_event(tmp_path: Path, key: bytes | None) -> None:
    authors = [Author() for _ in range(3)]
    events = mixed_events(authors, 300)
    path = tmp_path / "events.sqlite"
    old_store(path, key, 2, events)
    clock = FakeClock(NOW)
    memory = MemoryStore(clock=clock)
    await memory.add_many(events)
    async with await SqliteStore.open(path, key=key, clock=clock) as store:
        conn = dbapi.connect(str(path), key)
        try:
            assert sqlite.schema_version(conn) == sqlite.migrations()[-1][0]
            indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        finally:
            conn.close()
        assert "events_pubkey" not in indexes
        everything = F(limit=10_000)
        assert [e.id for e in await store.query([everything])] == [e.id for e in await memory.query([everything])]
        assert await store.count([F()]) == await memory.count([F()]) > 100
        assert [i async for i in store.negentropy_items([])] == [i async for i in memory.negentropy_items([])]
        for author in authors:  # an author's events newest first, now read from the (pubkey, kind) index
            mine = F(authors=[author.pubkey], limit=40)
            assert [e.id for e in await store.query([mine])] == [e.id for e in await memory.query([mine])]
        found = await store.query([F(search="bridge", limit=5)])
        assert len(found) == 5
        # The slots, tags and deletions of the old file still hold: a replaced event stays replaced.
        profile = authors[0].sign(0, "new name", created_at=NOW - 1)
        assert (await store.add(profile)).value == (await memory.add(profile)).value == "stored"
        assert [e.id for e in await store.query([F(kinds=[0], authors=[authors[0].pubkey])])] == [profile.id]


async def test_an_authors_events_are_merged_from_one_arm_per_kind(tmp_path: Path) -> None:
    alice = Author()
    async with await SqliteStore.open(tmp_path / "events.sqlite") as store:
        await store.add_many([alice.sign(kind, created_at=NOW - i) for i, kind in enumerate([1, 7, 1, 30023, 7])])
        conn = dbapi.connect(str(store.path), None)
        try:
            mine = queries.prepare(F(authors=[alice.pubkey], limit=50))
            assert mine is not None
            prepared = queries.author_kinds(conn, mine)
            assert prepared is not None
            assert prepared.kinds == (1, 7, 30023)
            sql, params = queries.query_sql(prepared, NOW, 50)
            plan = "\n".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            nobody = queries.prepare(F(authors=[Author().pubkey]))
            assert nobody is not None
            assert queries.author_kinds(conn, nobody) is None
            # The start of every sync (negentropy_cursor without filters) reads the index alone, not the JSON.
            items = "\n".join(
                row[3]
                for row in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT e.created_at, e.id FROM events e WHERE {queries._NOT_EXPIRED}"
                    " ORDER BY e.created_at",
                    (NOW,),
                )
            )
        finally:
            conn.close()
        assert "events_pubkey_kind" in plan
        assert "TEMP B-TREE" not in plan
        assert "COVERING INDEX events_created" in items


async def test_an_author_of_more_kinds_than_arms_is_still_answered_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "MAX_ARMS", 2)
    alice = Author()
    events = [alice.sign(kind, created_at=NOW - i) for i, kind in enumerate([1, 7, 6, 1, 7, 6, 1])]
    async with await SqliteStore.open(tmp_path / "events.sqlite") as store:
        await store.add_many(events)
        found = await store.query([F(authors=[alice.pubkey], limit=5)])
        assert [e.id for e in found] == [e.id for e in events[:5]]
        pages = [page async for page in store.query_pages([F(authors=[alice.pubkey], limit=5)], page_events=2)]
        assert [e.id for page in pages for e in page] == [e.id for e in events[:5]]
