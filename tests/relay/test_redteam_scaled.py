"""Red team, round 7: the relay deployed the big way (docs/scaling.md): several relay processes on one PostgreSQL
store, reads on a streaming replica (``[store] read_url``), the processes woken by LISTEN/NOTIFY.

* An event acknowledged on one relay was missed by a phone subscribing on another. The other relay's follower read
  it from the primary (or moved its cursor past it: nobody there was subscribed) and so never delivered it live
  again, while the phone's REQ was answered from the replica, which had not yet replayed it; the replica was
  skipped only for what the relay had stored itself. A replica lags whenever the primary is busy, and a client
  makes it lag on purpose: its own queries on the replica hold replay back (a hot standby waits for a query that
  conflicts with cleaning up rows, up to ``max_standby_streaming_delay``, 30 s by default). The test pauses replay,
  as such a lag would, and a phone's REQ must still see the event.
* A REQ of ten filters naming one author of large events made the relay pull a gigabyte from PostgreSQL for each
  page of one event: PostgreSQL sends a statement's whole result at once, and every filter's rows came with their
  JSON (up to 500 rows a filter, 256 KB each), to send a page of 128 KB. On 500 events of 200 KB (an author anyone
  can be, publishing 100 MB at the allowed rate), the first page took 4.4 s, the relay grew from 260 MB to
  2.3 GB, and the one REQ kept the store busy for 239 s. Each filter's rows now carry the JSON only within the
  page's first 128 KB, the rest their size alone (first page 0.05 s, 270 MB, 8 s in all).
* A page's read was bounded per statement (``statement_timeout``), not as a whole as on SQLite: a REQ of ten
  filters whose statements each took just under ``store_seconds`` held a turn at the store for ten times that.
  On a 200,000-event store two devices' REQs of ten ``#t`` filters of 30 absent values took 6.5 s a page each
  (the bound is 2 s), and a phone's REQ of one channel waited 5.5 s for a turn; now they end at 2.2-2.4 s with
  ``CLOSED "error: ..."`` and the phone waits 1.2-1.5 s.
* Relays on one database without NATS wake each other by ``NOTIFY samizdat_events, '<number>'``, which any role
  that may connect to the database can send too (another application on a shared server). The listener
  remembered the highest number it was told, so one ``NOTIFY`` of a number far ahead silenced every true one
  after it: the relays heard of each other's events only by polling. The number is now a hint, never remembered.
* A read cancelled on PostgreSQL (a REQ closed, a client gone) sent its cancel request from the event loop: a
  connection of its own to the server, 8 to 13 ms here. A device sending REQs of slow filters and closing each
  at once, on four connections, held the loop 40% of the time (872 ms in 2.2 s; loop lag up to 47 ms). The
  cancel is sent from a thread now (loop lag up to 10-16 ms, the machine's two cores busy with the server).
* A deletion request that expired left its marks (the rows that refuse a deleted event that comes back) in the
  PostgreSQL store for good, where the SQLite store takes them away with it: requests of 2,000 random ids each,
  expiring a few seconds later, left 2,000 rows each that no purge removes, while the requests themselves were
  gone: one connection stored 69 such requests in 2 s, and once they expired 138,000 rows (27 MB of the server's
  disk) stayed for good.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg
import pytest
from relay_helpers import client, make_event, publish, query, recv_until

from samizdat.core import kinds
from samizdat.core.filters import parse_filter
from samizdat.core.keys import SecretKey
from samizdat.relay.bus import StoreBus
from samizdat.relay.limits import RelayLimits
from samizdat.relay.stored import QUERY_TOO_LONG
from samizdat.store import pgqueries
from samizdat.store.base import AddOutcome
from samizdat.store.postgres import PostgresStore
from samizdat.testing import FakeClock, relays_as_workers, running_relay, wait_until
from samizdat.testing_postgres import POSTGRES_TEMPLATE, Cluster, start_cluster

WAIT = 20.0  # seconds any single step may take at most on a loaded machine, never a sleep


@pytest.fixture(scope="module")
def replica(postgres_cluster: Cluster) -> Iterator[Cluster]:
    """A hot standby of the session's cluster, streaming from it."""
    with start_cluster(fsync=False, replica_of=postgres_cluster) as standby:
        yield standby


