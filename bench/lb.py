"""Behind a load balancer, and ephemeral events across workers (issue 15): what the PROXY protocol costs, and how
fast ephemeral events cross from one worker to another.

1. Parsing: microseconds per header (v1 line, v2 block with a TLV), ``relay/proxyproto.parse``.
2. Connections: WebSocket connections opened and closed one after another on an in-process relay, directly and
   through a trusted "balancer" that sends a PROXY v2 header first (the same client, interleaved rounds).
3. Ephemeral events across two in-process workers (two relays on one SQLite file joined as ``serve --workers 2``
   joins them): a publisher on worker A sends ephemeral events pipelined, a subscriber on worker B counts what
   arrives; once within the burst (all should cross) and once far past the rate bound (what the bound lets over).

Prints the figures and writes the section "Load balancer and ephemeral events (issue 15)" of docs/benchmarks.md.
Run: ``.venv/bin/python bench/lb.py`` (about a minute).
"""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import orjson
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import DOC, write_section

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.relay import shared
from samizdat.relay.bus import LocalBus
from samizdat.relay.limits import RelayLimits
from samizdat.relay.proxyproto import V2_SIGNATURE, parse
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import relays_as_workers, running_relay

TITLE = "## Load balancer and ephemeral events (issue 15)"
ROUNDS = 3
CONNECTIONS = 400  # per round and way
EPHEMERAL_BURST = 1500  # within the burst of 2,000: all should cross
EPHEMERAL_FLOOD = 10_000  # far past 1,000 a second


def v2_header(client: str) -> bytes:
    body = socket.inet_aton(client) + socket.inet_aton("192.0.2.1") + struct.pack("!HH", 40000, 443)
    body += b"\x05" + struct.pack("!H", 16) + secrets.token_bytes(16)  # a unique-id TLV, skipped
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(body)) + body


def parse_cost() -> tuple[float, float]:
    v1 = b"PROXY TCP4 198.51.100.7 203.0.113.1 51234 443\r\nGET / HTTP/1.1\r\n"
    v2 = v2_header("198.51.100.7") + b"GET / HTTP/1.1\r\n"
    result = []
    for data in (v1, v2):
        n = 200_000
        start = time.perf_counter()
        for _ in range(n):
            parse(data)
        result.append((time.perf_counter() - start) / n * 1e6)
    return result[0], result[1]


async def connections(port: int, header: bytes | None, count: int) -> float:
    """Connections per second: open (with ``header`` first, from a balancer) and close, one after another."""
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    for _ in range(count):
        sock = None
        if header is not None:
            sock = socket.socket()
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", port))
            await loop.sock_sendall(sock, header)
        ws = await connect(f"ws://127.0.0.1:{port}", sock=sock, open_timeout=10, close_timeout=2)
        await ws.close()
    return count / (time.perf_counter() - start)


async def connection_cost(tmp: Path) -> tuple[list[float], list[float]]:
    limits = RelayLimits(trusted_proxies=("127.0.0.1/32",), max_connections_per_ip=100_000)
    direct: list[float] = []
    proxied: list[float] = []
    async with running_relay(tmp / "plain") as plain, running_relay(tmp / "behind", limits=limits) as behind:
        await connections(plain.port, None, 50)  # warm up
        await connections(behind.port, v2_header("198.51.100.7"), 50)
        for _ in range(ROUNDS):
            direct.append(await connections(plain.port, None, CONNECTIONS))
            proxied.append(await connections(behind.port, v2_header("198.51.100.7"), CONNECTIONS))
    return direct, proxied


