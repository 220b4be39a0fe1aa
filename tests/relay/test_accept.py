"""Connections over the caps are refused at accept(), before asyncio builds anything for them
(``relay/accept.py``): a flood from one address gets its 503s while another address connects, the refused ones
never reach the WebSocket layer, and the counts come back to zero whichever way the connections end (TLS
handshakes included).

The remote addresses are loopback aliases (127.0.0.2, ...) that a patched ``samizdat.relay.door.peer_ip`` counts
as other devices (loopback itself is exempt from the per-address cap); the burst test, which reads the kernel's
listen-queue counters, runs in a network namespace of its own (``relay_netns.py``), as ``test_door.py`` does.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from relay_devices import devices_at
from relay_netns import AddressLab, missing
from websockets.asyncio.client import connect

from samizdat.relay import accept
from samizdat.relay import door as door_module
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import wait_until

ATTACKER, NEIGHBOUR = "127.0.0.2", "127.0.0.3"
#: Whom each loopback alias counts as (anything else is this machine, exempt).
DEVICES = {ATTACKER: "203.0.113.7", NEIGHBOUR: "198.51.100.9"}
PER_IP = 4
FLOOD = 300
BURST = 1000  # connections that arrive while the relay is busy (asyncio's old queue held 100)


@pytest.fixture(autouse=True)
def devices(monkeypatch: pytest.MonkeyPatch) -> None:
    devices_at(monkeypatch, DEVICES)


def dial(source: str, port: int) -> socket.socket:
    sock = socket.socket()
    try:
        sock.bind((source, 0))
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def ask(source: str, port: int) -> bytes:
    """A plain HTTP request from ``source``; everything the relay sends until it closes (a reset is an error)."""
    with dial(source, port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return read_all(sock)


async def req_eose(source: str, port: int) -> bool:
    sock = await asyncio.to_thread(dial, source, port)
    async with connect(f"ws://127.0.0.1:{port}/", sock=sock, open_timeout=10, close_timeout=1) as ws:
        await ws.send('["REQ","s",{"kinds":[1]}]')
        return bool(orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == ["EOSE", "s"])


def counting(relay: RelayServer) -> list[str | None]:
    """Make ``relay`` (not started) note the address of every connection its WebSocket layer is built for."""
    built: list[str | None] = []
    make = relay._connection_class

    def connection_class() -> Any:
        base = make()

        def connection_made(self: Any, transport: Any) -> None:
            built.append(door_module.peer_ip(transport.get_extra_info("peername")))
            base.connection_made(self, transport)

        return type("Counted", (base,), {"connection_made": connection_made})

    relay._connection_class = connection_class  # type: ignore[method-assign]
    return built


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (Debian's openssl package)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


async def test_a_flood_over_the_cap_is_refused_at_accept_while_another_address_connects(
    sqlite_store: SqliteStore,
) -> None:
    relay = RelayServer(sqlite_store, limits=RelayLimits(max_connections_per_ip=PER_IP))
    built = counting(relay)
    await relay.start("127.0.0.1", 0)
    port = relay.port
    attacker = DEVICES[ATTACKER]
    held = []
    try:
        # The attacker fills its cap with WebSockets...
        for _ in range(PER_IP):
            sock = await asyncio.to_thread(dial, ATTACKER, port)
            held.append(await connect(f"ws://127.0.0.1:{port}/", sock=sock, open_timeout=10, close_timeout=1))
        assert relay.door.per_ip == {attacker: PER_IP}
        # ... and floods it from several threads, while its neighbour reads.
        with ThreadPoolExecutor(8) as pool:
            flood = asyncio.gather(*(asyncio.get_running_loop().run_in_executor(pool, ask, ATTACKER, port)
                                     for _ in range(FLOOD)))  # fmt: skip
            assert await req_eose(NEIGHBOUR, port)
            answers = await flood
        # Every one of the flood got the whole 503 and a clean end of stream (no reset)...
        assert all(a.startswith(b"HTTP/1.1 503 ") and a.endswith(b"try again later.\n") for a in answers)
        # ... none of them got as far as the WebSocket layer (only the held ones and the neighbour did) ...
        assert built.count(attacker) == PER_IP
        assert built.count(DEVICES[NEIGHBOUR]) == 1
        assert relay.refusals.totals[door_module.OVER_ADDRESS] == FLOOD
        # ... and the attacker's held connections still work.
        await held[0].send('["REQ","h",{"kinds":[1]}]')
        assert orjson.loads(await asyncio.wait_for(held[0].recv(), 10)) == ["EOSE", "h"]
    finally:
        for ws in held:
            await ws.close()
    # Once they are gone every place is given back, and the attacker may come in again.
    await wait_until(lambda: relay.door.open == 0, what="every connection to be given back")
    assert relay.door.per_ip == {}
    assert relay.door.accepted == {}
    assert await req_eose(ATTACKER, port)
    await relay.stop()


async def test_a_tls_handshake_counts_from_accept_and_gives_its_place_back(
    sqlite_store: SqliteStore, certificate: tuple[Path, Path]
) -> None:
    """A connection that never starts its TLS handshake holds a place from the accept (a TLS slowloris cannot
    go around the cap), one over the cap is closed without a plain-text answer, and a handshake that times out
    gives its place back although no WebSocket was ever built for it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    relay = RelayServer(sqlite_store, limits=RelayLimits(max_connections_per_ip=2, handshake_timeout=1.0))
    await relay.start("127.0.0.1", 0, tls=context)
    port = relay.port
    attacker = DEVICES[ATTACKER]
    silent = [await asyncio.to_thread(dial, ATTACKER, port) for _ in range(2)]
    try:
        await wait_until(lambda: relay.door.per_ip.get(attacker) == 2, what="the silent ones to be counted")
        over = await asyncio.to_thread(dial, ATTACKER, port)
        with over:
            assert await asyncio.to_thread(over.recv, 1024) == b""  # closed, no plain text on a TLS port
        client = ssl.create_default_context(cafile=str(certificate[0]))
        sock = await asyncio.to_thread(dial, NEIGHBOUR, port)
        async with connect(f"wss://127.0.0.1:{port}/", sock=sock, ssl=client, server_hostname="127.0.0.1",
                           open_timeout=10, close_timeout=1) as ws:  # fmt: skip
            await ws.send('["REQ","s",{"kinds":[1]}]')
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == ["EOSE", "s"]
            assert relay.door.per_ip[DEVICES[NEIGHBOUR]] == 1  # counted once: at accept, not again after TLS
        # The silent ones are dropped at the handshake timeout, and their places come back.
        await wait_until(lambda: attacker not in relay.door.per_ip, timeout=15, what="the handshake timeout")
        await wait_until(lambda: relay.door.open == 0, what="every place to be given back")
        assert relay.door.accepted == {}
    finally:
        for s in silent:
            s.close()
        await relay.stop()


