"""What only the SQLite store promises: a durable file, migrations, WAL, one writer, indexes, clear errors."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from store_helpers import NOW, Author, F, writer_held

from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.kinds import DELETION
from samizdat.errors import StoreError
from samizdat.store import queries, sqlite
from samizdat.store.base import AddOutcome
from samizdat.store.dbapi import sqlite3
from samizdat.store.memory import MemoryStore
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock, wait_until


@pytest.fixture
async def db(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock)
    try:
        yield store
    finally:
        await store.close()


def raw_connection(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def plan(path: Path, f: Filter, limit: int = 50) -> str:
    prepared = queries.prepare(f)
    assert prepared is not None
    sql, params = queries.query_sql(prepared, NOW, limit)
    conn = raw_connection(path)
    try:
        return "\n".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    finally:
        conn.close()


# --- the file ----------------------------------------------------------------------------------------------------


async def test_events_survive_reopening(tmp_path: Path, alice: Author) -> None:
    path = tmp_path / "events.sqlite"
    events = [alice.sign(content=str(i), created_at=NOW - i) for i in range(20)]
    async with await SqliteStore.open(path) as store:
        await store.add_many(events)
    async with await SqliteStore.open(path) as store:
        assert [e.id for e in await store.query([F()])] == [e.id for e in events]
        assert await store.add(events[0]) is AddOutcome.DUPLICATE


async def test_schema_is_migrated_and_wal_is_on(db: SqliteStore) -> None:
    conn = raw_connection(db.path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite.migrations()[-1][0]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"events", "tags", "deleted_ids", "deleted_addrs", "events_fts"} <= tables
    finally:
        conn.close()


async def test_migrations_are_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    await (await SqliteStore.open(path)).close()
    await (await SqliteStore.open(path)).close()  # would fail with "table events already exists"
    conn = raw_connection(path)
    assert sqlite.migrate(conn) == sqlite.migrations()[-1][0]
    conn.close()


async def test_a_store_from_a_newer_samizdat_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    conn = raw_connection(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StoreError, match=r"newer version of Samizdat"):
        await SqliteStore.open(path)


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and message[0].isupper() and "Traceback" not in message


async def test_a_file_that_is_not_a_database_is_one_clear_sentence(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    path.write_bytes(b"this is a shopping list, not a database\n" * 200)
    with pytest.raises(StoreError) as caught:
        await SqliteStore.open(path)
    message = str(caught.value)
    assert message == f"Cannot open the store at {path}: the file is not a database or is damaged."
    assert one_sentence(message)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


async def test_a_missing_folder_is_one_clear_sentence(tmp_path: Path) -> None:
    path = tmp_path / "no such folder" / "events.sqlite"
    with pytest.raises(StoreError) as caught:
        await SqliteStore.open(path)
    assert "cannot be opened" in str(caught.value)
    assert one_sentence(str(caught.value))


def make_read_only(folder: Path, read_only: bool) -> None:
    for path in folder.iterdir():
        path.chmod(0o444 if read_only else 0o644)
    folder.chmod(0o555 if read_only else 0o755)


async def open_and_close(path: Path) -> None:
    await (await SqliteStore.open(path)).close()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to read-only files")
async def test_a_read_only_file_is_one_clear_sentence(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    await open_and_close(path)
    make_read_only(tmp_path, True)
    try:
        with pytest.raises(StoreError) as caught:
            await open_and_close(path)
        assert "read-only" in str(caught.value)
        assert one_sentence(str(caught.value))
    finally:
        make_read_only(tmp_path, False)


async def test_sqlite_errors_are_described_for_people(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    await open_and_close(path)
    conn = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.Error) as caught:
            conn.execute("DELETE FROM events")
    finally:
        conn.close()
    assert sqlite.describe(caught.value) == "the database file or its folder is read-only"


async def test_a_store_locked_for_a_moment_is_waited_for(tmp_path: Path, alice: Author) -> None:
    path = tmp_path / "events.sqlite"
    async with await SqliteStore.open(path) as store:
        conn = raw_connection(path)
        conn.execute("BEGIN EXCLUSIVE")  # as another process holding the write lock would
        add = asyncio.ensure_future(store.add(alice.sign()))
        await asyncio.sleep(0.1)
        assert not add.done()
        conn.execute("ROLLBACK")
        conn.close()
        assert await add is AddOutcome.STORED  # it waited (busy_timeout) instead of failing


# --- the writer ------------------------------------------------------------------------------------------------


async def on_writer(db: SqliteStore, sql: str) -> None:
    """Run ``sql`` on the writer's connection and on its fast path's (store/fastadd.py), if it has one."""

    def both(conn: sqlite3.Connection) -> None:
        conn.execute(sql)
        if db._writer.fast is not None:
            db._writer.fast.execute(sql)

    await db._writer.call(both)


async def test_a_full_disk_fails_the_batch_but_not_the_writer(db: SqliteStore, alice: Author) -> None:
    await db.add(alice.sign(content="before"))
    pages = await db._writer.call(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
    await on_writer(db, f"PRAGMA max_page_count = {pages}")
    big = [alice.sign(content="x" * 20_000 + str(i)) for i in range(5)]
    with pytest.raises(StoreError) as caught:
        await db.add_many(big)
    assert str(caught.value) == f"Cannot write to the store at {db.path}: the disk is full."
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    await on_writer(db, "PRAGMA max_page_count = 1073741823")
    assert await db.add_many(big) == [AddOutcome.STORED] * 5
    assert await db.count([F()]) == 6


async def test_a_failing_job_fails_only_its_own_future(db: SqliteStore, alice: Author) -> None:
    # A trigger on the writer's connection refuses one event; it arrives in the same batch as good ones.
    await on_writer(
        db,
        "CREATE TEMP TRIGGER poison BEFORE INSERT ON events WHEN instr(CAST(NEW.raw AS TEXT), 'poison') > 0 "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END",
    )
    good = [alice.sign(content=f"good {i}", created_at=NOW - i) for i in range(20)]
    bad = alice.sign(content="poison")
    async with writer_held(db):  # the batch queues up behind it
        batches = db._writer.batches
        adds = asyncio.gather(*(db.add(e) for e in [*good[:10], bad, *good[10:]]), return_exceptions=True)
        await wait_until(lambda: db._writer._queue.qsize() == 21, what="all 21 adds to be queued")
    results = await adds
    assert isinstance(results[10], StoreError)
    assert "refused by test" in str(results[10])
    assert results[:10] + results[11:] == [AddOutcome.STORED] * 20
    assert db._writer.batches - batches == 20  # one failed batch, then each job alone
    assert await db.count([F()]) == 20
    assert await db.add(alice.sign(content="after")) is AddOutcome.STORED


async def test_concurrent_adds_are_batched_and_all_durable(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    authors = [Author() for _ in range(10)]
    events = [authors[i % 10].sign(content=f"n{i}", created_at=NOW - i) for i in range(200)]
    async with await SqliteStore.open(path) as store:
        outcomes = await asyncio.gather(*(store.add(e) for e in events))
        assert outcomes == [AddOutcome.STORED] * 200
        assert store._writer.batches < 200  # adds shared commits
    async with await SqliteStore.open(path) as store:
        assert await store.has([e.id for e in events]) == {e.id for e in events}


async def test_close_finishes_pending_adds(tmp_path: Path, alice: Author) -> None:
    path = tmp_path / "events.sqlite"
    events = [alice.sign(content=str(i)) for i in range(50)]
    store = await SqliteStore.open(path)
    pending = [asyncio.ensure_future(store.add(e)) for e in events]
    await asyncio.sleep(0)  # every add is queued
    await store.close()
    assert [p.result() for p in pending] == [AddOutcome.STORED] * 50
    async with await SqliteStore.open(path) as again:
        assert await again.count([F()]) == 50


KILLED_WRITER = r"""
import asyncio, sys
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.store.sqlite import SqliteStore

