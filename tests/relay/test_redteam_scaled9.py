"""Red team, round 9: what a hostile client of a relay on PostgreSQL could still make cost without bound.

* A NIP-77 ``NEG-OPEN`` built its list of (created_at, id) from PostgreSQL with no time limit: one ``FETCH`` of a
  filter matching the whole store sorts every match before its first row comes. On 2,500,000 events, three
  addresses' ``NEG-OPEN`` of a ``#t`` filter naming the store's 1,000 topics took 4.4-6.2 s of store time each, one
  after another (they hold the relay's one build turn), grew the relay by 382 MB, and an honest LAN peer's
  ``NEG-OPEN`` of one author waited 15.7 s for its turn; on a larger store, or a filter the server plans badly,
  there was no end to it. A build now has ``build_seconds`` (the statement ended on the server there) and gets
  ``NEG-ERR "blocked: ..."``; its time is charged to the address's store budget as before.
* The photo store in PostgreSQL ran every call on one connection under one lock: a call stuck on a row another
  process had not committed yet (two uploads of the same photo at once) held every photo request behind it, for as
  long as that process took, and a small photo took 27 ms at the median (205 ms at worst, 0.5 ms alone) while
  four threads uploaded and fetched 2 MB photos; the relay's event loop waited too when the photos' travel called
  the store meanwhile. It now has a few connections with time limits, and one more for a caller on an event loop.
* A deletion request's ``a`` tags cost two statements each in the one writer, a round trip to the server each: a
  request of 2,000 (anyone may sign one about addresses of their own) took 0.16-0.22 s of the writer on loopback,
  about 16 s with the server 2 ms away, and every client's ``OK`` waited behind it. Now one statement for all.
* Replaceable and addressable events were stored one at a time, four round trips each in the one writer (plain
  events go in runs of one statement): 200 of them from one connection (it may send 500 a second) held every
  client's ``OK`` for 4.3 s with the server 2 ms away; so were deletion requests, six round trips each (200 of one
  ``e`` tag: 3.9 s). Now a run of either is a handful of statements whatever its length.

Real PostgreSQL (samizdat.testing_postgres), real relay and WebSocket clients on loopback, each device on an address
of its own through a trusted balancer's PROXY header (relay/proxied.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import pytest
from relay_helpers import client, make_event, publish
from test_proxied import client as proxied
from test_proxied import v1

from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy
from samizdat.core.negentropy_storage import VectorStorage
from samizdat.errors import StoreError
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.store import pgblobs
from samizdat.store.pgblobs import PgBlobStore
from samizdat.testing import running_relay, wait_until
from samizdat.testing_postgres import POSTGRES_TEMPLATE, Cluster

WAIT = 20.0  # seconds any single step may take at most on a loaded machine, never a sleep
ROWS = 400_000
TOPICS = [f"v{i}" for i in range(1000)]

_scratch = itertools.count(1)


@pytest.fixture
def scratch_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A new database for a test that stores a lot, dropped afterwards (see test_redteam_scaled.py)."""
    name = f"redteam_scaled9_{next(_scratch)}"
    url = postgres_cluster.create_database(name, template=POSTGRES_TEMPLATE)
    try:
        yield url
    finally:
        postgres_cluster.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _author(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def _fill(url: str) -> None:
    """ROWS events of 2,000 authors with two of 1,000 topics each (JSON never served: only NIP-77 lists them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (seq, id, pubkey, created_at, kind, raw) SELECT nextval('events_seq'),"
            " sha256(i::text::bytea), sha256((i % 2000)::text::bytea), 1700000000 + i, 1, '{}'::bytea"
            f" FROM generate_series(1, {ROWS}) i"
        )
        for step in (0, 500):
            conn.execute(
                "INSERT INTO tags (seq, name, value, created_at, id) SELECT seq, 't', 'v' || ((seq + %s) %% 1000),"
                " created_at, id FROM events",
                (step,),
            )
        conn.execute("ANALYZE")


def _neg_open(sub_id: str, flt: dict[str, Any]) -> str:
    empty = VectorStorage()
    empty.seal()
    return orjson.dumps(["NEG-OPEN", sub_id, flt, Negentropy(empty).initiate().hex()]).decode()


def _running_lists(url: str) -> int:
    """Statements listing events for NIP-77 still running on the server."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%%FETCH%%samizdat_neg%%'"
            " AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_a_sync_of_the_whole_store_ends_at_its_time_limit_and_an_honest_peer_syncs(
    tmp_path: Path, scratch_url: str
) -> None:
    _fill(scratch_url)
    service = NegentropyService()
    service.build_seconds = 0.2  # the bound a relay of this size would set, well above a channel's build
    limits = RelayLimits(trusted_proxies=("127.0.0.1/32",))
    async with running_relay(tmp_path, store_url=scratch_url, limits=limits, negentropy=service) as running:

        async def hostile(number: int) -> list[Any]:
            # Every topic of the store, a different filter each (no shared build): all 400,000 events, sorted.
            flt = {"#t": TOPICS, "since": 1_600_000_000 + number}
            async with proxied(running.port, v1(f"10.0.0.{number}")) as device:
                await device.send(_neg_open("all", flt))
                return list(orjson.loads(await asyncio.wait_for(device.recv(), 120)))

        async def honest() -> list[Any]:
            async with proxied(running.port, v1("10.9.9.9")) as peer:  # a LAN peer syncing one channel's author
                await peer.send(_neg_open("channel", {"authors": [_author(7)], "kinds": [1]}))
                return list(orjson.loads(await asyncio.wait_for(peer.recv(), 120)))

        replies = await asyncio.gather(hostile(1), hostile(2), hostile(3), honest())
        for reply in replies[:3]:
            # Ended at the limit with one clear sentence (they were built in full before, seconds each on a
            # large store, one after another, while every other sync waited for its turn).
            assert reply[:2] == ["NEG-ERR", "all"], reply
            assert reply[2].startswith("blocked: "), reply
            assert "narrow the filter" in reply[2], reply
        assert replies[3][:2] == ["NEG-MSG", "channel"], replies[3]  # the honest peer's sync goes on
        # Charged to the hostile addresses' store budgets; nothing left running on the server.
        assert running.server.store_budget.charged > 0
        await wait_until(lambda: _running_lists(scratch_url) == 0, timeout=WAIT, what="the listing statements end")


