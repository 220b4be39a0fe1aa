"""The SQLite store's fast path (store/fastadd.py, _fastadd.c) writes what the Python path writes: the same outcomes,
the same rows in every table, the same matches for filters and full-text search, for batches of plain events among
duplicates, deleted and evicted ids, whatever their text; and the store uses it where it should and not elsewhere."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import NOW, F, writer_held

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.store import fastadd
from samizdat.store.base import AddOutcome
from samizdat.store.sqlite import SqliteStore

KEYS = [SecretKey(bytes([i + 7]) * 32) for i in range(3)]
TEXTS = ["", "plain words", "Минск, двор на Ленина 40", "emoji 🙂 and\nnewlines\t", "x" * 5000, "a'b\"c;--", "\x00nul"]


@pytest.fixture(autouse=True)
def built() -> None:
    if not fastadd.available():
        if os.environ.get("CI") == "true":
            pytest.fail("the store's fast path was not built (setup.py: a C compiler and SQLite's headers)")
        pytest.skip("the store's fast path is not built here")


def _post(i: int, text: str, *, kind: int = 1) -> Event:
    key = KEYS[i % len(KEYS)]
    tags = [["t", f"topic{i % 3}"], ["e", "ab" * 32], ["p", KEYS[(i + 1) % 3].public_key_hex], ["subject", f"s{i}"]]
    return sign_event(key, kind, f"{text} {i}", tags, created_at=NOW - 1000 + i)


def _pool() -> list[Event]:
    return [_post(i, TEXTS[i % len(TEXTS)], kind=(1, 1, 1111, 1068)[i % 4]) for i in range(24)]


POOL = _pool()
BY_PUBKEY = {key.public_key_hex: key for key in KEYS}
#: A deletion request by its author for each event of the pool (signed once: a signature differs each time).
DELETIONS = {e.id: sign_event(BY_PUBKEY[e.pubkey], 5, "", [["e", e.id]], created_at=NOW - 2000) for e in POOL}


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            "events": conn.execute(
                "SELECT seq, id, pubkey, created_at, kind, d_tag, expiration, raw FROM events ORDER BY seq"
            ).fetchall(),  # fmt: skip
            "tags": conn.execute(
                "SELECT name, value, created_at, id, seq FROM tags ORDER BY seq, name, value"
            ).fetchall(),
            "sequence": conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchall(),
        }
    finally:
        conn.close()


async def _write(
    path: Path, batches: list[list[Event]], *, deleted: list[Event], evicted: list[Event]
) -> tuple[list[list[AddOutcome]], dict[str, list[tuple[object, ...]]], list[set[str]], int]:
    """Store the batches after a deletion request for ``deleted`` and with ``evicted`` marked as evicted; returns
    the outcomes, the tables, the matches of a few searches and filters, and how many batches took the fast path."""
    store = await SqliteStore.open(path, clock=lambda: NOW)
    try:
        for event in deleted:
            assert await store.add(DELETIONS[event.id]) is AddOutcome.STORED
        if evicted:
            rows = [(bytes.fromhex(e.id), NOW) for e in evicted]
            await store._writer.call(
                lambda conn: conn.executemany("INSERT INTO evicted (id, evicted_at) VALUES (?, ?)", rows)
            )
        fast_before = store._writer.fast.batches if store._writer.fast else 0
        outcomes = [await store.add_many(batch) for batch in batches]
        fast = (store._writer.fast.batches if store._writer.fast else 0) - fast_before
        found = [
            {e.id for e in await store.query([F(search=word, limit=1000)])}
            for word in ("minsk", "Ленина", "plain", "emoji", "xxxx")
        ]
        found.append({e.id for e in await store.query([F(tags={"t": ["topic1"]}, limit=1000)])})
        found.append({e.id for e in await store.query([F(tags={"e": ["ab" * 32]}, kinds=[1], limit=1000)])})
    finally:
        await store.close()
    return outcomes, _tables(path), found, fast


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.lists(st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=12), min_size=1, max_size=4),
    gone=st.sets(st.integers(0, len(POOL) - 1), max_size=4),
    out=st.sets(st.integers(0, len(POOL) - 1), max_size=4),
)
async def test_the_fast_path_writes_what_python_writes(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    order: list[list[int]],
    gone: set[int],
    out: set[int],
) -> None:
    batches = [[POOL[i] for i in batch] for batch in order]
    deleted, evicted = [POOL[i] for i in sorted(gone)], [POOL[i] for i in sorted(out - gone)]
    base = tmp_path_factory.mktemp("fastadd")
    fast = await _write(base / "fast.sqlite", batches, deleted=deleted, evicted=evicted)
    with monkeypatch.context() as env:
        env.setenv("SAMIZDAT_FASTADD", "0")
        slow = await _write(base / "slow.sqlite", batches, deleted=deleted, evicted=evicted)
    assert fast[:3] == slow[:3]
    assert fast[3] == len(batches)  # every batch here is plain: all went the fast way
    assert slow[3] == 0


async def test_a_batch_with_one_event_that_is_not_plain_goes_the_python_way(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "events.sqlite", clock=lambda: NOW) as store:
        assert store._writer.fast is not None
        plain = [_post(i, "plain words") for i in range(5)]
        profile = sign_event(KEYS[0], 0, '{"name":"a"}', created_at=NOW - 5)
        deletion = sign_event(KEYS[0], 5, "", [["e", plain[0].id]], created_at=NOW - 3)
        assert await store.add_many([*plain[1:], profile]) == [AddOutcome.STORED] * 5
        assert await store.add_many([deletion]) == [AddOutcome.STORED]
        assert store._writer.fast.batches == 0
        assert await store.add_many([plain[0]]) == [AddOutcome.DELETED]  # plain: the fast path knows the deletion
        assert store._writer.fast.batches == 1


async def test_an_encrypted_store_and_fastadd_0_write_through_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = bytes(range(32))
    async with await SqliteStore.open(tmp_path / "sealed.sqlite", clock=lambda: NOW, key=key) as store:
        assert store._writer.fast is None
        assert await store.add_many([_post(1, "plain words")]) == [AddOutcome.STORED]
    monkeypatch.setenv("SAMIZDAT_FASTADD", "0")
    async with await SqliteStore.open(tmp_path / "plain.sqlite", clock=lambda: NOW) as store:
        assert store._writer.fast is None
        assert await store.add_many([_post(1, "plain words")]) == [AddOutcome.STORED]


async def test_a_failed_fast_write_is_written_through_python_and_loses_nothing(tmp_path: Path) -> None:
    """The fast connection cannot write (a trigger on it refuses every row, as a damaged page or a full disk would
    refuse): its transaction is rolled back and the batch goes the Python way, which stores it."""
    async with await SqliteStore.open(tmp_path / "events.sqlite", clock=lambda: NOW) as store:
        assert store._writer.fast is not None
        await store._writer.call(lambda conn: store._writer.fast.execute(  # type: ignore[union-attr]
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON tags BEGIN SELECT RAISE(ABORT, 'refused'); END"))  # fmt: skip
        events = [_post(i, "plain words") for i in range(10)]
        assert await store.add_many(events) == [AddOutcome.STORED] * 10
        assert store._writer.fast.batches == 0
        assert await store.count([F()]) == 10
        assert {e.id for e in await store.query([F(tags={"t": ["topic1"]})])} == {
            e.id for e in events if ["t", "topic1"] in [list(t) for t in e.tags]
        }


async def test_the_fast_path_waits_for_another_writer_and_shares_commits(tmp_path: Path) -> None:
    """Batches queued while the writer is busy are committed together, the fast way, once it is free."""
    async with await SqliteStore.open(tmp_path / "events.sqlite", clock=lambda: NOW) as store:
        assert store._writer.fast is not None
        events = [_post(i, TEXTS[i % len(TEXTS)]) for i in range(24)]
        async with writer_held(store):
            pending = asyncio.gather(*(store.add(e) for e in events))
            await asyncio.sleep(0.05)
        assert await pending == [AddOutcome.STORED] * 24
        assert store._writer.fast.batches < 24
    async with await SqliteStore.open(tmp_path / "events.sqlite", clock=lambda: NOW) as store:
        assert await store.count([F()]) == 24
