"""Red team, round 2: a device on a hub's Wi-Fi that denies readers without sending events.

A device on the Wi-Fi can give itself as many addresses as the network has free. With 64 connections from each
of 158 addresses it held all 10,000 of a real ``samizdat serve``'s places, idle and answering pings, and every
phone that came afterwards got ``503``. A newcomer now takes a place from the address holding the most.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest
from relay_helpers import event_message, make_event, recv_until
from relay_netns import AddressLab, websockets_from
from websockets.asyncio.client import ClientConnection
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus

from samizdat.core.keys import SecretKey
from samizdat.relay.fair import FairScheduler
from samizdat.relay.http import HttpResult
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import wait_until

PER_ADDRESS = 8
ATTACKER_ADDRESSES = 3


async def test_a_device_with_many_addresses_cannot_keep_a_reader_out(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    post = make_event(key, 1, "the square at six")
    await sqlite_store.add_many([post])
    limits = RelayLimits(max_connections=PER_ADDRESS * ATTACKER_ADDRESSES, max_connections_per_ip=PER_ADDRESS)
    server = RelayServer(sqlite_store, limits=limits)
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            attacker = lab.addresses[:ATTACKER_ADDRESSES]
            held = [await open_(address) for address in attacker for _ in range(PER_ADDRESS)]
            assert server.door.open == limits.max_connections  # every place is the attacker's

            reader = await open_(lab.addresses[-1])
            await reader.send(orjson.dumps(["REQ", "r", {"kinds": [1]}]).decode())
            answer = await recv_until(reader, "EOSE")
            assert [m[2]["content"] for m in answer if m[0] == "EVENT"] == ["the square at six"]

            # The place came from the attacker: one of its connections was closed, and it cannot take it back.
            def closed() -> int:
                return sum(1 for ws in held if ws.protocol.close_code is not None or ws.transport.is_closing())

            await wait_until(lambda: closed() == 1, timeout=5)
            with pytest.raises(InvalidStatus) as refused:
                await open_(attacker[0])
            assert refused.value.response.status_code == 503
            assert server.door.open == limits.max_connections

            # The reader's connection stays up and keeps working.
            await reader.send(event_message(make_event(key, 1, "bring water")))
            ok = await recv_until(reader, "OK")
            assert ok[-1][2] is True
    finally:
        await server.stop()


async def _ends(ws: ClientConnection) -> list[Any]:
    """The messages up to the REQ's EOSE or CLOSED."""
    out = []
    async with asyncio.timeout(10):
        while not out or out[-1][0] not in ("EOSE", "CLOSED"):
            out.append(orjson.loads(await ws.recv()))
    return out


