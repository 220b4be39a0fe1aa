"""An address over its rate of new connections goes in the penalty box for a second (``relay/door.py``
``Door.in_box``, ``relay/accept.py``): its first refusal gets the 503, its next connections are held unread and
unanswered until the second is over (a device that waits for its answers waits there, instead of coming back
thousands of times a second), or reset at once without a byte once ``MAX_HELD`` are held; meanwhile another address
reads as usual, and after the box the address is judged by its rate again.

The door's clock is the test's (frozen, then moved on by hand), so nothing depends on how fast the machine is. The
remote addresses are loopback aliases that a patched ``peer_ip`` counts as other devices, as in ``test_accept.py``.
"""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import Future, ThreadPoolExecutor

import orjson
import pytest
from relay_devices import devices_at
from websockets.asyncio.client import connect

from samizdat.relay import accept
from samizdat.relay import door as door_module
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import wait_until

ATTACKER, NEIGHBOUR = "127.0.0.2", "127.0.0.3"
DEVICES = {ATTACKER: "203.0.113.7", NEIGHBOUR: "198.51.100.9"}
BURST = 3
FLOOD = 16  # the device's connections at once, each waiting for its answer
HELD = 8  # held at most (accept.MAX_HELD, lowered): the rest are reset at once
RESET = b"<reset>"


@pytest.fixture(autouse=True)
def devices(monkeypatch: pytest.MonkeyPatch) -> None:
    devices_at(monkeypatch, DEVICES)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ask(source: str, port: int) -> bytes:
    """A plain HTTP request from ``source``: everything the relay sends until it closes, or RESET when the
    connection is reset (or refused) before a byte came."""
    sock = socket.socket()
    try:
        sock.bind((source, 0))
        sock.settimeout(20)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        for _ in range(1000):  # bounded: the relay closes after its answer
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return data or RESET
            if not chunk:
                break
            data += chunk
        return data
    except (ConnectionResetError, BrokenPipeError):
        return RESET
    finally:
        sock.close()


async def req_eose(source: str, port: int) -> bool:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    async with connect(f"ws://127.0.0.1:{port}/", sock=sock, open_timeout=10, close_timeout=1) as ws:
        await ws.send('["REQ","s",{"kinds":[1]}]')
        async with asyncio.timeout(10):
            return bool(orjson.loads(await ws.recv()) == ["EOSE", "s"])


def refused(answer: bytes) -> bool:
    return answer.startswith(b"HTTP/1.1 503 ") and answer.endswith(b"try again later.\n")


async def test_a_device_over_its_rate_waits_in_the_box_unanswered_while_its_neighbour_reads(
    sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accept, "MAX_HELD", HELD, raising=False)
    relay = RelayServer(
        sqlite_store, limits=RelayLimits(connections_per_ip_burst=BURST, connections_per_ip_per_second=1.0)
    )
    clock = Clock()
    relay.door.clock = clock
    await relay.start("127.0.0.1", 0)
    port = relay.port
    pool = ThreadPoolExecutor(FLOOD)
    flood: list[Future[bytes]] = []
    try:
        # Its burst is served; the first connection past it is told plainly why it is refused.
        for _ in range(BURST):
            answer = await asyncio.to_thread(ask, ATTACKER, port)
            assert answer.startswith(b"HTTP/1.1 ")
            assert not refused(answer)
        assert refused(await asyncio.to_thread(ask, ATTACKER, port))

        # Now in the box: of FLOOD connections at once, HELD wait unanswered, the rest are reset without a byte...
        flood = [pool.submit(ask, ATTACKER, port) for _ in range(FLOOD)]
        await wait_until(lambda: sum(f.done() for f in flood) >= FLOOD - HELD, timeout=15, what="the resets")
        assert [f.result() for f in flood if f.done()] == [RESET] * (FLOOD - HELD)
        # ... while the neighbour reads, and the held ones are still waiting.
        assert await req_eose(NEIGHBOUR, port)
        assert sum(not f.done() for f in flood) == HELD

        # The second is over: the held ones get their 503, and the device's next connection is judged by its rate
        # again (one second's worth: one connection).
        clock.now += getattr(door_module, "PENALTY_SECONDS", 1.0)
        await wait_until(lambda: all(f.done() for f in flood), timeout=15, what="the held connections' answers")
        held = [f.result() for f in flood if f.result() != RESET]
        assert len(held) == HELD
        assert all(refused(a) for a in held)
        answer = await asyncio.to_thread(ask, ATTACKER, port)
        assert answer.startswith(b"HTTP/1.1 ")
        assert not refused(answer)
        assert relay.refusals.totals[door_module.OVER_RATE] == 1 + FLOOD
    finally:
        await relay.stop()
        pool.shutdown(wait=True, cancel_futures=True)
    await wait_until(lambda: relay.door.open == 0, what="every connection to be given back")


async def test_connections_held_in_the_box_are_closed_when_the_relay_stops(sqlite_store: SqliteStore) -> None:
    relay = RelayServer(sqlite_store, limits=RelayLimits(connections_per_ip_burst=1, connections_per_ip_per_second=1.0))
    relay.door.clock = Clock()
    await relay.start("127.0.0.1", 0)
    port = relay.port
    with ThreadPoolExecutor(4) as pool:
        try:
            assert not refused(await asyncio.to_thread(ask, ATTACKER, port))
            assert refused(await asyncio.to_thread(ask, ATTACKER, port))
            flood = [pool.submit(ask, ATTACKER, port) for _ in range(4)]
            # They wait (the clock is frozen: the box never ends) until the relay stops.
            await wait_until(
                lambda: relay.refusals.totals[door_module.OVER_RATE] == 5, timeout=15, what="the flood's refusals"
            )
            assert await req_eose(NEIGHBOUR, port)
            assert not any(f.done() for f in flood)
        finally:
            await relay.stop()
        await wait_until(lambda: all(f.done() for f in flood), timeout=15, what="the held connections' ends")
        assert [f.result() for f in flood] == [RESET] * 4
