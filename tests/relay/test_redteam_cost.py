"""Red team, round 4: a device on a hub's Wi-Fi sending the costliest requests the REQ rate lets through.

The REQ rate counts requests, not what they cost: a COUNT of ten filters of fifty ``#t`` values each took 0.9 s of
CPU on a 120,000-event store (bench/reqcost.py), so the rate let one address keep a core busy for good. Now each
address has a budget of seconds at the store (relay/storebudget.py). The device is on an address of its own in a
network namespace (relay_netns.py), against a real relay on a real SQLite store; a phone on another address reads.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from relay_helpers import make_event, recv_until
from relay_netns import AddressLab, websockets_from

from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy, VectorStorage
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.relay.storebudget import OVER_BUDGET
from samizdat.store.sqlite import SqliteStore

BASE = int(time.time()) - 100_000
EVENTS = 6000
TOPICS = [f"topic{i}" for i in range(50)]


def _frame(*parts: Any) -> str:
    return orjson.dumps(list(parts)).decode()


async def test_a_device_sending_costly_queries_is_refused_once_its_store_time_is_spent_and_a_phone_still_reads(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    events = [
        make_event(key, 1, f"post {i}", tags=[["t", TOPICS[i % len(TOPICS)]]], created_at=BASE + i)
        for i in range(EVENTS)
    ]
    for start in range(0, EVENTS, 2000):
        await sqlite_store.add_many(events[start : start + 2000])
    # A small budget that a few of the device's queries spend on any machine, and that the phone's ten reads stay
    # inside even on a loaded one: 150 ms, then next to nothing (a microsecond a second: a read is refused rather
    # than wait longer than a second). Each costly query held the store about 30 ms here (more on a loaded
    # machine: fewer are answered), each of the phone's reads one to a few.
    limits = RelayLimits(
        store_seconds_per_ip_burst=0.15, store_seconds_per_ip_per_second=1e-6, store_budget_max_wait=1.0
    )
    server = RelayServer(sqlite_store, limits=limits, negentropy=NegentropyService())
    await server.start(sock=lab.listener())
    # Each counts every stored event, ten times over: far more than a phone ever asks for.
    costly = [{"#t": TOPICS, "since": BASE - i} for i in range(limits.max_filters)]
    sent = 30
    try:
        async with websockets_from(lab, server.port) as open_:
            device = [await open_(lab.addresses[0]) for _ in range(3)]
            for n in range(sent):
                ws = device[n % len(device)]
                if n % 2:
                    await ws.send(_frame("COUNT", f"c{n}", *costly))
                else:
                    await ws.send(_frame("REQ", f"q{n}", *[{**f, "limit": 1} for f in costly]))
            answered, refusals = 0, []
            for ws in device:
                for _ in range(sent // len(device)):
                    async with asyncio.timeout(30):
                        while True:
                            message = orjson.loads(await ws.recv())
                            if message[0] in ("EOSE", "COUNT", "CLOSED"):
                                break
                    if message[0] == "CLOSED":
                        refusals.append(message[2])
                    else:
                        answered += 1
            # The device got a few answers, then one line saying why the rest were refused.
            assert refusals, f"all {answered} of the device's costly queries were answered"
            assert set(refusals) == {OVER_BUDGET}
            assert answered <= sent // 3
            # Its sync asks for the store's time too, and is refused the same way.
            nothing = VectorStorage()
            nothing.seal()
            ask_all = Negentropy(nothing).initiate().hex()
            await device[0].send(_frame("NEG-OPEN", "n", {}, ask_all))
            reply = (await recv_until(device[0], "NEG-ERR", timeout=30))[-1]
            assert reply[2] == OVER_BUDGET

            # A phone on another address reads the newest posts of a topic, again and again, all answered.
            phone = await open_(lab.addresses[1])
            for n in range(10):
                await phone.send(_frame("REQ", f"p{n}", {"#t": ["topic7"], "limit": 5}))
                answer = await recv_until(phone, "EOSE", timeout=30)
                assert [m[2]["content"] for m in answer if m[0] == "EVENT"] == [
                    f"post {i}" for i in range(EVENTS - 50 + 7, 0, -50)
                ][:5]
    finally:
        await server.stop()


def _get(lab: AddressLab, source: str, port: int) -> bytes:
    """One plain HTTP request from ``source`` (the status page), on a connection of its own: the answer's bytes."""
    with lab.connect(source, port) as sock:
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: node.local\r\n\r\n")
        data = b""
        for _ in range(1000):  # bounded: the relay closes the connection after its answer
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


async def test_a_device_opening_connections_as_fast_as_it_can_is_refused_at_the_door_and_a_phone_still_reads(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    # Each plain HTTP request is a connection of its own, 0.3 to 0.6 ms of the event loop: one device sending
    # 2,700 a second (the web app's share asks, its start page) kept 0.8 of a core busy. A small rate here (20, then
    # 1 a second), so that the device's 60 requests in a row go past it on any machine.
    await sqlite_store.add_many([make_event(key, 1, "the square at six")])
    limits = RelayLimits(connections_per_ip_burst=20, connections_per_ip_per_second=1.0)
    server = RelayServer(sqlite_store, limits=limits)
    await server.start(sock=lab.listener())
    try:
        answers = [await asyncio.to_thread(_get, lab, lab.addresses[0], server.port) for _ in range(60)]
        served = [a for a in answers if a.startswith(b"HTTP/1.1 200 ")]
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503 ")]
        assert len(served) + len(refused) == len(answers)
        assert len(refused) >= 20, f"{len(served)} of the device's {len(answers)} requests were answered"
        assert all(b"Too many connections, try again later." in a for a in refused)

        # A phone on another address loads the page and reads the posts.
        assert (await asyncio.to_thread(_get, lab, lab.addresses[1], server.port)).startswith(b"HTTP/1.1 200 ")
        async with websockets_from(lab, server.port) as open_:
            phone = await open_(lab.addresses[1])
            await phone.send(_frame("REQ", "mine", {"kinds": [1]}))
            answer = await recv_until(phone, "EOSE")
            assert [m[2]["content"] for m in answer if m[0] == "EVENT"] == ["the square at six"]
    finally:
        await server.stop()