async def test_a_device_with_many_addresses_cannot_fill_the_relay_with_subscriptions(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    # 40 addresses, each with 50,000 values of live subscriptions, made a real node hold 1 GB: here the same in small.
    post = make_event(key, 1, "the square at six")
    await sqlite_store.add_many([post])
    limits = RelayLimits(
        max_subscription_values_per_ip=2000, max_subscription_values_total=5000, subscription_values_reserve=100
    )
    server = RelayServer(sqlite_store, limits=limits)
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            refusals = []
            for n, address in enumerate(lab.addresses[:6]):
                ws = await open_(address)
                for s in range(2):
                    authors = [f"{n:02x}{s:02x}{i:060x}" for i in range(1000)]
                    await ws.send(orjson.dumps(["REQ", f"s{s}", {"authors": authors}]).decode())
                    reply = (await _ends(ws))[-1]
                    if reply[0] == "CLOSED":
                        refusals.append(reply[2])
            # The device's first 5,000 values were taken, the rest refused with one line saying why.
            assert len(refusals) == 7
            assert server.index.values <= limits.max_subscription_values_total
            assert all(r.startswith("blocked: the open subscriptions of this relay list too many") for r in refusals)

            # A phone from another address still reads, and still follows what comes.
            reader = await open_(lab.addresses[-1])
            await reader.send(orjson.dumps(["REQ", "r", {"authors": [post.pubkey], "kinds": [1]}]).decode())
            answer = await _ends(reader)
            assert [m[2]["content"] for m in answer if m[0] == "EVENT"] == ["the square at six"]
            await reader.send(event_message(make_event(key, 1, "bring water")))
            live = await recv_until(reader, "EVENT")
            assert live[-1][2]["content"] == "bring water"
    finally:
        await server.stop()


#: A file of the web app (the 1.2 MB secp256k1.wasm, in small).
BODY = bytes(range(256)) * 4096
ANSWERS_PER_ADDRESS = 2


def _web_app(path: str, headers: Headers) -> HttpResult:
    return (200, "application/wasm", BODY) if path == "/app.wasm" else None


def _ask(lab: AddressLab, source: str, port: int) -> socket.socket:
    """A GET of the big file from ``source`` that reads nothing but the status line."""
    sock = lab.connect(source, port, rcvbuf=4096)
    sock.sendall(f"GET /app.wasm HTTP/1.1\r\nHost: {lab.relay_address}:{port}\r\n\r\n".encode())
    return sock


def _status(sock: socket.socket) -> bytes:
    return sock.recv(12)[9:12]


def _read_all(lab: AddressLab, source: str, port: int) -> bytes:
    sock = lab.connect(source, port, timeout=30)
    with sock:
        sock.sendall(f"GET /app.wasm HTTP/1.1\r\nHost: {lab.relay_address}:{port}\r\n\r\n".encode())
        data = bytearray()
        for _ in range(100_000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return bytes(data)


async def test_a_device_asking_for_big_files_and_reading_nothing_holds_a_bounded_share(
    lab: AddressLab, sqlite_store: SqliteStore
) -> None:
    # 64 connections from each of 16 addresses asking for the web app's 1.2 MB secp256k1.wasm and reading nothing
    # took a real node from 222 MB to 1.36 GB: here the same in small.
    limits = RelayLimits(
        max_http_answer_bytes_per_ip=ANSWERS_PER_ADDRESS * len(BODY) + 4096,
        max_http_answer_bytes=2 * ANSWERS_PER_ADDRESS * len(BODY) + 8192,
    )
    server = RelayServer(sqlite_store, limits=limits, http_handler=_web_app)
    listener = lab.listener()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)  # the kernel takes little of each answer
    await server.start(sock=listener)
    held: list[socket.socket] = []
    try:
        first, second = lab.addresses[:2]
        for address in (first, second):
            for _ in range(ANSWERS_PER_ADDRESS):
                held.append(await asyncio.to_thread(_ask, lab, address, server.port))
                assert await asyncio.to_thread(_status, held[-1]) == b"200"
        # One more from an address that already has its share unread: refused with a line saying why.
        held.append(await asyncio.to_thread(_ask, lab, first, server.port))
        refused = await asyncio.to_thread(held[-1].recv, 4096)
        assert refused.startswith(b"HTTP/1.1 503")
        assert b"too much on its way to this address" in refused

        # Everyone's share is taken too: a phone still loads the file whole, and the device loses an answer.
        answer = await asyncio.to_thread(_read_all, lab, lab.addresses[-1], server.port)
        assert answer.startswith(b"HTTP/1.1 200")
        assert answer.endswith(BODY)
        assert server.door.outgoing.closed == 1
        assert server.door.outgoing.total <= limits.max_http_answer_bytes
    finally:
        for sock in held:
            sock.close()
        await server.stop()


async def test_a_reader_goes_before_a_crowd_of_addresses_keeping_the_store_busy() -> None:
    # 60 addresses of one device, each with COUNTs that take the store its whole 2 seconds, kept a phone's REQ
    # waiting more than 30 seconds on a real node: turns went round-robin, and the phone came last.
    now = [0.0]
    turns = FairScheduler(2, clock=lambda: now[0])
    order: list[str] = []
    phone = "10.0.0.200"
    tasks: list[asyncio.Task[None]] = []

    async def query(address: str, seconds: float) -> None:
        async with turns.turn(address, address):
            order.append(address)
            if len(order) == 12:  # the phone asks once each of the device's addresses has used the store
                tasks.append(asyncio.create_task(query(phone, 0.01)))
            now[0] += seconds  # what this turn took of the store
            await asyncio.sleep(0)

    device = [f"10.0.0.{n}" for n in range(2, 12)]
    tasks += [asyncio.create_task(query(address, 2.0)) for _ in range(3) for address in device]
    async with asyncio.timeout(10):
        while len(order) < 31:
            await asyncio.gather(*tasks)
    # It waits for the turns being held, not for a turn of each of the ten addresses.
    assert order.index(phone) <= 12 + turns.slots


async def test_a_device_with_many_addresses_cannot_pile_up_counts(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 addresses with 16 COUNTs each waiting for a busy store held 7 MB an address on a real node.
    await sqlite_store.add_many([make_event(key, 1, "the square at six")])
    gate = asyncio.Event()  # the store is busy (with the device's own slow COUNTs) until the test opens it
    count = sqlite_store.count

    async def busy(filters: Any) -> int:
        await gate.wait()
        return await count(filters)

    monkeypatch.setattr(sqlite_store, "count", busy)
    limits = RelayLimits(max_pending_counts_total=4, pending_counts_reserve=1)
    server = RelayServer(sqlite_store, limits=limits)
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            device = [await open_(address) for address in lab.addresses[:6]]
            for ws in device:
                for n in range(2):
                    await ws.send(orjson.dumps(["COUNT", f"c{n}", {"kinds": [1]}]).decode())
            # The first two addresses filled everyone's share; each further address got one COUNT of its own and
            # was refused the next with a line saying why.
            refusals = [(await recv_until(ws, "CLOSED"))[-1][2] for ws in device[2:]]
            assert refusals == ["rate-limited: too many COUNTs waiting on this relay, try again later"] * 4

            phone = await open_(lab.addresses[-1])
            await phone.send(orjson.dumps(["COUNT", "mine", {"kinds": [1]}]).decode())
            gate.set()
            answer = await recv_until(phone, "COUNT")
            assert answer[-1][2] == {"count": 1}
    finally:
        gate.set()
        await server.stop()
