"""Red team, round 7: the relay deployed the big way (docs/scaling.md): several relay processes on one PostgreSQL
store, reads on a streaming replica (``[store] read_url``), the processes woken by LISTEN/NOTIFY.

* An event acknowledged on one relay was missed by a phone subscribing on another. The other relay's follower read
  it from the primary (or moved its cursor past it: nobody there was subscribed) and so never delivered it live
  again, while the phone's REQ was answered from the replica, which had not yet replayed it; the replica was
  skipped only for what the relay had stored itself. A replica lags whenever the primary is busy, and a client
  makes it lag on purpose: its own queries on the replica hold replay back (a hot standby waits for a query that
  conflicts with cleaning up rows, up to ``max_standby_streaming_delay``, 30 s by default). The test pauses replay,
  as such a lag would, and a phone's REQ must still see the event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import psycopg
import pytest
from relay_helpers import client, make_event, publish, query

from samizdat.core.keys import SecretKey
from samizdat.relay.bus import StoreBus
from samizdat.store.postgres import PostgresStore
from samizdat.testing import relays_as_workers, wait_until
from samizdat.testing_postgres import POSTGRES_TEMPLATE, Cluster, start_cluster

WAIT = 20.0  # seconds any single step may take at most on a loaded machine, never a sleep


@pytest.fixture(scope="module")
def replica(postgres_cluster: Cluster) -> Iterator[Cluster]:
    """A hot standby of the session's cluster, streaming from it."""
    with start_cluster(fsync=False, replica_of=postgres_cluster) as standby:
        yield standby


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