_scratch = itertools.count(1)


@pytest.fixture
def scratch_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A new database for a test that stores a lot, dropped afterwards: left behind, its tables would keep the
    cluster's autovacuum writing WAL in the background, which a later test of a replica waits for."""
    name = f"redteam_scaled_{next(_scratch)}"
    url = postgres_cluster.create_database(name, template=POSTGRES_TEMPLATE)
    try:
        yield url
    finally:
        postgres_cluster.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _replay(replica: Cluster, database: str, action: str) -> None:
    with psycopg.connect(replica.url(database), autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{action}()".encode())


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5):
            return True
    except psycopg.OperationalError:
        return False


async def test_a_phone_on_another_relay_sees_an_event_the_lagging_replica_has_not_replayed(
    postgres_cluster: Cluster, replica: Cluster, key: SecretKey
) -> None:
    name = "redteam_scaled_replica"
    primary_url = postgres_cluster.create_database(name, template=POSTGRES_TEMPLATE)
    replica_url = replica.url(name)
    await wait_until(lambda: _reachable(replica_url), timeout=WAIT, what="the new database on the replica")
    # Relay A takes the post; relay B (another machine) reads from the replica. Both hear of new events by NOTIFY.
    stores = [await PostgresStore.open(primary_url), await PostgresStore.open(primary_url, read_url=replica_url)]
    buses = [StoreBus(store) for store in stores]
    _replay(replica, name, "pause")  # the replica lags from here on
    try:
        async with relays_as_workers(stores, buses, workers=1) as joined:
            post = make_event(key, 1, "checkpoint on Pobediteley at 18:00", created_at=int(time.time()))
            async with client(joined.url(0)) as author:
                assert (await publish(author, post))[2] is True  # acknowledged: committed on the primary
            seq = (await stores[0].events_since(0, 10))[-1][0]
            # B's follower has passed the post (read it, or moved its cursor past it: nobody there subscribed).
            await wait_until(lambda: joined.followers[1].cursor >= seq, timeout=WAIT, what="B to follow the post")
            async with client(joined.url(1)) as phone:
                got = await asyncio.wait_for(query(phone, "feed", {"kinds": [1]}), WAIT)
                assert [event["id"] for event in got] == [post.id]
                # ... and B still reads from the replica once it has replayed that far.
                _replay(replica, name, "resume")
                await wait_until(lambda: _count(replica_url) == 1, timeout=WAIT, what="the replica to replay the post")
                before = stores[1].reads["replica"]
                got = await asyncio.wait_for(query(phone, "again", {"kinds": [1]}), WAIT)
                assert [event["id"] for event in got] == [post.id]
                assert stores[1].reads["replica"] > before
    finally:
        _replay(replica, name, "resume")


