"""One batch through the SQLite writer's fast path gives the same outcomes and the same stored set as adding the
same events one at a time: duplicates inside a batch, deletions before and after their targets, replaceable
events and expired ones mixed with plain posts."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.store.memory import MemoryStore
from samizdat.store.postgres import PostgresStore
from samizdat.store.sqlite import SqliteStore
from samizdat.testing_postgres import POSTGRES_TEMPLATE, Cluster

NOW = 1_800_000_000
KEYS = [SecretKey(bytes([i + 1]) * 32) for i in range(2)]


def _pool() -> list[Event]:
    posts = [sign_event(KEYS[i % 2], 1, f"post {i}", [["t", "x"]], created_at=NOW - 100 + i) for i in range(6)]
    extra = [
        sign_event(KEYS[0], 0, "profile a", created_at=NOW - 50),
        sign_event(KEYS[0], 0, "profile b", created_at=NOW - 40),
        sign_event(KEYS[1], 1, "expired", [["expiration", str(NOW - 1)]], created_at=NOW - 60),
        sign_event(KEYS[1], 20001, "ephemeral", created_at=NOW),
    ]
    deletions = [
        sign_event(KEYS[0], 5, "", [["e", posts[0].id]], created_at=NOW - 10),  # own post: deletes it
        sign_event(KEYS[1], 5, "", [["e", posts[2].id]], created_at=NOW - 10),  # someone else's: no effect
    ]
    return posts + extra + deletions


POOL = _pool()
_counter = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=20))
async def test_batch_equals_one_by_one(tmp_path: Path, order: list[int]) -> None:
    events = [POOL[i] for i in order]
    reference = MemoryStore(clock=lambda: NOW)
    expected = [await reference.add(e) for e in events]
    path = tmp_path / f"s{next(_counter)}.sqlite"  # a fresh store per example; pytest removes tmp_path
    store = await SqliteStore.open(path, clock=lambda: NOW)
    try:
        assert await store.add_many(events) == expected
        got = {e.id for e in await store.query([Filter(limit=1000)])}
        assert got == {e.id for e in await reference.query([Filter(limit=1000)])}
    finally:
        await store.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=20))
async def test_batch_equals_one_by_one_on_postgres(postgres_cluster: Cluster, order: list[int]) -> None:
    events = [POOL[i] for i in order]
    reference = MemoryStore(clock=lambda: NOW)
    expected = [await reference.add(e) for e in events]
    url = postgres_cluster.create_database(f"batch_{next(_counter)}", template=POSTGRES_TEMPLATE)
    store = await PostgresStore.open(url, clock=lambda: NOW)
    try:
        assert await store.add_many(events) == expected
        got = {e.id for e in await store.query([Filter(limit=1000)])}
        assert got == {e.id for e in await reference.query([Filter(limit=1000)])}
    finally:
        await store.close()
