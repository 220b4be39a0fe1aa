"""The relay behind a load balancer: PROXY protocol headers from trusted addresses name the client every
per-address limit counts; a header from anyone else, or none from a trusted balancer, closes the connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from samizdat.relay.limits import RelayInfo, RelayLimits
from samizdat.relay.proxied import BAD_HEADER, NO_HEADER, UNTRUSTED_HEADER
from samizdat.relay.proxyproto import V2_SIGNATURE
from samizdat.testing import RunningRelay, running_relay

BALANCER = "127.0.0.1"  # the trusted one; 127.0.0.2 is somebody else on this machine


def v1(client: str, port: int = 40000) -> bytes:
    return f"PROXY TCP4 {client} 192.0.2.1 {port} 443\r\n".encode()


def v2(client: str, port: int = 40000) -> bytes:
    addresses = socket.inet_aton(client) + socket.inet_aton("192.0.2.1") + struct.pack("!HH", port, 443)
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(addresses)) + addresses


async def raw(port: int, first: bytes, source: str = BALANCER) -> socket.socket:
    """A connected socket from ``source`` that has sent ``first``."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    if first:
        await asyncio.get_running_loop().sock_sendall(sock, first)
    return sock


@contextlib.asynccontextmanager
async def client(port: int, header: bytes, source: str = BALANCER) -> AsyncIterator[ClientConnection]:
    sock = await raw(port, header, source)
    ws = await connect(f"ws://127.0.0.1:{port}", sock=sock, open_timeout=5, close_timeout=1)
    try:
        yield ws
    finally:
        await ws.close()


async def closed_without_answer(sock: socket.socket) -> bytes:
    """What the relay sends before closing ``sock`` (b"" when it just closes it)."""
    loop = asyncio.get_running_loop()
    got = b""
    try:
        async with asyncio.timeout(5):
            while chunk := await loop.sock_recv(sock, 4096):
                got += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return got


