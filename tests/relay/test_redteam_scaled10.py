"""Red team, round 10: what round 9 left of a relay on PostgreSQL (docs/scaling.md, "Red team, round 10").

* The writer's statements had no time limit. A transaction of another relay process that stopped mid-write (its
  machine frozen, or cut off from the server, which keeps its session until TCP gives up) held the write lock, and
  an operator's ``CREATE INDEX`` on ``events`` (not ``CONCURRENTLY``) held the table: every client's ``OK`` waited
  with them, for as long as they lasted (a phone's post had no answer after 20 s here). Now every statement of the
  writer has ``pgconn.WRITE_SECONDS`` and the clients of the batch get ``OK false "error: ... try again"``; nothing
  was stored, and the post sent again once the lock is gone is stored.
* The writer kept a connection it had lost (the server restarted, a failover, a network cut): every write after it
  failed until the relay was restarted. It now connects again, and tries the batch that broke once more. And a
  process frozen mid-write (a suspended machine) held the write lock for as long as the server kept its session
  (until TCP gives up, hours): every other process's writes waited, or were refused as busy, meanwhile; now the
  server ends a writer's session that sits idle in its transaction for ``pgconn.IDLE_SECONDS``.
* NIP-77 builds had one turn per relay process. One address's ``NEG-OPEN`` of the whole store (its builds
  bounded by ``build_seconds``, 10 s) held it, and an honest LAN peer's ``NEG-OPEN`` of one author waited for the
  build to end (each such address ahead of it added as much). Now every build first runs in a quick lane of
  ``quick_seconds`` and, if it did not finish there, again in a slow lane: the peer waits for at most one quick
  turn of each new address ahead of it.
* The photo store's connections (four, for calls from threads) were handed to whoever asked first. One address's
  four uploads waiting on rows another process held (or four slow downloads) held all of them, and a phone's photo
  from another address waited until one ended, up to ``WAIT_SECONDS`` (10 s), then was refused as busy. Now one
  address holds at most three (``pgblobs.PER_ADDRESS``), the relay names the address of each HTTP request to the
  store (``store.base.CALLER``), and a connection that comes free goes to the address holding the fewest.

Real PostgreSQL (samizdat.testing_postgres), real relay and WebSocket clients on loopback, each device on an address
of its own through a trusted balancer's PROXY header (relay/proxied.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from relay_helpers import client, make_event, publish, query
from test_proxied import client as proxied
from test_proxied import raw, v1
from test_redteam_scaled9 import TOPICS, _author, _fill, _neg_open, _running_lists

from samizdat.core.keys import SecretKey
from samizdat.relay.bodies import HttpRequest
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.store import base as store_base
from samizdat.store import pgblobs, pgconn, pgwrites
from samizdat.store.pgblobs import PgBlobStore
from samizdat.store.postgres import PostgresStore
from samizdat.testing import running_relay, wait_until
from samizdat.testing_postgres import POSTGRES_TEMPLATE, Cluster

WAIT = 20.0  # seconds any single step may take at most on a loaded machine, never a sleep


@pytest.mark.parametrize(
    "hold",
    [
        f"SELECT pg_advisory_xact_lock({pgconn.WRITE_LOCK})",  # another relay process stopped mid-write
        "LOCK TABLE events IN SHARE MODE",  # what an operator's CREATE INDEX (not CONCURRENTLY) holds meanwhile
    ],
    ids=["another-process-stuck", "operator-locks-the-table"],
)
async def test_a_phones_post_is_answered_while_the_store_is_held_and_stored_once_it_is_free(
    tmp_path: Path, postgres_url: str, key: SecretKey, monkeypatch: pytest.MonkeyPatch, hold: str
) -> None:
    monkeypatch.setattr(pgconn, "WRITE_SECONDS", 1.0, raising=False)  # the default (5 s) makes the test slower
    posts = [make_event(key, 1, f"checkpoint {n} is closed", created_at=int(time.time())) for n in range(3)]
    async with running_relay(tmp_path, store_url=postgres_url) as running:
        other = psycopg.connect(postgres_url)
        try:
            other.execute(hold)  # and never commits
            phones = [client(running.url) for _ in posts]
            async with phones[0] as a, phones[1] as b, phones[2] as c:
                # Three phones post at once: one batch of the writer, all held.
                oks = await asyncio.wait_for(
                    asyncio.gather(*(publish(ws, post) for ws, post in zip((a, b, c), posts, strict=True))), WAIT
                )
                # Each is told, in one sentence, that its post was not stored (before: no OK at all, for as long
                # as the lock was held).
                for ok in oks:
                    assert ok[2] is False, ok
                    assert ok[3].startswith("error: "), ok
                    assert "try again" in ok[3], ok
                    assert "postgresql://" not in ok[3], ok  # the store's address is the operator's, not theirs
        finally:
            other.rollback()
            other.close()
        async with client(running.url) as phone:
            assert await query(phone, "before", {"ids": [post.id for post in posts]}) == []  # nothing half-stored
            for post in posts:  # sent again, now that the store is free: stored
                ok = await asyncio.wait_for(publish(phone, post), WAIT)
                assert ok[2] is True, ok
            found = await query(phone, "after", {"ids": [post.id for post in posts]})
            assert sorted(event["id"] for event in found) == sorted(post.id for post in posts)


def _end_writers(url: str) -> int:
    """End the sessions of the store's writers on the server, as a restart or a network cut would."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'samizdat-writer'"
            " AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_posts_are_stored_again_once_the_writers_connection_was_lost(
    tmp_path: Path, postgres_url: str, key: SecretKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_relay(tmp_path, store_url=postgres_url) as running, client(running.url) as phone:
        first = make_event(key, 1, "before the restart", created_at=int(time.time()))
        assert (await asyncio.wait_for(publish(phone, first), WAIT))[2] is True
        assert _end_writers(postgres_url) == 1
        # The next posts are stored (before, each got "error: could not store the event", until the relay restarted).
        for n in range(3):
            post = make_event(key, 1, f"after the restart {n}", created_at=int(time.time()))
            ok = await asyncio.wait_for(publish(phone, post), WAIT)
            assert ok[2] is True, ok
        assert len(await query(phone, "all", {"authors": [key.public_key_hex]})) == 4