def _count(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0


def rss() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


LARGE = 100  # events of about 200 KB by one author: 20 MB
FILTERS = 10  # as many as a REQ may have


async def test_a_req_of_many_filters_over_large_events_holds_a_page_not_every_filters_rows(
    tmp_path: Path, scratch_url: str, key: SecretKey
) -> None:
    start = int(time.time()) - 10_000
    large = [make_event(key, 1, f"{i} " + "x" * 200_000, created_at=start + i) for i in range(LARGE)]
    async with running_relay(tmp_path, store_url=scratch_url) as running:
        for first in range(0, LARGE, 20):  # the author published them (at any rate the relay allows)
            await running.store.add_many(large[first : first + 20])
        peak = baseline = rss()

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss())
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        try:
            async with client(running.url) as device:
                # Ten filters that each match every one of the author's events (each since a second earlier).
                filters = [{"authors": [key.public_key_hex], "since": start - i} for i in range(FILTERS)]
                await device.send(orjson.dumps(["REQ", "all", *filters]).decode())
                answer = await recv_until(device, "EOSE", timeout=120, limit=LARGE + 10)
        finally:
            sampler.cancel()
        # Every event once, newest first, as on SQLite ...
        assert [m[2]["id"] for m in answer if m[0] == "EVENT"] == [e.id for e in reversed(large)]
        # ... and the relay held about a page at a time: each of the 100 pages read 10 filters' rows, which with
        # their JSON was 10 x 100 x 200 KB = 200 MB at once (the peak grew by about that much before).
        assert peak - baseline < 60 * 1024 * 1024, f"grew by {(peak - baseline) // 2**20} MB"


ROWS = 100_000


def _fill(url: str) -> None:
    """ROWS events (JSON never served: no filter below matches them) with a topic tag each, and the plan PostgreSQL
    chose for the filters below on a busy relay's statistics (the lab's store of 200,000 signed events with two
    topics each): a nested loop over the events, newest first (without parallel workers, for a steady time)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (seq, id, pubkey, created_at, kind, raw) SELECT nextval('events_seq'),"
            " sha256(i::text::bytea), sha256('k'::bytea), 1700000000 + i, 1, '{}'::bytea"
            f" FROM generate_series(1, {ROWS}) i"
        )
        conn.execute(
            "INSERT INTO tags (seq, name, value, created_at, id) SELECT seq, 't', 'v' || (seq % 1000), created_at, id"
            " FROM events"
        )
        conn.execute("ANALYZE")
        database = url.rsplit("/", 1)[1]
        for setting in ("enable_hashjoin = off", "enable_mergejoin = off", "max_parallel_workers_per_gather = 0"):
            conn.execute(f'ALTER DATABASE "{database}" SET {setting}'.encode())


def _statement_seconds(url: str, flt: dict[str, object]) -> float:
    """How long one statement of ``flt`` takes here (the fastest of three, once warm)."""
    prepared = pgqueries._prepare(parse_filter(flt))
    assert prepared is not None
    sql, params = pgqueries.query_sql(prepared, int(time.time()), 500, max_bytes=128 * 1024)
    best = float("inf")
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(4):
            began = time.monotonic()
            conn.execute(sql.encode(), params).fetchall()
            best = min(best, time.monotonic() - began)
    return best


async def test_a_req_of_many_slow_filters_is_ended_at_the_relays_time_limit_not_ten_times_it(
    tmp_path: Path, scratch_url: str
) -> None:
    _fill(scratch_url)
    absent = [f"x{i}" for i in range(30)]
    filters = [{"#t": absent, "since": 1_600_000_000 - i} for i in range(FILTERS)]  # ten statements, none matching
    one = _statement_seconds(scratch_url, filters[0])
    # Each statement well inside the limit (a quarter of it), all ten of them 2.5 times over it.
    limits = RelayLimits(store_seconds=max(4 * one, 0.02), reqs_burst=1000)
    async with running_relay(tmp_path, store_url=scratch_url, limits=limits) as running:
        async with client(running.url) as device:
            await device.send(orjson.dumps(["REQ", "slow", *filters]).decode())
            reply = orjson.loads(await asyncio.wait_for(device.recv(), 60))  # no event matches: EOSE or CLOSED
        # Refused at the limit, as on SQLite (it held a turn at the store for all ten statements before).
        assert reply == ["CLOSED", "slow", QUERY_TOO_LONG], (reply, one)


async def test_a_notification_of_a_number_far_ahead_does_not_silence_the_true_ones(
    postgres_url: str, key: SecretKey
) -> None:
    writer, reader = await PostgresStore.open(postgres_url), await PostgresStore.open(postgres_url)
    watch = reader.watch(poll=600)  # a long poll: only notifications wake it within the test
    try:
        assert await asyncio.wait_for(anext(watch), WAIT) == 0
        with psycopg.connect(postgres_url, autocommit=True) as other:  # any role that may connect
            other.execute("NOTIFY samizdat_events, '9223372036854775806'")
        hinted = await asyncio.wait_for(anext(watch), WAIT)  # a wake-up for nothing: the reader finds nothing new
        assert await reader.events_since(0, 10) == []
        await writer.add(make_event(key, 1, "the bridge is closed"))
        seq = (await writer.events_since(0, 10))[-1][0]
        # The true notification still wakes the reader (before: never, within the poll).
        assert await asyncio.wait_for(anext(watch), WAIT) == seq, hinted
    finally:
        await watch.aclose()
        await writer.close()
        await reader.close()


async def test_a_closed_req_is_cancelled_on_the_server_without_holding_the_event_loop(
    tmp_path: Path, scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(scratch_url)
    absent = [f"x{i}" for i in range(30)]
    filters = [{"#t": absent, "since": 1_600_000_000 - i} for i in range(FILTERS)]  # a read of ten slow statements
    cancels: list[bool] = []  # for each cancel request sent: whether the event loop's thread sent it
    loop_thread = threading.current_thread()
    cancel_safe = psycopg.Connection.cancel_safe

    def recorded(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> None:
        cancels.append(threading.current_thread() is loop_thread)
        cancel_safe(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "cancel_safe", recorded)
    limits = RelayLimits(store_seconds=60.0, reqs_burst=1000)  # the read runs until the device closes the REQ
    async with running_relay(tmp_path, store_url=scratch_url, limits=limits) as running:
        async with client(running.url) as device:
            await device.send(orjson.dumps(["REQ", "slow", *filters]).decode())
            await wait_until(lambda: running.server.turns.busy == 1, timeout=WAIT, what="the read to begin")
            await device.send(orjson.dumps(["CLOSE", "slow"]).decode())
            await wait_until(lambda: running.server.turns.busy == 0, timeout=WAIT, what="the read to be cancelled")
    assert cancels == [False]  # sent once, from another thread than the loop's (before: from the loop)


def _marks(url: str) -> tuple[int, int]:
    """Rows in deleted_ids, and its size on the server's disk (bytes, with its index)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*), pg_total_relation_size('deleted_ids') FROM deleted_ids").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