@pytest.fixture
async def behind(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    limits = RelayLimits(trusted_proxies=(f"{BALANCER}/32",), max_connections_per_ip=2, handshake_timeout=3)
    info = RelayInfo(name="behind", pubkey="ab" * 32, publish_pubkey=False)
    async with running_relay(tmp_path, limits=limits, info=info) as running:
        yield running


async def test_the_per_address_cap_counts_the_address_the_balancer_names(behind: RunningRelay) -> None:
    port = behind.port
    async with client(port, v1("198.51.100.7")), client(port, v2("198.51.100.7", 40001)):
        assert sorted(c.ip for c in behind.server.clients if c.ip) == ["198.51.100.7", "198.51.100.7"]
        with pytest.raises(InvalidStatus) as refused:  # the third from that client, though all come from one balancer
            async with client(port, v1("198.51.100.7", 40002)):
                pass
        assert refused.value.response.status_code == 503
        async with client(port, v1("198.51.100.8")) as other:  # another client behind the same balancer
            await other.send(orjson.dumps(["REQ", "x", {"limit": 1}]).decode())
            assert orjson.loads(await asyncio.wait_for(other.recv(), 5))[0] == "EOSE"


async def test_a_balancers_client_is_never_this_machine(behind: RunningRelay) -> None:
    """A loopback address the balancer names is shown what a remote reader is shown (no node key)."""
    request = b"GET / HTTP/1.1\r\nHost: relay\r\nAccept: application/nostr+json\r\nConnection: close\r\n\r\n"
    answer = await closed_without_answer(await raw(behind.port, v1("127.0.0.5") + request))
    assert b"200 OK" in answer
    assert b'"name":"behind"' in answer
    assert b"ab" * 32 not in answer  # the node's key only for readers on this machine
    # The machine's own reader, naming the machine (a Host such as "relay" could be another site's name pointed at
    # 127.0.0.1: relay/http.py local_reader).
    here = request.replace(b"Host: relay", b"Host: 127.0.0.1")
    direct = await closed_without_answer(await raw(behind.port, here, source="127.0.0.2"))
    assert b"ab" * 32 in direct


async def test_a_trusted_balancer_without_a_header_is_refused(
    behind: RunningRelay, caplog: pytest.LogCaptureFixture
) -> None:
    request = b"GET / HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"
    with caplog.at_level(logging.WARNING, logger="samizdat.relay"):
        assert await closed_without_answer(await raw(behind.port, request)) == b""
    lines = [r.getMessage() for r in caplog.records if "PROXY" in r.getMessage()]
    assert lines == [f"refused or dropped 1 connection: 1 {BAD_HEADER}; most from one address (1)"]
    hostile = v1("198.51.100.7").replace(b"40000", b"040000")
    assert await closed_without_answer(await raw(behind.port, hostile + request)) == b""
    assert behind.server.refusals.totals[BAD_HEADER] == 2
    await asyncio.sleep(0.1)  # the relay's side of the dropped connections is gone
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a dropped one never entered the door
    assert behind.server.door.open == 0
    async with client(behind.port, v1("198.51.100.9")):  # and the relay goes on serving
        pass


async def test_a_header_from_an_untrusted_address_is_refused(behind: RunningRelay) -> None:
    request = b"GET /status HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"
    for header in (v1("198.51.100.7"), v2("198.51.100.7")):
        assert await closed_without_answer(await raw(behind.port, header + request, source="127.0.0.2")) == b""
    assert behind.server.refusals.totals[UNTRUSTED_HEADER] == 2
    assert b"200 OK" in await closed_without_answer(await raw(behind.port, request, source="127.0.0.2"))


async def test_the_header_may_come_in_pieces_and_the_request_with_it(behind: RunningRelay) -> None:
    loop = asyncio.get_running_loop()
    header = v2("203.0.113.4")
    sock = await raw(behind.port, header[:5])
    await asyncio.sleep(0)
    await loop.sock_sendall(sock, header[5:] + b"GET /status HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
    assert b"200 OK" in await closed_without_answer(sock)


async def test_tls_cannot_be_combined_with_trusted_proxies(tmp_path: Path) -> None:
    import ssl

    from samizdat.errors import UsageError

    limits = RelayLimits(trusted_proxies=("10.0.0.0/8",))
    async with running_relay(tmp_path, limits=limits) as running:
        with pytest.raises(UsageError, match="terminate TLS at the proxy"):
            await running.server.start("127.0.0.1", 0, tls=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))


async def test_a_header_that_never_completes_is_dropped_in_time(tmp_path: Path) -> None:
    limits = RelayLimits(trusted_proxies=(f"{BALANCER}/32",), handshake_timeout=0.5)
    async with running_relay(tmp_path, limits=limits) as running:
        sock = await raw(running.port, v1("198.51.100.7")[:20])  # and then nothing
        assert await closed_without_answer(sock) == b""
        assert running.server.refusals.totals[NO_HEADER] == 1
        assert running.server.door.open == 0  # it never entered the door


async def test_web_routes_and_request_handlers_see_the_client(tmp_path: Path) -> None:
    """The operator's login limiter and the photo preview key on ``ws.remote_address``; Blossom's buckets on
    ``request.ip``: both are the client the balancer names."""
    from samizdat.relay.bodies import HttpRequest
    from samizdat.web.operator import address_key

    async def who(ws: Any) -> None:
        await ws.send(address_key(ws.remote_address))

    async def upload(request: HttpRequest) -> tuple[int, str, bytes] | None:
        if request.path != "/upload":
            return None
        return 200, "text/plain", f"{request.ip} {request.loopback} {len(request.body)}".encode()

    limits = RelayLimits(trusted_proxies=(f"{BALANCER}/32",))
    async with running_relay(tmp_path, limits=limits, ws_routes={"/who": who}, request_handler=upload,
                             max_body=1000) as running:  # fmt: skip
        sock = await raw(running.port, v2("198.51.100.7"))
        async with connect(f"ws://127.0.0.1:{running.port}/who", sock=sock, open_timeout=5, close_timeout=1) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "198.51.100.7"
        put = b"PUT /upload HTTP/1.1\r\nHost: relay\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        answer = await closed_without_answer(await raw(running.port, v1("203.0.113.9") + put))
        assert answer.endswith(b"203.0.113.9 False 5")
