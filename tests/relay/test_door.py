"""The relay's door under a connection flood: half-open connections count against the per-address cap, slow
handshakes are cut off, refusals are summed up in the log instead of a line (or traceback) each; bad HTTP gets a
clear status, HEAD no body; and the open-file limit is raised at start-up.

The per-address tests run the attack from other addresses than loopback (which is exempt), in a network
namespace of their own (``relay_netns.py``).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from relay_netns import AddressLab
from websockets.asyncio.client import connect

from samizdat.relay import door as door_module
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import running_relay, wait_until

PER_IP = 8
HANDSHAKE = 1.5


@pytest.fixture
async def relay(lab: AddressLab, sqlite_store: SqliteStore) -> AsyncIterator[RelayServer]:
    """A relay listening in the lab on its .1 address, with a small per-address cap and handshake timeout."""

    async def op(ws: Any) -> None:  # a WebSocket route beside the relay, as the web app's /op
        async for message in ws:
            await ws.send(message)

    limits = RelayLimits(max_connections_per_ip=PER_IP, handshake_timeout=HANDSHAKE)
    server = RelayServer(sqlite_store, limits=limits, ws_routes={"/op": op})
    await server.start(sock=lab.listener())
    try:
        yield server
    finally:
        await server.stop()


def raw_request(lab: AddressLab, source: str, port: int, data: bytes) -> bytes:
    """Send ``data`` from ``source`` and read the whole answer (the server closes after a plain HTTP answer)."""
    with lab.connect(source, port) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Whether the peer closes ``sock`` (without sending anything) within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


async def ws_works(lab: AddressLab, source: str, port: int) -> bool:
    sock = await asyncio.to_thread(lab.connect, source, port)
    async with connect(f"ws://{lab.relay_address}:{port}/", sock=sock, open_timeout=5, close_timeout=1) as ws:
        await ws.send('["REQ","s",{"kinds":[1]}]')
        return orjson.loads(await asyncio.wait_for(ws.recv(), 5)) == ["EOSE", "s"]


async def test_half_open_connections_count_against_the_address_cap(
    lab: AddressLab, relay: RelayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="samizdat")
    port = relay.port
    attacker, neighbour = lab.addresses[0], lab.addresses[1]
    # The attacker fills its cap with connections that never finish a request: silent ones, half a request,
    # and a WebSocket on /op (every door counts).
    held = [await asyncio.to_thread(lab.connect, attacker, port) for _ in range(PER_IP - 2)]
    held[0].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the end of it
    op_sock = await asyncio.to_thread(lab.connect, attacker, port)
    op = await connect(f"ws://{lab.relay_address}:{port}/op", sock=op_sock, open_timeout=5, close_timeout=1)
    plain = await asyncio.to_thread(lab.connect, attacker, port)
    held.append(plain)
    try:
        await wait_until(lambda: relay.door.per_ip.get(attacker) == PER_IP, what="the attacker's connections")
        # One more from the attacker is refused at once, with a 503, before any request is read.
        for _ in range(200):
            answer = await asyncio.to_thread(raw_request, lab, attacker, port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 ")
        # Another device on the same network is not affected.
        assert await ws_works(lab, neighbour, port)
        await op.send("still here")
        assert await asyncio.wait_for(op.recv(), 5) == "still here"
        # The half-open ones are cut off after the handshake timeout; then the attacker may connect again.
        for sock in held:
            assert await asyncio.to_thread(closed_by_peer, sock, HANDSHAKE * 4)
        await wait_until(lambda: relay.door.per_ip.get(attacker) == 1, what="the half-open ones to be cut off")
        assert await ws_works(lab, attacker, port)
    finally:
        for sock in held:
            sock.close()
        await op.close()
    relay.refusals.flush()
    # The log: no traceback, and the 200 refusals (and the slow handshakes) as at most two summary lines.
    records = [r for r in caplog.records if r.name.startswith("samizdat") and r.levelno >= logging.WARNING]
    assert all(r.exc_info is None for r in records)
    assert 1 <= len(records) <= 2, [r.getMessage() for r in records]
    text = " ".join(r.getMessage() for r in records)
    assert "over the per-address limit" in text
    # How many came from the worst address, not which: a seized hub's log names no device on its Wi-Fi.
    assert "most from one address" in text
    assert attacker not in text
    assert relay.refusals.totals[door_module.OVER_ADDRESS] == 200
    assert relay.refusals.totals[door_module.SLOW_HANDSHAKE] >= PER_IP - 2


async def test_a_flood_of_refusals_writes_a_few_lines(
    lab: AddressLab, relay: RelayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="samizdat.relay.ws")  # even with websockets' own log on
    caplog.set_level(logging.WARNING, logger="samizdat.relay")
    port = relay.port
    relay.refusals.interval = 0.2
    attacker = lab.addresses[5]
    held = [await asyncio.to_thread(lab.connect, attacker, port) for _ in range(PER_IP)]
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        refused = 0
        while loop.time() - started < 1.0:
            answer = await asyncio.to_thread(raw_request, lab, attacker, port, b"GET / HTTP/1.1\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 ")
            refused += 1
        # Junk that is not HTTP at all (closed without an answer), and a request with a repeated Host header, from
        # another address.
        other = lab.addresses[6]
        for junk in (b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", b"GET / HTTP/9\r\n\r\n"):
            assert await asyncio.to_thread(raw_request, lab, other, port, junk) == b""
        twice = b"GET /status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
        answer = await asyncio.to_thread(raw_request, lab, other, port, twice)
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert b"Host header is given more than once" in answer
    finally:
        for sock in held:
            sock.close()
    relay.refusals.flush()
    summaries = [r for r in caplog.records if r.name == "samizdat.relay" and r.levelno >= logging.WARNING]
    assert refused > 20
    assert len(summaries) <= 1.0 / 0.2 + 3  # one line per interval at most, not one per connection
    assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere
    assert relay.refusals.totals[door_module.BAD_REQUEST] == 2


async def test_head_gets_no_body_and_other_methods_405(tmp_path: Path) -> None:
    def handler(path: str, headers: Any) -> Any:
        return (200, "text/html", b"<p>app</p>") if path == "/" else None

    async with running_relay(tmp_path, http_handler=handler) as running:
        port = running.port

        def ask(request: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                return data

        get = await asyncio.to_thread(ask, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.to_thread(ask, b"HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n")
        get_head, get_body = get.split(b"\r\n\r\n", 1)
        head_head, head_body = head.split(b"\r\n\r\n", 1)
        assert head_head.startswith(b"HTTP/1.1 200 ")
        assert head_body == b""
        assert f"Content-Length: {len(get_body)}".encode() in head_head  # what GET would send
        assert (await asyncio.to_thread(ask, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")).endswith(b"\r\n\r\n")
        refused = await asyncio.to_thread(ask, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 405 ")
        assert b"Allow: GET, HEAD" in refused


async def test_the_open_file_limit_is_raised_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3000 + door_module.FD_RESERVE
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-file limit here is {hard}")
    caplog.set_level(logging.INFO, logger="samizdat.relay")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        async with running_relay(tmp_path, limits=RelayLimits(max_connections=3000)) as running:
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == wanted
            assert running.server.door.max_connections == 3000
        assert f"open-file limit raised from 1024 to {wanted}" in caplog.text
        # Where the hard limit is too low, the relay says how many connections it will take instead.
        if hard != resource.RLIM_INFINITY:
            assert door_module.open_file_budget(hard + 5000) == hard - door_module.FD_RESERVE
            assert f"accepting at most {hard - door_module.FD_RESERVE} connections instead of {hard + 5000}" in (
                caplog.text
            )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_refused_connections_that_reset_at_once_log_no_traceback(
    lab: AddressLab, relay: RelayServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A flood of connections over the cap that reset before their 503 is written (a SYN-and-RST scanner) is
    counted in the summary like the others, not logged as a traceback each (it once filled the log)."""
    caplog.set_level(logging.WARNING)
    port = relay.port
    attacker = lab.addresses[7]
    held = [await asyncio.to_thread(lab.connect, attacker, port) for _ in range(PER_IP)]
    await wait_until(lambda: relay.door.per_ip.get(attacker) == PER_IP, what="the attacker's connections")

    def reset_many(count: int) -> None:
        for _ in range(count):
            sock = lab.connect(attacker, port)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST, usually before the relay has accepted it

    try:
        before = relay.refusals.totals[door_module.OVER_ADDRESS]
        await asyncio.to_thread(reset_many, 300)
        await wait_until(
            lambda: relay.refusals.totals[door_module.OVER_ADDRESS] - before == 300, what="300 refusals counted"
        )
        assert await ws_works(lab, lab.addresses[8], port)  # the relay still serves others
    finally:
        for sock in held:
            sock.close()
    assert not [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_the_summary_names_the_worst_address_only_with_verbose(caplog: pytest.LogCaptureFixture) -> None:
    """The operator who wants to block a flooder runs with -v; at the default level the line counts, not names."""
    for level, shown in ((logging.INFO, "one address"), (logging.DEBUG, "192.168.1.23")):
        caplog.clear()
        caplog.set_level(level, logger="samizdat.relay")
        refusals = door_module.RefusalLog(clock=lambda: 0.0)
        for _ in range(3):
            refusals.count(door_module.OVER_ADDRESS, "192.168.1.23")
        refusals.count(door_module.OVER_ADDRESS, "192.168.1.40")
        refusals.flush()
        text = " ".join(r.getMessage() for r in caplog.records if r.name == "samizdat.relay")
        assert f"most from {shown} (" in text, text
        assert ("192.168.1.40" in text) is False
