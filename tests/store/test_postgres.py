"""What the PostgreSQL store does beyond the shared contract (tests/store/test_store_contract.py): processes that
share one database wake each other (LISTEN/NOTIFY) and catch up from the insertion order, reads go to a replica
except where they must not, migrations, and one-sentence errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from store_helpers import Author, F

from samizdat.errors import StoreError
from samizdat.store import pgconn, postgres
from samizdat.store.base import AddOutcome
from samizdat.store.postgres import PostgresStore
from samizdat.testing import wait_until
from samizdat.testing_postgres import Cluster, free_port, start_cluster

WAIT = 20.0  # seconds any single wake-up may take at most (a loaded machine), never a sleep


@pytest.fixture
async def writer(postgres_url: str) -> AsyncIterator[PostgresStore]:
    store = await PostgresStore.open(postgres_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def reader(postgres_url: str) -> AsyncIterator[PostgresStore]:
    """Another store on the same database: another relay process."""
    store = await PostgresStore.open(postgres_url)
    try:
        yield store
    finally:
        await store.close()


async def test_another_process_is_woken_and_reads_new_events_in_insertion_order(
    writer: PostgresStore, reader: PostgresStore, alice: Author
) -> None:
    watch = reader.watch(poll=60)  # a long poll: only a notification can wake it in time
    try:
        seen = await asyncio.wait_for(anext(watch), WAIT)
        assert seen == 0
        first = [alice.sign(content=f"first {i}", created_at=1_700_000_000 - i) for i in range(3)]
        assert await writer.add_many(first) == [AddOutcome.STORED] * 3
        woke = await asyncio.wait_for(anext(watch), WAIT)
        new = await reader.events_since(seen, 100)
        assert [e.id for _, e in new] == [e.id for e in first]  # insertion order, not created_at order
        assert woke == new[-1][0]
        seen = woke
        second = alice.sign(content="second")
        await writer.add(second)
        assert await asyncio.wait_for(anext(watch), WAIT) > seen
        assert [e.id for _, e in await reader.events_since(seen, 100)] == [second.id]
    finally:
        await watch.aclose()


async def test_a_missed_notification_is_caught_up_from_the_insertion_order(
    writer: PostgresStore, reader: PostgresStore, postgres_url: str, alice: Author
) -> None:
    watch = reader.watch(poll=60)
    try:
        seen = await asyncio.wait_for(anext(watch), WAIT)
        # The listening connection dies (a restart, a network split); what is written meanwhile is told to nobody.
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (postgres.WATCH_NAME,),
            ).fetchone()
        assert killed == (1,)
        missed = [alice.sign(content=f"missed {i}") for i in range(2)]
        for event in missed:
            await writer.add(event)
        woke = await asyncio.wait_for(anext(watch), WAIT)  # it listens again and reads the number itself
        assert [e.id for _, e in await reader.events_since(seen, 100)] == [e.id for e in missed]
        assert woke == (await reader.events_since(seen, 100))[-1][0]
    finally:
        await watch.aclose()


async def test_two_writers_hand_out_numbers_in_commit_order(
    writer: PostgresStore, reader: PostgresStore, alice: Author
) -> None:
    # Both stores write at once; a reader that resumes after each number it saw misses nothing.
    ours = [alice.sign(content=f"a {i}") for i in range(60)]
    theirs = [alice.sign(content=f"b {i}") for i in range(60)]
    seen, got = 0, []

    async def follow() -> None:
        nonlocal seen
        while len(got) < 120:
            for seq, event in await reader.events_since(seen, 500):
                got.append(event.id)
                seen = seq
            await asyncio.sleep(0)

    follower = asyncio.ensure_future(asyncio.wait_for(follow(), WAIT))
    await asyncio.gather(*(writer.add(e) for e in ours), *(reader.add(e) for e in theirs))
    await follower
    assert sorted(got) == sorted(e.id for e in ours + theirs)
    assert len(set(got)) == 120


async def test_a_store_from_a_newer_samizdat_is_refused(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO samizdat_schema VALUES (999, 0)")
    with pytest.raises(StoreError, match="newer version of Samizdat"):
        await PostgresStore.open(postgres_url)


async def test_an_unreachable_server_is_one_sentence(postgres_cluster: Cluster) -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{postgres_cluster.port}/no_such_database"
    with pytest.raises(StoreError) as caught:
        await PostgresStore.open(url)
    message = str(caught.value)
    assert message.startswith("Cannot open the store at postgresql://nobody:***@127.0.0.1")
    assert "secret" not in message


async def test_migrating_twice_changes_nothing(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert pgconn.migrate(conn) == pgconn.migrations()[-1][0]
        assert pgconn.migrate(conn) == pgconn.migrations()[-1][0]


async def test_the_tags_of_deleted_replaced_and_expired_events_go_with_them(
    writer: PostgresStore, postgres_url: str, alice: Author
) -> None:
    kept = alice.sign(content="kept", tags=[["t", "stays"]])
    deleted = alice.sign(content="deleted", tags=[["t", "gone"]])
    old = alice.sign(kind=30023, content="v1", tags=[["d", "slot"], ["t", "old"]], created_at=1_700_000_000)
    new = alice.sign(kind=30023, content="v2", tags=[["d", "slot"], ["t", "new"]], created_at=1_700_000_001)
    expiring = alice.sign(content="brief", tags=[["t", "brief"], ["expiration", "99999999999"]])
    assert await writer.add_many([kept, deleted, old, expiring]) == [AddOutcome.STORED] * 4
    assert await writer.add(new) == AddOutcome.STORED  # replaces old
    assert await writer.add(alice.sign(kind=5, content="", tags=[["e", deleted.id]])) == AddOutcome.STORED
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # the store's clock is the real one
        conn.execute("UPDATE events SET expiration = 1 WHERE expiration IS NOT NULL")
    assert await writer.purge_expired() == 1
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        values = {row[0] for row in conn.execute("SELECT value FROM tags WHERE name = 't'")}
        orphans = conn.execute("SELECT count(*) FROM tags WHERE seq NOT IN (SELECT seq FROM events)").fetchone()
    assert values == {"stays", "new"}
    assert orphans == (0,)
    found = await writer.query([F(tags={"t": ["stays", "gone", "old", "new", "brief"]})])
    assert {e.id for e in found} == {kept.id, new.id}


# --- a read replica ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replica(postgres_cluster: Cluster) -> Iterator[Cluster]:
    """A hot standby of the session's cluster, streaming from it."""
    with start_cluster(fsync=False, replica_of=postgres_cluster) as standby:
        yield standby