async def test_a_host_with_several_addresses_is_served_on_each_on_one_port(sqlite_store: SqliteStore) -> None:
    sockets = accept.listening_sockets("localhost", 0)
    families = {s.family for s in sockets}
    for s in sockets:
        s.close()
    relay = RelayServer(sqlite_store)
    await relay.start("localhost", 0)
    try:
        port = relay.port
        hosts = ["127.0.0.1"] + (["[::1]"] if socket.AF_INET6 in families else [])
        for host in hosts:
            async with connect(f"ws://{host}:{port}/", open_timeout=10, close_timeout=1) as ws:
                await ws.send('["REQ","s",{"kinds":[1]}]')
                assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == ["EOSE", "s"]
    finally:
        await relay.stop()
    with pytest.raises(ConnectionRefusedError):  # stopped: nobody listens any more
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def listen_overflows(lab: AddressLab) -> int:
    """The kernel's count of connections the lab's namespace dropped for a full listen queue."""

    def read() -> int:
        lines = Path("/proc/thread-self/net/netstat").read_text().splitlines()
        for names, values in zip(lines[::2], lines[1::2], strict=False):
            if names.startswith("TcpExt:"):
                return int(dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"])
        raise AssertionError("no TcpExt line in /proc/net/netstat")

    return lab._in_thread(read)


async def test_a_burst_while_the_relay_is_busy_waits_in_the_queue_and_is_refused_there(
    sqlite_store: SqliteStore,
) -> None:
    """While the event loop is busy (a publisher's batch, a slow query), a flood's connections pile up in the
    kernel's listen queue: it holds a thousand of them (none is dropped, which would cost an honest client a
    second), and the next turns answer every one with its 503."""
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    lab = AddressLab()
    try:
        relay = RelayServer(sqlite_store, limits=RelayLimits(max_connections_per_ip=PER_IP))
        await relay.start(sock=lab.listener())
        port, attacker = relay.port, lab.addresses[0]
        burst: list[socket.socket] = []
        try:
            held = [await asyncio.to_thread(lab.connect, attacker, port) for _ in range(PER_IP)]
            burst.extend(held)
            await wait_until(lambda: relay.door.per_ip.get(attacker) == PER_IP, what="the attacker's cap")
            before = listen_overflows(lab)
            connected = threading.Event()

            def flood() -> None:
                for _ in range(BURST):
                    burst.append(lab.connect(attacker, port))
                connected.set()

            threading.Thread(target=flood, name="burst").start()
            # The loop is busy (blocked) until the whole burst has connected: the kernel alone takes them.
            assert connected.wait(30)
            assert listen_overflows(lab) == before
            answers = await asyncio.gather(*(asyncio.to_thread(read_all, s) for s in burst[PER_IP:]))
            assert all(a.startswith(b"HTTP/1.1 503 ") for a in answers)
            assert relay.refusals.totals[door_module.OVER_ADDRESS] == BURST
        finally:
            for s in burst:
                s.close()
            await relay.stop()
    finally:
        lab.close()


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    chunks = []
    for _ in range(1000):
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