async def test_an_expired_deletion_request_takes_its_marks_with_it(postgres_url: str) -> None:
    clock = FakeClock(time.time())
    store = await PostgresStore.open(postgres_url, clock=clock)
    stranger, author = SecretKey.generate(), SecretKey.generate()
    now = int(clock())
    try:
        expiring = [["expiration", str(now + 10)]]
        floods = [
            make_event(stranger, kinds.DELETION, "", [["e", f"{n:04x}{i:060x}"] for i in range(2000)] + expiring, now)
            for n in range(20)
        ]
        assert await store.add_many(floods) == [AddOutcome.STORED] * len(floods)
        count, size = _marks(postgres_url)
        assert count == 40_000, size
        clock.advance(60)
        assert await store.purge_expired() == len(floods)
        assert _marks(postgres_url)[0] == 0  # (before: 40,000 rows, for good)

        # Two requests by the author name the same post; one expires: the post stays refused.
        post = make_event(author, 1, "a mistake", created_at=now - 100)
        lasting = make_event(author, kinds.DELETION, "", [["e", post.id]], created_at=now - 50)
        passing = make_event(author, kinds.DELETION, "", [["e", post.id], ["expiration", str(now + 70)]], now - 40)
        assert await store.add_many([post, lasting, passing]) == [AddOutcome.STORED] * 3
        clock.advance(60)
        assert await store.purge_expired() == 1
        assert await store.add(post) == AddOutcome.DELETED
        assert _marks(postgres_url)[0] == 1
    finally:
        await store.close()