async def main() -> None:
    store = await SqliteStore.open(sys.argv[1])
    key = SecretKey.generate()
    n = 0
    while True:
        events = [sign_event(key, 1, f"event {n + i}", created_at=1_700_000_000 + n + i) for i in range(25)]
        n += 25
        for outcome, event in zip(await asyncio.gather(*(store.add(e) for e in events)), events):
            assert outcome.value == "stored"
            sys.stdout.write(event.id + "\n")
        sys.stdout.flush()

asyncio.run(main())
"""


async def test_kill_9_right_after_add_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_WRITER, str(path), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < 500:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
            assert line, "the writer process died"
            acknowledged.append(line.decode().strip())
    finally:
        proc.kill()  # SIGKILL: no cleanup, no close()
        rest = await proc.stdout.read()
        await proc.wait()
    acknowledged += [line for line in rest.decode().split("\n") if len(line) == 64]
    async with await SqliteStore.open(path) as store:
        assert await store.has(acknowledged) == set(acknowledged)


# --- reads -------------------------------------------------------------------------------------------------------


async def test_hot_queries_read_an_index_without_sorting(db: SqliteStore, alice: Author) -> None:
    await db.add(alice.sign())
    one_kind = plan(db.path, F(authors=[alice.pubkey], kinds=[1], limit=50))
    assert "events_pubkey_kind" in one_kind
    assert "TEMP B-TREE" not in one_kind
    three_kinds = plan(db.path, F(authors=[alice.pubkey], kinds=[1, 6, 7], limit=50))
    assert "MERGE (UNION ALL)" in three_kinds
    assert "TEMP B-TREE" not in three_kinds
    reactions = plan(db.path, F(tags={"e": ["ab" * 32]}, kinds=[7], limit=50))
    assert "SEARCH t USING PRIMARY KEY (name=? AND value=?)" in reactions
    assert "TEMP B-TREE" not in reactions
    recent = plan(db.path, F(kinds=[1], since=NOW - 3600))
    assert "events_kind" in recent
    assert "TEMP B-TREE" not in recent
    assert "TEMP B-TREE" not in plan(db.path, F(limit=20))


async def test_full_text_rows_follow_their_events(db: SqliteStore, alice: Author) -> None:
    note = alice.sign(content="marmalade")
    await db.add(note)
    await db.add(alice.sign(kind=DELETION, tags=[["e", note.id]]))
    conn = raw_connection(db.path)
    try:
        assert conn.execute("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'marmalade'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM tags").fetchone()[0] == 1  # the request's own e tag
    finally:
        conn.close()


async def test_negentropy_streams_in_chunks_with_ties_in_id_order(
    db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "NEGENTROPY_CHUNK", 7)
    authors = [Author() for _ in range(3)]
    events = [a.sign(content=str(i), created_at=NOW - i // 10) for i in range(60) for a in authors]
    await db.add_many(events)
    expected = sorted((e.created_at, bytes.fromhex(e.id)) for e in events)
    assert [i async for i in db.negentropy_items([])] == expected
    stream = db.negentropy_items([F(authors=[authors[0].pubkey])])
    first = [await anext(stream) for _ in range(5)]
    assert first == sorted((e.created_at, bytes.fromhex(e.id)) for e in events if e.pubkey == authors[0].pubkey)[:5]
    await stream.aclose()  # a peer that stops early: its connection is closed


async def test_reads_run_while_the_writer_is_busy(db: SqliteStore, alice: Author) -> None:
    await db.add(alice.sign())
    async with writer_held(db) as hold:
        assert await asyncio.wait_for(db.count([F()]), 5) == 1
        assert not hold.done()  # the read did not wait for the writer


# --- the same answers as the in-memory twin ---------------------------------------------------------------------


def random_events(rng: random.Random, authors: list[Author], count: int) -> list[Event]:
    words = ["bridge", "police", "water", "minsk", "help", "march", "brest", "open"]
    events: list[Event] = []
    for i in range(count):
        author = rng.choice(authors)
        kind = rng.choice([1, 1, 1, 7, 0, 10002, 30333, 30333, DELETION])
        tags: list[list[str]] = []
        if kind == 30333:
            tags.append(["d", rng.choice(["a", "b", ""])])
        if kind == DELETION and events:
            target = rng.choice(events)
            tags.append(["e", target.id] if rng.random() < 0.7 else ["a", f"30333:{target.pubkey}:a"])
        if events and rng.random() < 0.4:
            tags.append(["e", rng.choice(events).id])
        if rng.random() < 0.4:
            tags.append(["p", rng.choice(authors).pubkey])
        if rng.random() < 0.3:
            tags.append(["t", rng.choice(words)])
        if rng.random() < 0.1:
            tags.append(["expiration", str(NOW + rng.choice([-5, 30, 3600]))])
        content = " ".join(rng.choice(words) for _ in range(rng.randint(0, 4)))
        events.append(author.sign(kind, content, tags, created_at=NOW - 100 + rng.randint(0, 40) + i // 4))
    return events


def random_filter(rng: random.Random, authors: list[Author], events: list[Event]) -> Filter:
    fields: dict[str, object] = {}
    if rng.random() < 0.3:
        fields["authors"] = [a.pubkey for a in rng.sample(authors, rng.choice([1, 2, len(authors)]))]
    if rng.random() < 0.4:
        fields["kinds"] = rng.sample([0, 1, 7, 10002, 30333, DELETION], rng.randint(1, 3))
    if rng.random() < 0.15:
        fields["ids"] = [e.id for e in rng.sample(events, 10)]
    if rng.random() < 0.3:
        name = rng.choice(["e", "p", "t", "d"])
        pool = {"e": [e.id for e in events], "p": [a.pubkey for a in authors], "t": ["bridge", "minsk", "help"]}
        values = pool.get(name, ["a", "b", ""])
        fields["tags"] = {name: rng.sample(values, min(len(values), rng.choice([1, 2, 25])))}
    if rng.random() < 0.3:
        fields["since"] = NOW - 100 + rng.randint(0, 60)
    if rng.random() < 0.3:
        fields["until"] = NOW - 100 + rng.randint(20, 90)
    if rng.random() < 0.5:
        fields["limit"] = rng.randint(0, 30)
    if rng.random() < 0.15:
        fields["search"] = rng.choice(["bridge", "police water", "MINSK", "nothing", "help march"])
    return F(**fields)


async def test_sqlite_answers_like_the_memory_store(db: SqliteStore, clock: FakeClock) -> None:
    rng = random.Random(2020_08_09)
    authors = [Author() for _ in range(4)]
    events = random_events(rng, authors, 400)
    memory = MemoryStore(clock=clock)
    start = 0
    while start < len(events):
        size = rng.randint(1, 40)
        chunk = events[start : start + size]
        assert await db.add_many(chunk) == await memory.add_many(chunk)
        start += size
    clock.advance(10)
    assert await db.stats() | {"file_bytes": 0} == await memory.stats() | {"file_bytes": 0}
    for _ in range(150):
        filters = [random_filter(rng, authors, events) for _ in range(rng.choice([1, 1, 2, 3]))]
        assert [e.id for e in await db.query(filters)] == [e.id for e in await memory.query(filters)], filters
        assert await db.count(filters) == await memory.count(filters), filters
        assert [i async for i in db.negentropy_items(filters)] == [i async for i in memory.negentropy_items(filters)]
    assert await db.purge_expired() == await memory.purge_expired()
    assert await db.events_since(0, 1000) == await memory.events_since(0, 1000)