async def test_a_process_frozen_mid_write_lets_the_others_write(
    tmp_path: Path, postgres_url: str, key: SecretKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgconn, "IDLE_SECONDS", 1.0, raising=False)
    monkeypatch.setattr(pgconn, "WRITE_SECONDS", 30.0, raising=False)  # the other process waits for the lock
    frozen, thaw = threading.Event(), threading.Event()
    add_events = pgwrites.add_events

    def freezing(conn: Any, events: Any, now: int) -> Any:
        if any(event.content == "frozen" for event in events):  # this process stops in its transaction
            frozen.set()
            thaw.wait(WAIT)
        return add_events(conn, events, now)

    monkeypatch.setattr(pgwrites, "add_events", freezing)
    async with running_relay(tmp_path, store_url=postgres_url) as running, client(running.url) as phone:
        try:
            stuck = asyncio.ensure_future(publish(phone, make_event(key, 1, "frozen", created_at=int(time.time()))))
            await asyncio.to_thread(frozen.wait, WAIT)
            other = await PostgresStore.open(postgres_url)  # another relay process on the same database
            try:
                # Stored once the server has ended the frozen session (before, it waited for the lock as long as the
                # frozen process lived: hours, for a machine cut off from the server).
                post = make_event(key, 1, "through the other relay")
                assert (await asyncio.wait_for(other.add(post), WAIT)).name == "STORED"
            finally:
                await other.close()
            thaw.set()
            # The frozen process wakes up: its post is stored on a new connection, and acknowledged only then.
            ok = await asyncio.wait_for(stuck, WAIT)
            assert ok[2] is True, ok
            assert len(await query(phone, "all", {"authors": [key.public_key_hex]})) == 2
        finally:
            thaw.set()


_scratch = itertools.count(1)