def _stuck_on_a_lock(url: str) -> bool:
    """A photo store connection waits for a row another transaction holds."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'samizdat-blobs'"
            " AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


class _Call(threading.Thread):
    """``fn()`` in a thread of its own (a web request's), keeping what it returned or raised."""

    def __init__(self, fn: Any) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            self.error = exc


def _photo(size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    return hashlib.sha256(data).hexdigest(), data


async def test_a_photo_is_served_while_an_upload_waits_for_another_process(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgblobs, "LOCK_SECONDS", 1.0, raising=False)
    store = PgBlobStore(postgres_url)
    small, small_data = _photo(20_000)
    big, big_data = _photo(2_000_000)
    store.put(small, small_data, "image/jpeg", thumb=False, now=1)
    # Another relay process is storing the same large photo at this moment and has not committed yet.
    other = psycopg.connect(postgres_url)
    stuck = reader = None
    try:
        other.execute(
            "INSERT INTO blobs (sha256, size, type, thumb, stored_at, data) VALUES (%s, %s, 'image/jpeg', false, 1,"
            " %s)",
            (big, len(big_data), big_data),
        )
        stuck = _Call(lambda: store.put(big, big_data, "image/jpeg", thumb=False, now=2, owner="a" * 64))
        stuck.start()
        await wait_until(lambda: _stuck_on_a_lock(postgres_url), timeout=WAIT, what="the upload waits for the row")
        reader = _Call(lambda: store.get(small))
        reader.start()
        reader.join(WAIT)
        assert not reader.is_alive()
        assert reader.value == small_data  # a phone's photo is served meanwhile
        stuck.join(WAIT)
        # The stuck upload ends with one sentence (it held the photo store until the other process ended before).
        assert not stuck.is_alive()
        assert isinstance(stuck.error, StoreError), stuck.error
        assert "try again later" in str(stuck.error)
    finally:
        other.rollback()
        other.close()
        for call in (stuck, reader):
            if call is not None:
                call.join(WAIT)
    # The other process gave up: the upload tried again is stored, whole.
    assert store.put(big, big_data, "image/jpeg", thumb=False, now=3, owner="a" * 64) is True
    assert store.get(big) == big_data
    store.close()


async def test_photo_requests_beyond_the_connections_are_refused_in_time_not_queued_for_good(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgblobs, "LOCK_SECONDS", 30.0, raising=False)  # the stuck calls stay stuck meanwhile
    monkeypatch.setattr(pgblobs, "WAIT_SECONDS", 0.5, raising=False)
    # Every connection may go to one caller (these calls name no address): a full pool is what is tried here; one
    # address's share of it is test_redteam_scaled10's.
    monkeypatch.setattr(pgblobs, "PER_ADDRESS", pgblobs.CONNECTIONS, raising=False)
    store = PgBlobStore(postgres_url)
    small, small_data = _photo(1000)
    store.put(small, small_data, "image/jpeg", thumb=False, now=1)
    photos = [_photo(1000) for _ in range(getattr(pgblobs, "CONNECTIONS", 4))]
    other = psycopg.connect(postgres_url)
    stuck: list[_Call] = []
    late = None
    try:
        for sha256, data in photos:  # another process holds every one of these rows
            other.execute(
                "INSERT INTO blobs (sha256, size, type, thumb, stored_at, data) VALUES (%s, 1, 'x', false, 1, %s)",
                (sha256, data),
            )
        for sha256, data in photos:
            call = _Call(lambda s=sha256, d=data: store.put(s, d, "image/jpeg", thumb=False, now=2))
            call.start()
            stuck.append(call)
        late = _Call(lambda: store.get(small))
        late.start()
        late.join(WAIT)
        # Refused with one sentence once no connection came free in time (it waited as long as they did before).
        assert not late.is_alive(), "the request was queued behind the stuck ones"
        assert late.value == small_data or (isinstance(late.error, StoreError) and "busy" in str(late.error))
    finally:
        other.rollback()
        other.close()
        for call in [*stuck, *([late] if late else [])]:
            call.join(WAIT)
    assert all(call.error is None and call.value is True for call in stuck)  # stored once the row came free
    assert store.get(small) == small_data
    store.close()


async def test_the_photos_travel_on_the_event_loop_is_not_held_by_stuck_uploads(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgblobs, "LOCK_SECONDS", 30.0, raising=False)  # the stuck calls stay stuck meanwhile
    store = PgBlobStore(postgres_url)
    store.set_meta("travel_cursor", "41")
    photos = [_photo(1000) for _ in range(getattr(pgblobs, "CONNECTIONS", 4))]
    other = psycopg.connect(postgres_url)
    stuck: list[_Call] = []
    travel = None
    try:
        for sha256, data in photos:  # another process holds every one of these rows: the uploads wait
            other.execute(
                "INSERT INTO blobs (sha256, size, type, thumb, stored_at, data) VALUES (%s, 1, 'x', false, 1, %s)",
                (sha256, data),
            )
        for sha256, data in photos:
            call = _Call(lambda s=sha256, d=data: store.put(s, d, "image/jpeg", thumb=False, now=2))
            call.start()
            stuck.append(call)
        await wait_until(lambda: _stuck_on_a_lock(postgres_url), timeout=WAIT, what="the uploads wait for the rows")

        async def on_a_loop() -> str:  # as services/blob_travel.py reads its cursor, on the relay's event loop
            return store.meta("travel_cursor")

        travel = _Call(lambda: asyncio.run(on_a_loop()))
        travel.start()
        travel.join(WAIT)
        # Answered at once: the loop (every client of the relay) is not held for as long as the uploads are.
        assert not travel.is_alive(), "the event loop was held behind the stuck uploads"
        assert travel.value == "41", travel.error
    finally:
        other.rollback()
        other.close()
        for call in [*stuck, *([travel] if travel else [])]:
            call.join(WAIT)
    store.close()


DELAY = 0.002  # seconds each chunk between the relay and its database is held: a server a few metres of network away


@contextlib.asynccontextmanager
async def far_database(url: str) -> AsyncIterator[str]:
    """``url`` through a proxy on loopback that holds every chunk, each way, for DELAY seconds (the machine's
    kernel has no netem: TESTBED.md); yields the URL to use."""
    target = urlsplit(url)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                await asyncio.sleep(DELAY)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(target.hostname, target.port)
        for task in (asyncio.ensure_future(pipe(reader, upstream_writer)),
                     asyncio.ensure_future(pipe(upstream_reader, writer))):  # fmt: skip
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield urlunsplit(target._replace(netloc=f"{target.username}@127.0.0.1:{port}"))
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def test_a_phones_post_is_acknowledged_while_a_device_deletes_thousands_of_its_addresses(
    tmp_path: Path, postgres_url: str, key: SecretKey
) -> None:
    device = SecretKey.generate()
    requests = [
        make_event(device, 5, "", tags=[["a", f"30023:{device.public_key_hex}:draft-{n}-{i}"] for i in range(1999)])
        for n in range(3)
    ]  # anyone may sign these: a deletion request of their own (absent) articles, 2,000 tags each
    async with far_database(postgres_url) as far, running_relay(tmp_path, store_url=far) as running:
        async with client(running.url) as hostile, client(running.url) as phone:
            for request in requests:
                await hostile.send(orjson.dumps(["EVENT", request.to_dict()]).decode())
            post = make_event(key, 1, "the bridge on Kirova is closed", created_at=int(time.time()))
            # Acknowledged at once (before, each request took two round trips to the server a tag in the one
            # writer, 16 s here per request, and the post's OK waited behind them).
            ok = await asyncio.wait_for(publish(phone, post), WAIT)
            assert ok[2] is True, ok


@pytest.mark.parametrize("kind", [30023, 5], ids=["addressable", "deletion"])
async def test_a_phones_post_is_acknowledged_while_a_device_floods_events_stored_one_by_one(
    tmp_path: Path, postgres_url: str, key: SecretKey, kind: int
) -> None:
    device = SecretKey.generate()
    # Within one connection's allowed burst (5,000 events), anyone may send these: articles of its own (a
    # different address each), or deletion requests of one id each.
    tag = "d" if kind == 30023 else "e"
    flood = [make_event(device, kind, "", tags=[[tag, f"{i:064x}"]]) for i in range(1500)]
    async with far_database(postgres_url) as far, running_relay(tmp_path, store_url=far) as running:
        async with client(running.url) as hostile, client(running.url) as phone:
            for event in flood:
                await hostile.send(orjson.dumps(["EVENT", event.to_dict()]).decode())
            post = make_event(key, 1, "the bridge on Kirova is open again", created_at=int(time.time()))
            # Acknowledged at once (before, each of them took four to six round trips to the server in the one
            # writer, about 20 ms here: the post's OK waited half a minute behind them).
            ok = await asyncio.wait_for(publish(phone, post), WAIT)
            assert ok[2] is True, ok