def _replay(replica: Cluster, database: str, action: str) -> None:
    with psycopg.connect(replica.url(database), autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{action}()".encode())


async def test_reads_go_to_the_replica_but_never_miss_what_was_acknowledged(
    postgres_cluster: Cluster, replica: Cluster, alice: Author
) -> None:
    name = "replicated"
    primary_url = postgres_cluster.create_database(name, template="samizdat_template")
    replica_url = replica.url(name)
    await wait_until(lambda: _exists(replica_url), timeout=WAIT, what="the new database on the replica")
    relay = await PostgresStore.open(primary_url, read_url=replica_url)
    other = await PostgresStore.open(primary_url)  # another process, writing to the primary
    try:
        _replay(replica, name, "pause")
        elsewhere = alice.sign(content="stored by another process")
        await other.add(elsewhere)
        # The replica has not replayed it: queries answered from the replica do not see it yet ...
        assert await relay.query([F()]) == []
        # ... but NIP-77 and the insertion order are read from the primary.
        assert [i async for i in relay.negentropy_items([])] == [(elsewhere.created_at, bytes.fromhex(elsewhere.id))]
        assert [e.id for _, e in await relay.events_since(0, 10)] == [elsewhere.id]
        # Once this store acknowledged an event, it reads from the primary until the replica has caught up.
        mine = alice.sign(content="my own post", created_at=elsewhere.created_at - 1)
        assert await relay.add(mine) is AddOutcome.STORED
        assert [e.id for e in await relay.query([F()])] == [elsewhere.id, mine.id]
        _replay(replica, name, "resume")
        await wait_until(lambda: _replayed(replica_url, 2), timeout=WAIT, what="the replica to catch up")
        assert [e.id for e in await relay.query([F()])] == [elsewhere.id, mine.id]
        assert relay.reads["replica"] >= 2
    finally:
        _replay(replica, name, "resume")
        await relay.close()
        await other.close()


def _exists(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5):
            return True
    except psycopg.OperationalError:
        return False


def _replayed(url: str, events: int) -> bool:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        return row is not None and row[0] >= events


async def test_an_unreachable_replica_leaves_reads_to_the_primary(
    postgres_url: str, postgres_cluster: Cluster, alice: Author
) -> None:
    gone = postgres_url.replace(f":{postgres_cluster.port}/", f":{free_port()}/")  # nothing listens there
    store = await PostgresStore.open(postgres_url, read_url=gone)
    try:
        event = alice.sign(content="still served")
        await store.add(event)
        assert [e.id for e in await store.query([F()])] == [event.id]
        assert store.reads == {"replica": 0, "primary": 1}
    finally:
        await store.close()


def test_a_password_in_the_url_is_never_shown() -> None:
    shown = pgconn.redact(
        "postgresql://relay:s3cret@db.example/samizdat?sslmode=require&password=hunter2&application_name=x"
    )
    assert "s3cret" not in shown
    assert "hunter2" not in shown
    assert shown.startswith("postgresql://relay:***@db.example/samizdat?sslmode=require")
