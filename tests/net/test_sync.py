"""``sync``: reconcile a local store with a real relay (NIP-77) and move exactly the differences.

Two real SQLite stores and a real relay server in this process. A man-in-the-middle relay in front of the real one
plays the hostile relay: it tampers with events, slips in events nobody asked for, or cuts the connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError, TransportError
from samizdat.net.client import RelayClient
from samizdat.net.sync import OverBudget, SyncReport, reconcile, sync
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.store.base import AddOutcome
from samizdat.store.memory import MemoryStore
from samizdat.store.sqlite import SqliteStore

BASE = int(time.time()) - 100_000
CHANNEL = "30333:" + "ab" * 32 + ":minsk-frunzenski"
OTHER_CHANNEL = "30333:" + "cd" * 32 + ":gomel"
#: Generous limits, so that what is tested is sync and not the relay's rate limits (one test uses the defaults).
OPEN_LIMITS = RelayLimits(events_per_second=1e6, events_burst=10**6, reqs_per_second=1e6, reqs_burst=10**6)


def notes(key: SecretKey, label: str, count: int, *, tags: Iterable[list[str]] = (), step: int = 1) -> list[Event]:
    """Signed notes spread over time (three per ``step`` seconds)."""
    return [
        sign_event(key, 1, f"{label} {i}", [list(t) for t in tags], created_at=BASE + i * step // 3)
        for i in range(count)
    ]


def ids(events: Iterable[Event]) -> set[str]:
    return {e.id for e in events}


async def all_ids(store: SqliteStore) -> set[str]:
    return {i.hex() for _, i in [item async for item in store.negentropy_items([Filter()])]}


@pytest.fixture
def key() -> SecretKey:
    return SecretKey.generate()


@pytest.fixture
async def start_relay(remote: SqliteStore) -> AsyncIterator[Callable[..., Any]]:
    """``await start_relay(limits=..., negentropy=True, **service_options)``: a relay on ``remote``."""
    servers: list[RelayServer] = []

    async def start(*, limits: RelayLimits = OPEN_LIMITS, negentropy: bool = True, **options: Any) -> RelayServer:
        # No reuse of cached storages within min_staleness: each sync sees the relay's set as it is now (see
        # tests/relay/test_nip77.py for the cache).
        options.setdefault("min_staleness", 0.0)
        service = NegentropyService(**options) if negentropy else None
        server = RelayServer(
            remote,
            limits=limits,
            negentropy=service,
        )
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


@pytest.fixture
async def relay(start_relay: Callable[..., Any]) -> RelayServer:
    server: RelayServer = await start_relay()
    return server


@pytest.fixture
async def open_client() -> AsyncIterator[Callable[[str], Any]]:
    """``await open_client(url)``: a RelayClient, closed in teardown."""
    clients: list[RelayClient] = []

    async def open_(url: str) -> RelayClient:
        client = await RelayClient.connect(url, timeout=5)
        clients.append(client)
        return client

    try:
        yield open_
    finally:
        for client in clients:
            await client.close()


def url_of(server: RelayServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


# -- a hostile relay in the middle -----------------------------------------------------------------------------

Rewrite = Callable[[list[Any]], list[list[Any]]]


class Mitm:
    """A relay that forwards everything to a real one, rewriting what the real one answers with ``rewrite`` (and
    what the client sends it with ``rewrite_up``).
    When ``cut(message)`` is true for a message on its way to the client, the connection is dropped instead."""

    def __init__(
        self,
        upstream: str,
        rewrite: Rewrite | None = None,
        cut: Callable[[list[Any]], bool] | None = None,
        rewrite_up: Callable[[list[Any]], list[Any]] | None = None,
    ) -> None:
        self.upstream = upstream
        self.rewrite: Rewrite = rewrite or (lambda message: [message])
        self.rewrite_up = rewrite_up or (lambda message: message)
        self.cut = cut or (lambda message: False)
        self.reqs: list[list[Any]] = []
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None, compression=None, close_timeout=1)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        async with connect(self.upstream, max_size=None, compression=None, close_timeout=1) as up:

            async def to_relay() -> None:
                async for raw in ws:
                    message = orjson.loads(raw)
                    if message[0] == "REQ":
                        self.reqs.append(message)
                    changed = self.rewrite_up(message)
                    await up.send(raw if changed is message else orjson.dumps(changed).decode())

            async def to_client() -> None:
                async for raw in up:
                    for message in self.rewrite(orjson.loads(raw)):
                        if self.cut(message):
                            assert ws.transport is not None
                            ws.transport.abort()
                            return
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


def after(count: int, verb: str) -> Callable[[list[Any]], bool]:
    """A ``cut`` predicate: true from the ``count + 1``-th message of kind ``verb`` on."""
    seen = 0

    def cut(message: list[Any]) -> bool:
        nonlocal seen
        if message[0] != verb:
            return False
        seen += 1
        return seen > count

    return cut


@pytest.fixture
async def mitm(relay: RelayServer) -> AsyncIterator[Callable[..., Any]]:
    """``await mitm(rewrite=..., cut=...)``: a hostile relay in front of ``relay``."""
    started: list[Mitm] = []

    async def start(**options: Any) -> Mitm:
        proxy = Mitm(url_of(relay), **options)
        await proxy.start()
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            await proxy.stop()


# -- moving exactly the differences ------------------------------------------------------------------------------


@pytest.fixture
async def two_sides(
    key: SecretKey, local: SqliteStore, remote: SqliteStore
) -> tuple[list[Event], list[Event], list[Event]]:
    """(shared, local only, remote only), already stored."""
    shared = notes(key, "shared", 900)
    local_only = notes(key, "local only", 40, step=60)
    remote_only = notes(key, "remote only", 55, step=45)
    await local.add_many(shared + local_only)
    await remote.add_many(shared + remote_only)
    return shared, local_only, remote_only


async def test_down_fetches_what_the_relay_has(
    two_sides: Any, local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    shared, local_only, remote_only = two_sides
    ingested: list[Event] = []

    async def ingest(events: Sequence[Event]) -> list[AddOutcome]:
        ingested.extend(events)
        return await local.add_many(events)

    client = await open_client(url_of(relay))
    report = await sync(client, local, [Filter()], direction="down", ingest=ingest)

    assert (report.have, report.need) == (len(local_only), len(remote_only))
    assert (report.received, report.sent, report.rejected) == (len(remote_only), 0, 0)
    assert ids(ingested) == ids(remote_only)  # through the caller's ingest, each once
    assert len(ingested) == len(remote_only)
    assert await all_ids(local) == ids(shared + local_only + remote_only)
    assert await all_ids(remote) == ids(shared + remote_only)  # nothing went up
    assert report.round_trips >= 1
    assert report.bytes_in > 0
    assert report.bytes_out > 0
    assert report.errors == []


async def test_up_sends_what_the_relay_lacks(
    two_sides: Any, local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    shared, local_only, remote_only = two_sides
    client = await open_client(url_of(relay))
    report = await sync(client, local, [Filter()], direction="up")

    assert (report.have, report.need) == (len(local_only), len(remote_only))
    assert (report.sent, report.received, report.rejected) == (len(local_only), 0, 0)
    assert await all_ids(remote) == ids(shared + local_only + remote_only)
    assert await all_ids(local) == ids(shared + local_only)


async def test_both_converges_and_a_second_sync_moves_nothing(
    two_sides: Any, local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    shared, local_only, remote_only = two_sides
    client = await open_client(url_of(relay))
    report = await sync(client, local, [Filter()], direction="both")

    assert (report.have, report.need, report.sent, report.received) == (
        len(local_only),
        len(remote_only),
        len(local_only),
        len(remote_only),
    )
    everything = ids(shared + local_only + remote_only)
    assert await all_ids(local) == everything
    assert await all_ids(remote) == everything

    again = await sync(client, local, [Filter()], direction="both")
    assert (again.have, again.need, again.sent, again.received, again.rejected) == (0, 0, 0, 0, 0)
    assert again.round_trips == 1
    assert again.bytes_in < report.bytes_in


async def test_large_differences_take_several_rounds_and_batches(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    shared = notes(key, "shared", 3000)
    local_only = notes(key, "local", 700, step=13)
    remote_only = notes(key, "remote", 1100, step=8)  # more than two REQ batches of ids
    await local.add_many(shared + local_only)
    await remote.add_many(shared + remote_only)

    client = await open_client(url_of(relay))
    report = await sync(client, local, [Filter()], direction="both")

    assert (report.have, report.need, report.sent, report.received) == (700, 1100, 700, 1100)
    assert report.round_trips > 1
    assert await all_ids(local) == await all_ids(remote) == ids(shared + local_only + remote_only)


async def test_filters_scope_the_sync_to_a_channel(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    channel_shared = notes(key, "channel shared", 50, tags=[["a", CHANNEL]])
    channel_local = notes(key, "channel local", 4, tags=[["a", CHANNEL]], step=30)
    channel_remote = notes(key, "channel remote", 6, tags=[["a", CHANNEL]], step=20)
    other_local = notes(key, "other local", 5, tags=[["a", OTHER_CHANNEL]])
    other_remote = notes(key, "other remote", 7, tags=[["a", OTHER_CHANNEL]])
    untagged_remote = notes(key, "untagged remote", 3)
    await local.add_many(channel_shared + channel_local + other_local)
    await remote.add_many(channel_shared + channel_remote + other_remote + untagged_remote)

    client = await open_client(url_of(relay))
    scope = [Filter(tags=(("a", frozenset({CHANNEL})),))]
    report = await sync(client, local, scope, direction="both")

    assert (report.have, report.need, report.sent, report.received) == (4, 6, 4, 6)
    assert await all_ids(local) == ids(channel_shared + channel_local + channel_remote + other_local)
    assert await all_ids(remote) == ids(
        channel_shared + channel_local + channel_remote + other_remote + untagged_remote
    )


async def test_several_filters_add_up(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    admin = SecretKey.generate()
    posts_remote = notes(key, "post", 5, tags=[["a", CHANNEL]])
    deletion_remote = [sign_event(admin, 5, "", [["e", "ee" * 32]], created_at=BASE + 10)]
    unrelated = notes(key, "unrelated", 9)
    await remote.add_many(posts_remote + deletion_remote + unrelated)

    client = await open_client(url_of(relay))
    scope = [
        Filter(tags=(("a", frozenset({CHANNEL})),)),
        Filter(kinds=frozenset({5}), authors=frozenset({admin.public_key_hex})),
    ]
    report = await sync(client, local, scope, direction="down")

    assert (report.need, report.received) == (6, 6)
    assert report.round_trips == 2  # one session per filter
    assert await all_ids(local) == ids(posts_remote + deletion_remote)


async def test_nothing_on_either_side(local: SqliteStore, relay: RelayServer, open_client: Any) -> None:
    client = await open_client(url_of(relay))
    report = await sync(client, local, [], direction="both")  # no filters: everything
    assert (report.have, report.need, report.sent, report.received, report.rejected) == (0, 0, 0, 0, 0)


@pytest.mark.slow
async def test_dense_differences_between_large_sets_fit_the_relays_message_limit(
    open_client: Any,
) -> None:
    """150,000 events with 4% differences on each side: the client's NEG-MSG frames grow with the differences;
    they must stay under the relay's max_message_bytes (default 256 KiB), or the relay drops the connection and
    the sync can never finish. Reconciliation only: the events are unsigned stand-ins (ids and times matter)."""

    def stand_in(i: int, label: str) -> Event:
        event_id = hashlib.sha256(f"{label} {i}".encode()).hexdigest()
        return Event(event_id, "11" * 32, BASE + i * 7 % 150_000, 1, (), "", "00" * 64)

    shared = [stand_in(i, "shared") for i in range(150_000)]
    ours = [stand_in(i * 25, "ours") for i in range(6_000)]
    theirs = [stand_in(i * 25 + 3, "theirs") for i in range(6_000)]
    local, remote = MemoryStore(), MemoryStore()
    await local.add_many(shared + ours)
    await remote.add_many(shared + theirs)
    service = NegentropyService()
    server = RelayServer(remote, negentropy=service)  # default limits
    await server.start("127.0.0.1", 0)
    try:
        client = await open_client(url_of(server))
        sent: list[int] = []
        send_raw = client.send_raw

        async def spy(frame: str) -> None:
            sent.append(len(frame))
            await send_raw(frame)

        client.send_raw = spy
        have, need, _ = await reconcile(client, local, Filter())
    finally:
        await server.stop()
        await local.close()
        await remote.close()
    assert {i.hex() for i in have} == ids(ours)
    assert {i.hex() for i in need} == ids(theirs)
    assert max(sent) <= RelayLimits().max_message_bytes


# -- progress ----------------------------------------------------------------------------------------------------


async def test_progress_is_reported_with_monotone_counts(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, relay: RelayServer, open_client: Any
) -> None:
    local_only = notes(key, "local", 1200, step=2)
    remote_only = notes(key, "remote", 1300, step=2)
    await local.add_many(local_only)
    await remote.add_many(remote_only)
    calls: list[tuple[str, int, int]] = []

    client = await open_client(url_of(relay))
    report = await sync(client, local, [Filter()], direction="both", progress=lambda *args: calls.append(args))

    phases = {phase for phase, _, _ in calls}
    assert phases == {"download", "upload"}
    for phase, expected_total in (("download", report.need), ("upload", report.have)):
        seen = [(done, total) for p, done, total in calls if p == phase]
        assert len(seen) > 1
        assert {total for _, total in seen} == {expected_total}
        dones = [done for done, _ in seen]
        assert dones == sorted(dones)
        assert all(0 < done <= expected_total for done in dones)
        assert dones[-1] == expected_total
    assert (report.need, report.have) == (1300, 1200)


# -- refusals ----------------------------------------------------------------------------------------------------


async def test_a_refused_sync_raises_and_moves_nothing(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, start_relay: Any, open_client: Any
) -> None:
    await remote.add_many(notes(key, "remote", 30))
    await local.add_many(notes(key, "local", 3))
    server = await start_relay(max_records=20)
    client = await open_client(url_of(server))

    with pytest.raises(RemoteProtocolError, match="blocked"):
        await sync(client, local, [Filter()], direction="both")
    assert len(await all_ids(local)) == 3
    assert len(await all_ids(remote)) == 30
    # The connection is still usable, e.g. with a narrower filter.
    report = await sync(client, local, [Filter(since=BASE + 5)], direction="down")
    assert report.received == 15


async def test_a_relay_without_nip_77_is_synced_with_reqs(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, start_relay: Any, open_client: Any
) -> None:
    """More in tests/net/test_sync_req.py."""
    await remote.add_many(notes(key, "remote", 10))
    server = await start_relay(negentropy=False)
    client = await open_client(url_of(server))
    report = await sync(client, local, [Filter()], direction="down")
    assert (report.method, report.received) == ("req", 10)


async def test_upload_beyond_the_relays_rate_limit_loses_nothing(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, start_relay: Any, open_client: Any
) -> None:
    """A relay takes a burst of events, then answers ``rate-limited:``. The upload slows down and sends the
    refused ones again; whatever is still refused in the end is counted as rejected with its reason, and the
    next sync finds exactly those again."""
    local_only = notes(key, "local", 300)
    await local.add_many(local_only)
    server = await start_relay(limits=RelayLimits(events_per_second=200, events_burst=100))
    client = await open_client(url_of(server))

    first = await sync(client, local, [Filter()], direction="up")
    assert first.have == 300
    assert first.sent + first.rejected == 300
    assert all("rate-limited" in error for error in first.errors)
    assert len(await all_ids(remote)) == first.sent
    assert first.sent == 300  # the relay's flood protection slowed the upload down, it did not lose events

    again = await sync(client, local, [Filter()], direction="up")
    assert again.have == first.rejected
    assert len(await all_ids(remote)) == first.sent + again.sent


# -- a hostile relay ---------------------------------------------------------------------------------------------


def tampered(event: dict[str, Any], how: str) -> dict[str, Any]:
    bad = dict(event)
    if how == "content":
        bad["content"] = event["content"] + " (edited by the relay)"
    elif how == "sig":
        bad["sig"] = ("0" if event["sig"][0] != "0" else "1") + event["sig"][1:]
    elif how == "shape":
        bad["kind"] = "one"
    return bad


async def test_invalid_events_from_a_hostile_relay_are_rejected_and_counted(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, mitm: Any, open_client: Any
) -> None:
    remote_only = notes(key, "remote", 12)
    await remote.add_many(remote_only)
    damage = {remote_only[0].id: "content", remote_only[1].id: "content", remote_only[5].id: "sig"}
    damage[remote_only[7].id] = "shape"

    def rewrite(message: list[Any]) -> list[list[Any]]:
        if message[0] == "EVENT" and message[2]["id"] in damage:
            return [[*message[:2], tampered(message[2], damage[message[2]["id"]])]]
        return [message]

    proxy = await mitm(rewrite=rewrite)
    client = await open_client(proxy.url)
    report = await sync(client, local, [Filter()], direction="down")

    assert report.need == 12
    assert report.received == 12 - len(damage)
    assert report.rejected == len(damage)
    stored = await all_ids(local)
    assert stored == ids(remote_only) - set(damage)
    for event_id in stored:  # what was stored is the authors' signed original
        assert await local.get(event_id) == next(e for e in remote_only if e.id == event_id)


async def test_events_nobody_asked_for_are_ignored(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, mitm: Any, open_client: Any
) -> None:
    remote_only = notes(key, "remote", 8)
    await remote.add_many(remote_only)
    stranger = SecretKey.generate()
    slipped = [sign_event(stranger, 1, f"spam {i}", created_at=BASE + i) for i in range(3)]

    def rewrite(message: list[Any]) -> list[list[Any]]:
        if message[0] == "EOSE":
            # Valid, signed events, but not asked for; and every asked-for event a second time.
            return [*(["EVENT", message[1], e.to_dict()] for e in slipped), message]
        if message[0] == "EVENT":
            return [message, message]
        return [message]

    proxy = await mitm(rewrite=rewrite)
    client = await open_client(proxy.url)
    report = await sync(client, local, [Filter()], direction="down")

    assert (report.need, report.received, report.rejected) == (8, 8, 0)
    assert await all_ids(local) == ids(remote_only)
    assert proxy.reqs  # the download did go through the hostile relay


def unfiltered(message: list[Any]) -> list[Any]:
    """A lying NIP-77 relay: it reconciles its whole store, whatever filter the client opened with."""
    return [*message[:2], {}, *message[3:]] if message[0] == "NEG-OPEN" else message


async def test_a_relay_reconciling_outside_the_filter_slips_in_nothing(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, mitm: Any, open_client: Any
) -> None:
    area = notes(key, "in the area", 10, tags=[["g", "u9ed"]])
    elsewhere = notes(key, "elsewhere", 30, tags=[["g", "gbsu"]])
    await remote.add_many(area + elsewhere)

    proxy = await mitm(rewrite_up=unfiltered)
    client = await open_client(proxy.url)
    report = await sync(client, local, [Filter(tags=(("g", frozenset({"u9ed"})),))], direction="down")

    assert await all_ids(local) == ids(area)
    assert report.received == len(area)
    assert report.rejected == len(elsewhere)
    assert any("not in the filter" in error for error in report.errors)


@pytest.mark.parametrize("negentropy", [True, False])
async def test_the_byte_budget_counts_bytes_not_events(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, start_relay: Any, open_client: Any, negentropy: bool
) -> None:
    # 60 events of 40 kB each: 2.4 MB, though 60 events "weigh" 72 kB at the estimate.
    big = [sign_event(key, 1, "x" * 40_000, created_at=BASE + i) for i in range(60)]
    await remote.add_many(big)
    relay = await start_relay(negentropy=negentropy)
    client = await open_client(url_of(relay))
    budget = 500_000

    with pytest.raises(OverBudget) as raised:
        await sync(client, local, [Filter()], direction="down", byte_budget=budget)

    assert raised.value.at_least
    stored = [await local.get(i) for i in await all_ids(local)]
    assert 0 < len(stored) < len(big)
    assert sum(len(e.to_json()) for e in stored if e is not None) <= budget


async def test_a_relay_flooding_a_request_is_cut_short(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, mitm: Any, open_client: Any
) -> None:
    await remote.add_many(notes(key, "remote", 5))
    spam = sign_event(SecretKey.generate(), 1, "spam", created_at=BASE).to_dict()

    def rewrite(message: list[Any]) -> list[list[Any]]:
        if message[0] == "EOSE":
            return [*(["EVENT", message[1], spam] for _ in range(5_000)), message]
        return [message]

    proxy = await mitm(rewrite=rewrite)
    client = await open_client(proxy.url)
    with pytest.raises(RemoteProtocolError, match="far more"):
        await sync(client, local, [Filter()], direction="down")
    assert await all_ids(local) == set()


async def test_an_interrupted_download_resumes_with_the_remainder(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, relay: RelayServer, mitm: Any, open_client: Any
) -> None:
    shared = notes(key, "shared", 500)
    remote_only = notes(key, "remote", 1400, step=2)
    await local.add_many(shared)
    await remote.add_many(shared + remote_only)

    proxy = await mitm(cut=after(1200, "EVENT"))  # the connection dies inside the third batch of ids
    client = await open_client(proxy.url)
    with pytest.raises(TransportError, match="closed|failed"):
        await sync(client, local, [Filter()], direction="down")
    got = await all_ids(local) - ids(shared)
    assert 0 < len(got) < len(remote_only)
    assert got <= ids(remote_only)

    again = await sync(await open_client(url_of(relay)), local, [Filter()], direction="down")
    assert (again.need, again.received) == (len(remote_only) - len(got),) * 2
    assert await all_ids(local) == ids(shared + remote_only)


async def test_a_connection_lost_during_reconciliation_is_a_transport_error(
    key: SecretKey, local: SqliteStore, remote: SqliteStore, mitm: Any, open_client: Any
) -> None:
    await local.add_many(notes(key, "local", 3000))
    await remote.add_many(notes(key, "remote", 3000))
    proxy = await mitm(cut=after(1, "NEG-MSG"))
    client = await open_client(proxy.url)
    with pytest.raises(TransportError, match="closed"):
        await sync(client, local, [Filter()], direction="both")
    assert len(await all_ids(local)) == 3000
    assert len(await all_ids(remote)) == 3000


async def test_report_serialises(relay: RelayServer, local: SqliteStore, open_client: Any) -> None:
    client = await open_client(url_of(relay))
    report = await sync(client, local, [Filter()], direction="down")
    data = report.to_dict()
    assert set(data) >= {"have", "need", "sent", "received", "rejected", "bytes_in", "bytes_out", "round_trips"}
    assert isinstance(report, SyncReport)
    assert orjson.loads(orjson.dumps(data)) == data


async def test_a_relay_that_never_lets_the_reconciliation_end_is_cut_off(
    local: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile relay answers every NEG-MSG with a message that asks for more: the client gives up after
    MAX_ROUNDS with a clear error instead of syncing forever."""
    from samizdat.core.negentropy import Negentropy, VectorStorage
    from samizdat.net import sync as netsync

    monkeypatch.setattr(netsync, "MAX_ROUNDS", 5)
    key = SecretKey.generate()
    await local.add_many([sign_event(key, 1, f"e{i}", created_at=1000 + i) for i in range(100)])

    async def endless(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] in ("NEG-OPEN", "NEG-MSG"):
                # Always the opening message of a different (bigger) set: never settles.
                other = VectorStorage()
                for i in range(200):
                    other.insert(5000 + i, bytes([i]) * 32)
                other.seal()
                await ws.send(orjson.dumps(["NEG-MSG", message[1], Negentropy(other).initiate().hex()]).decode())

    async with serve(endless, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = await RelayClient.connect(f"ws://127.0.0.1:{port}")
        try:
            with pytest.raises(RemoteProtocolError, match="past 5 rounds"):
                await netsync.sync(client, local, [Filter()], direction="down")
        finally:
            await client.close()
