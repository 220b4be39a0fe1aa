"""Red team, round 4: a device on a hub's Wi-Fi against the relay's sync and query side.

Each test puts the device on addresses of its own in a network namespace (relay_netns.py) against a real relay on
a real SQLite store, and checks what a phone or a LAN peer on another address notices.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from relay_helpers import event_message, make_event, recv_until
from relay_netns import AddressLab, websockets_from
from websockets.asyncio.client import ClientConnection

from samizdat.core.event import Event
from samizdat.core.filters import parse_filter
from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy, VectorStorage
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

BASE = int(time.time()) - 100_000


def _events(key: SecretKey, count: int) -> list[Event]:
    return [make_event(key, 1, f"post {i}", created_at=BASE + i) for i in range(count)]


def _storage(events: Iterable[Event]) -> VectorStorage:
    storage = VectorStorage()
    for event in events:
        storage.insert(event.created_at, bytes.fromhex(event.id))
    storage.seal()
    return storage


def _frame(*parts: Any) -> str:
    return orjson.dumps(list(parts)).decode()


async def _sync(ws: ClientConnection, sub_id: str, flt: dict[str, Any], ours: Iterable[Event] = ()) -> set[str]:
    """A whole NIP-77 session as a LAN peer runs it; the ids the relay has and we lack. Fails on NEG-ERR."""
    session = Negentropy(_storage(ours))
    await ws.send(_frame("NEG-OPEN", sub_id, flt, session.initiate().hex()))
    need: set[str] = set()
    for _ in range(100):
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        assert reply[:2] == ["NEG-MSG", sub_id], reply
        message, _, new_need = session.reconcile_client(bytes.fromhex(reply[2]))
        need.update(i.hex() for i in new_need)
        if message is None:
            await ws.send(_frame("NEG-CLOSE", sub_id))
            return need
        await ws.send(_frame("NEG-MSG", sub_id, message.hex()))
    raise AssertionError("no end of reconciliation after 100 rounds")


async def test_a_device_asking_for_every_id_again_and_again_is_paced_and_a_peer_still_syncs(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    # A NEG-MSG of a few bytes asking for a whole range gets hundreds of KB of ids back; 64 connections from two
    # addresses doing so without pause took a reader's REQ p95 to 3.4 s on a real node.
    events = _events(key, 4000)
    await sqlite_store.add_many(events)
    server = RelayServer(sqlite_store, negentropy=NegentropyService())  # the default budget: 8 MB, then 1 MB/s
    await server.start(sock=lab.listener())
    ask_all = Negentropy(_storage(())).initiate().hex()  # "I have nothing": the relay lists every id it has
    try:
        async with websockets_from(lab, server.port) as open_:
            device = [await open_(lab.addresses[0]) for _ in range(12)]
            refusals: list[str] = []
            answered = 0
            refused = asyncio.Event()

            async def flood(ws: ClientConnection) -> None:
                nonlocal answered
                await ws.send(_frame("NEG-OPEN", "n", {}, ask_all))
                for _ in range(200):  # bounded: far more than the budget answers before it runs out
                    reply = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                    if reply[0] == "NEG-ERR":
                        refusals.append(reply[2])
                        refused.set()
                        return
                    if not refused.is_set():
                        answered += 1
                    await ws.send(_frame("NEG-MSG", "n", ask_all))

            flooding = [asyncio.create_task(flood(ws)) for ws in device]
            try:
                await asyncio.wait_for(refused.wait(), 60)
                # The device got its budget's worth, then its connections waited their turns one by one and the
                # ones past those allowed to wait were refused, with one line saying why.
                per_answer = 2 * 32 * len(events)
                assert answered * per_answer <= RelayLimits().sync_bytes_burst + len(device) * per_answer
                assert all(r.startswith("blocked: this address asks for too much sync") for r in refusals)

                # A LAN peer on another address syncs the whole store while the device goes on.
                peer = await open_(lab.addresses[1])
                assert await _sync(peer, "peer", {}) == {e.id for e in events}
                assert not all(task.done() for task in flooding)
            finally:
                for task in flooding:
                    task.cancel()
                await asyncio.gather(*flooding, return_exceptions=True)
    finally:
        await server.stop()


async def test_one_address_shares_one_req_rate_over_all_its_connections(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    # The REQ rate was per connection: 20 a second on each of 64 connections, 1,280 a second from one address.
    await sqlite_store.add_many([make_event(key, 1, "the square at six")])
    clock = FakeClock(time.time())  # no refill during the test: what it counts is the burst
    limits = RelayLimits()
    server = RelayServer(sqlite_store, limits=limits, clock=clock)
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            device = [await open_(lab.addresses[0]) for _ in range(5)]
            per_connection = 45  # within each connection's own burst (100) and subscriptions (50)
            for ws in device:
                for n in range(per_connection):
                    await ws.send(_frame("REQ", f"r{n}", {"kinds": [1], "limit": 1}))
            answers: dict[str, int] = {"EOSE": 0, "CLOSED": 0}
            for ws in device:
                for _ in range(per_connection):
                    async with asyncio.timeout(10):
                        while True:
                            message = orjson.loads(await ws.recv())
                            if message[0] in answers:
                                break
                    answers[message[0]] += 1
                    if message[0] == "CLOSED":
                        assert message[2] == "rate-limited: too many requests, slow down"
            assert answers["EOSE"] == limits.reqs_per_ip_burst
            assert answers["CLOSED"] == len(device) * per_connection - limits.reqs_per_ip_burst

            # A phone on another address has its own.
            phone = await open_(lab.addresses[1])
            await phone.send(_frame("REQ", "mine", {"kinds": [1]}))
            answer = await recv_until(phone, "EOSE")
            assert [m[2]["content"] for m in answer if m[0] == "EVENT"] == ["the square at six"]
    finally:
        await server.stop()


async def test_a_phone_still_searches_when_a_device_holds_every_live_search(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    # Past the 1,024 live searches of everyone, every phone's live search was refused.
    limits = RelayLimits(max_search_subscriptions_total=8)
    server = RelayServer(sqlite_store, limits=limits)
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            for c in range(2):
                ws = await open_(lab.addresses[0])
                for s in range(4):
                    await ws.send(_frame("REQ", f"s{s}", {"search": f"word{c}{s}"}))
                    assert (await recv_until(ws, "EOSE"))[-1][0] == "EOSE"
            assert server.index.searches == limits.max_search_subscriptions_total
            # Another address of the device gets the few every address keeps of its own, and no more ...
            more = await open_(lab.addresses[2])
            await more.send(_frame("REQ", "s", {"search": "x"}))
            await more.send(_frame("REQ", "t", {"search": "y"}))
            assert (await recv_until(more, "EOSE"))[-1] == ["EOSE", "s"]
            assert (await recv_until(more, "EOSE"))[-1] == ["EOSE", "t"]
            await more.send(_frame("REQ", "u", {"search": "z"}))
            refused = (await recv_until(more, "CLOSED"))[-1]
            assert refused[2].startswith("blocked: this relay has too many broad live subscriptions")

            # ... and a phone on another address still follows its search live.
            phone = await open_(lab.addresses[-1])
            await phone.send(_frame("REQ", "mine", {"search": "water"}))
            assert (await recv_until(phone, "EOSE"))[-1] == ["EOSE", "mine"]
            await phone.send(event_message(make_event(key, 1, "bring water to the square")))
            live = await recv_until(phone, "EVENT")
            assert live[-1][2]["content"] == "bring water to the square"
    finally:
        await server.stop()


async def test_a_peer_syncs_when_a_handful_of_addresses_hold_the_sync_memory(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    # Two addresses holding NIP-77 storages filled the relay's sync memory, and every LAN peer's NEG-OPEN that came
    # afterwards got "blocked: too many syncs" until they let go.
    events = _events(key, 3000)
    await sqlite_store.add_many(events)
    service = NegentropyService(memory_records=5000)
    server = RelayServer(sqlite_store, negentropy=service)
    await server.start(sock=lab.listener())
    ask_all = Negentropy(_storage(())).initiate().hex()
    try:
        async with websockets_from(lab, server.port) as open_:
            first, second = await open_(lab.addresses[0]), await open_(lab.addresses[1])
            await first.send(_frame("NEG-OPEN", "a", {"until": BASE + 1999}, ask_all))
            assert (await recv_until(first, "NEG-MSG", timeout=30))[-1][0] == "NEG-MSG"
            await second.send(_frame("NEG-OPEN", "b", {"since": BASE + 1000}, ask_all))
            assert (await recv_until(second, "NEG-MSG", timeout=30))[-1][0] == "NEG-MSG"
            assert service.records_in_memory == 4000

            peer = await open_(lab.addresses[2])
            assert await _sync(peer, "peer", {}) == {e.id for e in events}
            # The memory came from one of the two, which was told its session is closed.
            closed = []
            for ws, sub in ((first, "a"), (second, "b")):
                with_err = [m for m in [await _next_or_none(ws)] if m is not None]
                closed += [m for m in with_err if m[:2] == ["NEG-ERR", sub]]
            assert len(closed) == 1
            assert closed[0][2].startswith("closed: the relay needed this sync's memory")
            assert service.records_in_memory <= service.memory_records
    finally:
        await server.stop()


async def _next_or_none(ws: ClientConnection) -> Any:
    try:
        return orjson.loads(await asyncio.wait_for(ws.recv(), 0.5))
    except TimeoutError:
        return None


class _Conn:
    """What the intake needs of a connection."""

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.pending = 0
        self.tasks: set[Any] = set()
        self.room = asyncio.Event()

    def send(self, frame: bytes) -> bool:
        return True


async def test_a_phones_post_is_read_while_a_few_devices_fill_the_events_waiting(
    sqlite_store: SqliteStore, key: SecretKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 64 MB of events waiting for the store in all: a few devices keeping it full made every phone's post wait as
    # long as they did. The reader loop reads a connection's next message while Intake.crowded says no.
    gate = asyncio.Event()  # the store is busy until the test opens it
    add_many = sqlite_store.add_many

    async def busy(events: Any) -> Any:
        await gate.wait()
        return await add_many(events)

    monkeypatch.setattr(sqlite_store, "add_many", busy)
    server = RelayServer(sqlite_store, limits=RelayLimits(max_pending_event_bytes=500_000))
    intake = server.intake
    try:
        for n, ip in enumerate(("10.0.0.2", "10.0.0.3")):
            for i in range(100):
                intake.put(_Conn(ip), make_event(key, 1, f"flood {n} {i} " + "x" * 1000), True)  # type: ignore[arg-type]
        assert intake.crowded("10.0.0.2")  # the devices wait ...
        assert intake.crowded("10.0.0.3")
        assert not intake.crowded("10.0.0.9")  # ... and a phone's post is still read
        phone = _Conn("10.0.0.9")
        intake.put(phone, make_event(key, 1, "bring water"), True)  # type: ignore[arg-type]
        gate.set()
        await intake.drain()
        assert await sqlite_store.count([parse_filter({"search": "water"})]) == 1
    finally:
        gate.set()
        server.verifier.close()
