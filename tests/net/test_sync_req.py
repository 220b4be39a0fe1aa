"""``sync`` with relays that lack NIP-77: plain REQs in windows of ``created_at``, newest first.

Our own relay with NIP-77 switched off holds the remote side, in a real SQLite store. A front relay in the middle
plays what other relays do: it serves a NIP-11 document of its choosing (or none), never answers ``NEG-OPEN``,
caps every answer at a few events without saying so, reads ``until`` as exclusive (as nostr-relay does), or slips
in events nobody asked for. The tests check what a person would see: which events end up where, the report's
counts, and how the sync says it went.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import orjson
import pytest
from net_helpers import ConnectProxy
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.net import reqsync
from samizdat.net import sync as netsync
from samizdat.net.client import RelayClient
from samizdat.net.pacing import Pacer, Pacing
from samizdat.net.sync import sync
from samizdat.net.transports import parse_transport
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

BASE = int(time.time()) - 100_000
CHANNEL = "30333:" + "ab" * 32 + ":minsk-frunzenski"
OPEN_LIMITS = RelayLimits(events_per_second=1e6, events_burst=10**6, reqs_per_second=1e6, reqs_burst=10**6)
NO_77 = {"name": "plain", "supported_nips": [1, 11]}


def notes(key: SecretKey, label: str, count: int, *, per_second: int = 3, start: int = BASE) -> list[Event]:
    """Signed notes, ``per_second`` of them in each second from ``start`` on."""
    return [sign_event(key, 1, f"{label} {i}", created_at=start + i // per_second) for i in range(count)]


def crowd(keys: list[SecretKey], second: int, count: int, *, tags: Iterable[list[str]] = ()) -> list[Event]:
    """``count`` notes in one second, by the keys in turn."""
    return [
        sign_event(keys[i % len(keys)], 1, f"crowd {second} {i}", [list(t) for t in tags], created_at=second)
        for i in range(count)
    ]


def ids(events: Iterable[Event]) -> set[str]:
    return {e.id for e in events}


async def all_ids(store: SqliteStore) -> set[str]:
    return {i.hex() async for _, i in store.negentropy_items([Filter()])}


@pytest.fixture
async def relay(remote: SqliteStore) -> AsyncIterator[RelayServer]:
    """Our relay on ``remote``, without NIP-77."""
    server = RelayServer(remote, limits=OPEN_LIMITS, negentropy=None)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()


def url_of(server: RelayServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


@pytest.fixture
async def open_client() -> AsyncIterator[Callable[[str], Any]]:
    clients: list[RelayClient] = []

    async def open_(url: str, **options: Any) -> RelayClient:
        client = await RelayClient.connect(url, timeout=5, **options)
        clients.append(client)
        return client

    try:
        yield open_
    finally:
        for client in clients:
            await client.close()


# -- a relay in front, behaving like others do -------------------------------------------------------------------


class Front:
    """Forwards to ``upstream`` and back, changing what it is told to (see the module)."""

    def __init__(
        self,
        upstream: str,
        *,
        nip11: dict[str, Any] | None = None,
        cap: int | None = None,
        exclusive_until: bool = False,
        neg_delay: float | None = None,
        rewrite: Callable[[list[Any]], list[list[Any]]] | None = None,
    ) -> None:
        self.upstream = upstream
        self.nip11 = nip11  # None: no document (a plain GET fails)
        self.cap = cap
        self.exclusive_until = exclusive_until
        self.neg_delay = neg_delay  # None: NEG-* messages are dropped; else forwarded after this many seconds
        self.rewrite = rewrite or (lambda message: [message])
        self.neg_opens = 0
        self.reqs: list[dict[str, Any]] = []
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Front:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, max_size=None, compression=None, close_timeout=1,
            process_request=self._http,
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if "upgrade" in request.headers.get("Connection", "").lower():
            return None
        if self.nip11 is None or request.headers.get("Accept") != "application/nostr+json":
            return connection.respond(HTTPStatus.NOT_FOUND, "no document here\n")
        response = connection.respond(HTTPStatus.OK, orjson.dumps(self.nip11).decode())
        response.headers["Content-Type"] = "application/nostr+json"
        return response

    def _to_relay(self, message: list[Any]) -> list[Any] | None:
        if message[0] == "REQ":
            filters = [dict(f) for f in message[2:]]
            for f in filters:
                self.reqs.append(dict(f))
                if self.cap is not None:
                    f["limit"] = min(int(f.get("limit", self.cap)), self.cap)
                if self.exclusive_until and "until" in f:
                    f["until"] -= 1  # the relay behind reads it as inclusive: this makes it exclusive
            return [*message[:2], *filters]
        return message

    async def _handle(self, ws: ServerConnection) -> None:
        async with connect(self.upstream, max_size=None, compression=None, close_timeout=1) as up:

            async def later(raw: str | bytes, delay: float) -> None:
                await asyncio.sleep(delay)
                await up.send(raw)

            async def to_relay() -> None:
                pending: set[asyncio.Task[None]] = set()
                async for raw in ws:
                    message = orjson.loads(raw)
                    if str(message[0]).startswith("NEG-"):
                        self.neg_opens += message[0] == "NEG-OPEN"
                        if self.neg_delay is not None:
                            task = asyncio.create_task(later(raw, self.neg_delay))
                            pending.add(task)
                            task.add_done_callback(pending.discard)
                        continue
                    changed = self._to_relay(message)
                    if changed is not None:
                        await up.send(orjson.dumps(changed).decode())

            async def to_client() -> None:
                async for raw in up:
                    for message in self.rewrite(orjson.loads(raw)):
                        await ws.send(orjson.dumps(message).decode())

            tasks = [asyncio.create_task(to_relay()), asyncio.create_task(to_client())]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for result in await asyncio.gather(*tasks, return_exceptions=True):
                    if isinstance(result, Exception) and not isinstance(result, ConnectionClosed):
                        raise result


@pytest.fixture
async def front(relay: RelayServer) -> AsyncIterator[Callable[..., Any]]:
    """``await front(nip11=..., cap=..., ...)``: a :class:`Front` before ``relay``, stopped in teardown."""
    started: list[Front] = []

    async def start(**options: Any) -> Front:
        proxy = Front(url_of(relay), **options)
        await proxy.__aenter__()
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            await proxy.__aexit__()


# -- when REQs are used ------------------------------------------------------------------------------------------


async def test_a_relay_that_refuses_nip_77_is_synced_with_reqs(
    local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    key = SecretKey.generate()
    shared, ours, theirs = notes(key, "shared", 60), notes(key, "ours", 7), notes(key, "theirs", 9)
    await local.add_many(shared + ours)
    await remote.add_many(shared + theirs)

    report = await sync(await open_client(url_of(relay)), local, [Filter()])

    assert (report.method, report.have, report.need, report.sent, report.received) == ("req", 7, 9, 7, 9)
    assert report.fallback  # why: its NIP-11 document, or its refusal of NEG-OPEN, whichever came first
    assert await all_ids(local) == await all_ids(remote) == ids(shared + ours + theirs)


async def test_a_nip11_document_without_77_means_reqs_at_once(
    local: SqliteStore, remote: SqliteStore, front: Any, open_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay never answers NEG-OPEN; its document says it lacks NIP-77, so nobody waits for the answer."""
    monkeypatch.setattr(netsync, "NEG_OPEN_TIMEOUT", 120.0)  # were it waited for, the bound below would fail it
    key = SecretKey.generate()
    theirs = notes(key, "theirs", 20)
    await remote.add_many(theirs)
    proxy = await front(nip11=NO_77)

    async with asyncio.timeout(60):
        report = await sync(await open_client(proxy.url), local, [Filter()], direction="down")

    assert (report.method, report.fallback) == ("req", "its NIP-11 document does not list NIP-77")
    assert proxy.neg_opens == 1
    assert report.received == 20
    assert await all_ids(local) == ids(theirs)