@pytest.fixture
def big_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A new database of 400,000 events (test_redteam_scaled9's), dropped afterwards."""
    name = f"redteam_scaled10_{next(_scratch)}"
    url = postgres_cluster.create_database(name, template=POSTGRES_TEMPLATE)
    try:
        _fill(url)
        yield url
    finally:
        postgres_cluster.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_an_honest_peers_sync_is_not_held_behind_one_addresss_build_of_the_whole_store(
    tmp_path: Path, big_url: str
) -> None:
    service = NegentropyService()
    service.build_seconds = 60.0  # the hostile builds run to their end: what an honest peer waits for is measured
    service.quick_seconds = 0.2
    limits = RelayLimits(trusted_proxies=("127.0.0.1/32",))
    async with running_relay(tmp_path, store_url=big_url, limits=limits, negentropy=service) as running:
        async with (
            proxied(running.port, v1("10.0.0.1")) as first,
            proxied(running.port, v1("10.0.0.1")) as second,
            proxied(running.port, v1("10.9.9.9")) as peer,
        ):
            # One device, two connections: each asks for every topic of the store (a different filter each: no
            # shared build), 400,000 events sorted.
            for number, device in enumerate((first, second), 1):
                await device.send(_neg_open("all", {"#t": TOPICS, "since": 1_600_000_000 + number}))
            await wait_until(lambda: _running_lists(big_url) > 0, timeout=WAIT, what="a build reads the store")
            # A LAN peer syncs one channel's author meanwhile.
            await peer.send(_neg_open("channel", {"authors": [_author(7)], "kinds": [1]}))

            async def reply(device: Any) -> list[Any]:
                return list(orjson.loads(await asyncio.wait_for(device.recv(), 120)))

            hostile = [asyncio.ensure_future(reply(device)) for device in (first, second)]
            honest = asyncio.ensure_future(reply(peer))
            try:
                done, _ = await asyncio.wait([honest, *hostile], return_when=asyncio.FIRST_COMPLETED)
                # The peer is answered first (before, it waited until the device's first build had ended: the
                # one build turn was the device's for as long as that took).
                assert honest in done, [task.result() for task in done]
                assert honest.result()[:2] == ["NEG-MSG", "channel"], honest.result()
                # The device's builds go on in the slow lane, to their end: it syncs the whole store (its second one
                # may be refused for memory, its address holding its share already).
                answers = [await task for task in hostile]
                assert ["NEG-MSG", "all"] in [answer[:2] for answer in answers], answers
                for answer in answers:
                    assert answer[0] == "NEG-MSG" or answer[2].startswith("blocked: "), answer
            finally:
                for task in (honest, *hostile):
                    task.cancel()
                await asyncio.gather(honest, *hostile, return_exceptions=True)


async def _http(port: int, address: str, request: bytes) -> bytes:
    """``request`` from ``address`` (through the trusted balancer); the whole answer, once the relay closes."""
    sock = await raw(port, v1(address) + request)
    loop = asyncio.get_running_loop()
    got = b""
    try:
        while chunk := await loop.sock_recv(sock, 65536):
            got += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return got


class _Call(threading.Thread):
    """``fn()`` in a thread of its own (a web request's) for ``address``, keeping what it returned or raised."""

    def __init__(self, address: str, fn: Any) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.fn = fn
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        caller = getattr(store_base, "CALLER", None)
        if caller is not None:
            caller.set(self.address)  # as the relay sets it around a Blossom request, copied into its thread
        try:
            self.value = self.fn()
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            self.error = exc


def _waiting_on_rows(url: str) -> int:
    """Photo store connections waiting for a row another transaction holds."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'samizdat-blobs'"
            " AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_a_phones_photo_is_served_while_one_address_holds_calls_that_wait(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgblobs, "LOCK_SECONDS", 30.0)  # the stuck calls stay stuck meanwhile
    monkeypatch.setattr(pgblobs, "WAIT_SECONDS", 30.0)  # longer than a step of this test: "busy" is no answer here
    store = PgBlobStore(postgres_url)
    small = os.urandom(20_000)
    store.put(hashlib.sha256(small).hexdigest(), small, "image/jpeg", thumb=False, now=1)
    photos = [os.urandom(1000) for _ in range(pgblobs.CONNECTIONS)]
    other = psycopg.connect(postgres_url)  # another relay process storing these very photos, not committed yet
    stuck: list[_Call] = []
    phone = None
    try:
        for data in photos:
            other.execute(
                "INSERT INTO blobs (sha256, size, type, thumb, stored_at, data) VALUES (%s, 1, 'x', false, 1, %s)",
                (hashlib.sha256(data).hexdigest(), data),
            )
        for data in photos:  # one device's calls (uploads here; slow downloads alike): each waits for its row
            sha256 = hashlib.sha256(data).hexdigest()
            call = _Call("10.0.0.1", lambda s=sha256, d=data: store.put(s, d, "image/jpeg", thumb=False, now=2))
            call.start()
            stuck.append(call)
        await wait_until(lambda: _waiting_on_rows(postgres_url) >= 2, timeout=WAIT, what="the device's calls wait")
        # A phone on another address asks for a photo: served at once (before, it waited until one of the device's
        # calls ended, or WAIT_SECONDS, 10 s, and was then refused as busy).
        phone = _Call("10.9.9.9", lambda: store.get(hashlib.sha256(small).hexdigest()))
        phone.start()
        phone.join(WAIT)
        assert not phone.is_alive(), "the phone's photo waited behind the device's calls"
        assert phone.value == small, phone.error
    finally:
        other.rollback()  # the other process gave up: the device's calls go on, and store them
        other.close()
        for call in [*stuck, *([phone] if phone else [])]:
            call.join(WAIT)
    assert all(call.error is None and call.value is True for call in stuck)  # none lost
    store.close()


async def test_the_relay_names_the_address_of_each_request_to_the_store(tmp_path: Path) -> None:
    caller = getattr(store_base, "CALLER", None)
    assert caller is not None, "the store is told nobody's address"

    async def blossom(request: HttpRequest) -> tuple[int, str, bytes]:
        # As web/blossom.py calls the photo store: in a thread, which sees the request's context.
        return 200, "text/plain", str(await asyncio.to_thread(caller.get)).encode()

    limits = RelayLimits(trusted_proxies=("127.0.0.1/32",))
    async with running_relay(tmp_path, limits=limits, request_handler=blossom, max_body=1000) as running:
        get = b"GET /anything HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"
        assert (await asyncio.wait_for(_http(running.port, "10.9.9.9", get), WAIT)).endswith(b"10.9.9.9")
        assert (await asyncio.wait_for(_http(running.port, "10.0.0.1", get), WAIT)).endswith(b"10.0.0.1")
    assert caller.get() is None  # set around each request only