async def ephemeral(tmp: Path, count: int) -> tuple[int, float]:
    """(events that reached worker B, seconds from the first send to the last arrival or the end of waiting)."""
    shared.create(tmp / "limits", 2)
    key = secrets.token_bytes(32)
    stores = [await SqliteStore.open(tmp / "events.sqlite") for _ in range(2)]
    buses = [LocalBus(tmp / "bus", f"w{i}") for i in range(2)]
    views = [shared.SharedLimits(tmp / "limits", i, 2, key) for i in range(2)]
    author = SecretKey.generate()
    events = [sign_event(author, 20001, f"typing {i}", [], created_at=int(time.time())) for i in range(count)]
    async with (
        relays_as_workers(stores, buses, views=views) as joined,
        connect(joined.url(1), max_size=None) as reader,
        connect(joined.url(0), max_size=None) as writer,
    ):
        await reader.send('["REQ","e",{"kinds":[20001],"limit":0}]')
        await reader.recv()
        got = 0
        last = start = time.perf_counter()

        async def send() -> None:
            for event in events:
                await writer.send(orjson.dumps(["EVENT", event.to_dict()]).decode())

        async def drain_oks() -> None:
            for _ in range(count):
                await writer.recv()

        sender = asyncio.gather(send(), drain_oks())
        try:
            while got < count:
                try:
                    await asyncio.wait_for(reader.recv(), 3.0)
                except TimeoutError:
                    break
                got += 1
                last = time.perf_counter()
        finally:
            await sender
        return got, last - start


async def main() -> None:
    load = os.getloadavg()
    v1_us, v2_us = parse_cost()
    print(f"parse: v1 {v1_us:.2f} µs, v2 (with a TLV) {v2_us:.2f} µs per header")
    with tempfile.TemporaryDirectory() as tmp:
        direct, proxied = await connection_cost(Path(tmp))
    print(
        f"connections/s: direct {[round(x) for x in direct]}, through a PROXY v2 header {[round(x) for x in proxied]}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        burst_got, burst_s = await ephemeral(Path(tmp), EPHEMERAL_BURST)
    with tempfile.TemporaryDirectory() as tmp:
        flood_got, flood_s = await ephemeral(Path(tmp), EPHEMERAL_FLOOD)
    print(f"ephemeral across workers: {burst_got}/{EPHEMERAL_BURST} in {burst_s:.2f} s; "
          f"{flood_got}/{EPHEMERAL_FLOOD} in {flood_s:.2f} s")  # fmt: skip
    after = os.getloadavg()
    d, p = statistics.median(direct), statistics.median(proxied)
    lines = [
        TITLE,
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average before the run {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f}, after {after[0]:.1f}. **Measured on a loaded machine** (other engineers' tests shared the "
        "two cores). Command: `.venv/bin/python bench/lb.py`.",
        "",
        f"- PROXY protocol parsing (`relay/proxyproto.parse`): **{v1_us:.1f} µs** per v1 line, **{v2_us:.1f} µs** "
        "per v2 block with a 16-byte TLV: nothing beside a WebSocket handshake.",
        f"- WebSocket connections opened and closed one after another on an in-process relay (client in the same "
        f"process; {ROUNDS} interleaved rounds of {CONNECTIONS}): directly {d:,.0f}/s "
        f"({', '.join(f'{x:,.0f}' for x in direct)}), through a PROXY v2 header from a trusted address "
        f"{p:,.0f}/s ({', '.join(f'{x:,.0f}' for x in proxied)}): {p / d:.2f}x.",
        f"- Ephemeral events across two workers (two relays on one SQLite file, joined as `serve --workers 2`; "
        f"publisher on one, subscriber on the other, pipelined): {EPHEMERAL_BURST:,} sent (within the burst of "
        f"2,000): **{burst_got:,} arrived** in {burst_s:.2f} s ({burst_got / burst_s:,.0f}/s, each verified by "
        f"the receiving worker); {EPHEMERAL_FLOOD:,} sent as fast as one connection can: {flood_got:,} crossed in "
        f"{flood_s:.2f} s (the bound: 1,000 a second after a burst of 2,000; the rest reached only the "
        "publisher's worker).",
    ]
    write_section(DOC, TITLE, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