async def test_a_relay_that_never_answers_neg_open_is_synced_with_reqs(
    local: SqliteStore, remote: SqliteStore, front: Any, open_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No NIP-11 document and no answer to NEG-OPEN: after NEG_OPEN_TIMEOUT (1 s here), REQs."""
    monkeypatch.setattr(netsync, "NEG_OPEN_TIMEOUT", 1.0)
    key = SecretKey.generate()
    ours, theirs = notes(key, "ours", 4), notes(key, "theirs", 6)
    await local.add_many(ours)
    await remote.add_many(theirs)
    proxy = await front(nip11=None)

    report = await sync(await open_client(proxy.url), local, [Filter()])

    assert (report.method, report.fallback) == ("req", "it did not answer NEG-OPEN within 1 s")
    assert (report.sent, report.received) == (4, 6)
    assert await all_ids(local) == await all_ids(remote) == ids(ours + theirs)


async def test_a_relay_that_lists_77_is_given_time_to_answer(
    local: SqliteStore, start_nip77_relay: Any, open_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay whose document lists 77 may be slow to answer NEG-OPEN (a large store): still NIP-77."""
    monkeypatch.setattr(netsync, "NEG_OPEN_TIMEOUT", 0.2)
    key = SecretKey.generate()
    server, store = await start_nip77_relay()
    await store.add_many(notes(key, "theirs", 5))
    async with Front(url_of(server), nip11={"supported_nips": [1, 11, 77]}, neg_delay=1.0) as proxy:
        report = await sync(await open_client(proxy.url), local, [Filter()], direction="down")
    assert (report.method, report.fallback, report.received) == ("nip77", "", 5)


async def test_method_req_can_be_asked_for(local: SqliteStore, start_nip77_relay: Any, open_client: Any) -> None:
    key = SecretKey.generate()
    server, store = await start_nip77_relay()
    await store.add_many(notes(key, "theirs", 12))
    report = await sync(await open_client(url_of(server)), local, [Filter()], method="req")
    assert (report.method, report.need, report.received) == ("req", 12, 12)


@pytest.fixture
async def start_nip77_relay(tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    from samizdat.relay.negentropy import NegentropyService

    opened: list[tuple[RelayServer, SqliteStore]] = []

    async def start() -> tuple[RelayServer, SqliteStore]:
        store = await SqliteStore.open(tmp_path / f"nip77-{len(opened)}.sqlite")
        server = RelayServer(store, limits=OPEN_LIMITS, negentropy=NegentropyService(min_staleness=0.0))
        await server.start("127.0.0.1", 0)
        opened.append((server, store))
        return server, store

    try:
        yield start
    finally:
        for server, store in opened:
            await server.stop()
            await store.close()


# -- windows -------------------------------------------------------------------------------------------------------


async def test_windows_page_through_a_relay_that_caps_its_answers(
    local: SqliteStore, remote: SqliteStore, front: Any, open_client: Any
) -> None:
    """The relay sends at most 40 events per answer and does not say so; seconds hold up to 90 events."""
    keys = [SecretKey.generate() for _ in range(3)]
    spread = notes(keys[0], "spread", 600, per_second=3)
    crowded = crowd(keys, BASE + 50, 90) + crowd(keys, BASE + 400, 75)  # inside the spread, and after it
    await remote.add_many(spread + crowded)
    proxy = await front(nip11=NO_77, cap=40)

    client = await open_client(proxy.url)
    report = await sync(client, local, [Filter()], direction="down")

    assert report.method == "req"
    assert (report.need, report.received, report.rejected) == (765, 765, 0)
    assert await all_ids(local) == ids(spread + crowded)
    assert any("more events at" in e for e in report.errors)  # said: split per author seen (all were seen)

    again = await sync(client, local, [Filter()], direction="both")
    assert (again.need, again.have, again.received, again.sent) == (0, 0, 0, 0)


async def test_a_crowded_second_is_split_exactly_when_the_filter_lists_authors(
    local: SqliteStore, remote: SqliteStore, front: Any, open_client: Any
) -> None:
    keys = [SecretKey.generate() for _ in range(4)]
    crowded = crowd(keys, BASE, 100)
    stranger = crowd([SecretKey.generate()], BASE, 30)
    await remote.add_many(crowded + stranger + notes(keys[0], "older", 50, start=BASE - 100))
    proxy = await front(nip11=NO_77, cap=30)

    scope = Filter(authors=frozenset(k.public_key_hex for k in keys), since=BASE)
    report = await sync(await open_client(proxy.url), local, [scope], direction="down")

    assert await all_ids(local) == ids(crowded)  # each of the 4 authors alone fits an answer: 25 < 30
    assert report.errors == []


async def test_a_relay_that_reads_until_as_exclusive_loses_nothing(
    local: SqliteStore, remote: SqliteStore, front: Any, open_client: Any
) -> None:
    """nostr-relay queries ``created_at < until``: without the probe, each window would skip the rest of the
    second it ends at."""
    key = SecretKey.generate()
    theirs = notes(key, "theirs", 400, per_second=7)
    await remote.add_many(theirs)
    proxy = await front(nip11=NO_77, cap=50, exclusive_until=True)

    report = await sync(await open_client(proxy.url), local, [Filter()], direction="down")

    assert report.received == 400
    assert await all_ids(local) == ids(theirs)
    assert any(req.get("until") is not None for req in proxy.reqs)


async def test_a_channel_scope_moves_only_the_channel_both_ways(
    local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    key = SecretKey.generate()
    tag = [["a", CHANNEL]]
    shared = [sign_event(key, 1, f"shared {i}", tag, created_at=BASE + i) for i in range(30)]
    ours = [sign_event(key, 1, f"ours {i}", tag, created_at=BASE + 7 * i) for i in range(5)]
    theirs = [sign_event(key, 1, f"theirs {i}", tag, created_at=BASE + 11 * i) for i in range(6)]
    our_other, their_other = notes(key, "our other", 8), notes(key, "their other", 9)
    await local.add_many(shared + ours + our_other)
    await remote.add_many(shared + theirs + their_other)

    scope = [Filter(tags=(("a", frozenset({CHANNEL})),))]
    report = await sync(await open_client(url_of(relay)), local, scope)

    assert (report.method, report.have, report.need, report.sent, report.received) == ("req", 5, 6, 5, 6)
    assert await all_ids(local) == ids(shared + ours + theirs + our_other)
    assert await all_ids(remote) == ids(shared + ours + theirs + their_other)


async def test_what_a_hostile_relay_slips_in_or_alters_is_not_stored(
    local: SqliteStore, remote: SqliteStore, front: Any, open_client: Any
) -> None:
    key = SecretKey.generate()
    theirs = [sign_event(key, 1, f"theirs {i}", [["a", CHANNEL]], created_at=BASE + i) for i in range(10)]
    await remote.add_many(theirs)
    outsider = sign_event(SecretKey.generate(), 1, "not in the channel", created_at=BASE + 3)
    altered = theirs[4].id

    def rewrite(message: list[Any]) -> list[list[Any]]:
        if message[0] == "EVENT" and message[2]["id"] == altered:
            return [[*message[:2], {**message[2], "content": "edited by the relay"}]]
        if message[0] == "EOSE":
            return [["EVENT", message[1], outsider.to_dict()], message]
        return [message]

    proxy = await front(nip11=NO_77, rewrite=rewrite)
    scope = [Filter(tags=(("a", frozenset({CHANNEL})),))]
    report = await sync(await open_client(proxy.url), local, scope, direction="down")

    assert await all_ids(local) == ids(theirs) - {altered}
    assert report.received == 9
    assert report.rejected >= 1  # the altered event, each time the relay sent it
    stored = await local.get(theirs[0].id)
    assert stored == theirs[0]


async def test_one_sync_is_bounded_and_covers_the_newest_first(
    local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a bound of 300 events per sync, the newest of 1,000 arrive; of ours, only those in the window it
    covered go up (older ones may be on the relay in the part not read yet)."""
    monkeypatch.setattr(reqsync, "ROUND_EVENTS", 300)
    key = SecretKey.generate()
    theirs = notes(key, "theirs", 1000, per_second=2)
    old_ours = notes(key, "old ours", 5, start=BASE - 1000)
    new_ours = notes(key, "new ours", 5, start=BASE + 2000)
    await remote.add_many(theirs)
    await local.add_many(old_ours + new_ours)

    report = await sync(await open_client(url_of(relay)), local, [Filter()])

    newest = sorted(theirs, key=lambda e: e.created_at, reverse=True)
    got = await all_ids(local) & ids(theirs)
    assert 0 < len(got) < 1000
    assert ids(newest[: len(got) - 2]) <= got  # newest first (the oldest second read may be partial)
    assert await all_ids(remote) == ids(theirs + new_ours)
    assert any("bound of one sync" in e for e in report.errors)


# -- the relay's NIP-11 document, fetched the way the WebSocket went ------------------------------------------------


async def test_the_nip11_document_comes_through_the_same_proxy(
    relay: RelayServer, start_nip77_relay: Any, open_client: Any
) -> None:
    proxy = await ConnectProxy().start()
    try:
        client = await open_client(url_of(relay), transport=parse_transport(proxy.url))
        document = await client.relay_info()
        assert document is not None
        assert 77 not in document["supported_nips"]
        assert proxy.tunnels == 2  # the WebSocket and the document
        with_77, _ = await start_nip77_relay()
        other = await open_client(url_of(with_77), transport=parse_transport(proxy.url))
        assert 77 in ((await other.relay_info()) or {}).get("supported_nips", [])
    finally:
        await proxy.stop()


# -- pacing ----------------------------------------------------------------------------------------------------------


async def test_the_pacer_pauses_once_the_burst_is_spent(
    local: SqliteStore, relay: RelayServer, open_client: Any, clock: FakeClock
) -> None:
    client = await open_client(url_of(relay))
    pacer = Pacer(client, Pacing(burst=30, chunk=8, pause=1.5), sleep=clock.sleep)
    key = SecretKey.generate()
    events = notes(key, "ours", 60)
    sent = 0
    steps = []
    while sent < len(events):
        step = await pacer.allow(len(events) - sent)
        results = await client.publish_many(events[sent : sent + step])
        assert all(r.accepted for r in results)
        sent += step
        steps.append(step)
    assert steps == [30, 8, 8, 8, 6]
    assert clock.sleeps == [1.5] * 4
