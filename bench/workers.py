"""``samizdat serve --workers N``: durable ingest with 2 workers against 1 (and nostr-sdk's LocalRelay), the CPU
per event of each stage, and fan-out to many live subscribers of one channel across the workers.

    .venv/bin/python bench/workers.py [--events 50000] [--rounds 2] [--subscribers 20000] [--no-write]

* **ingest**: the same load generator (``bench/loadgen.py ingest``: pre-signed events from ``bench/dataset.py``,
  8 connections, 200 EVENTs in flight each) against ``samizdat serve --workers 1`` and ``--workers 2`` (a plain
  data directory: SQLite, ``OK`` after the commit), each also with ``[relay] verify_in_thread = true`` (which a
  relay with fewer than two spare cores does not pick itself), and with ``SAMIZDAT_FASTADD=0`` (the store
  writing through Python's sqlite3 instead of its compiled fast path) unless ``--no-python-path``, and
  LocalRelay (in memory), in turn, ``--rounds`` times; the median of the rounds is reported, and every round is
  printed with how ``SO_REUSEPORT`` spread the connections. 8 connections, not 4, so that it gives each worker
  some (it spreads connections by a hash, not evenly). The table says how many of the machine's cores the relay
  and the load generator kept busy, and the text what no number of workers can pass on this machine.
* **stages**: in this process, the CPU time per event of parsing (JSON to a checked ``Event``), verifying the
  BIP-340 signature, and storing (``SqliteStore.add_many`` in batches of 200, as the relay's writer batches).
* **fan-out**: ``serve --workers 2``; ``--subscribers`` WebSocket connections in client processes of this script,
  each with one subscription to one channel (``authors`` + ``kinds``); the relay's resident memory (parent and
  workers) before and after gives the memory per idle subscriber; then one post a second for ``--seconds``:
  every subscriber counts the posts it gets (nothing dropped?), one in 20 parses them and records
  publish-to-delivery latency (p50, p99).

Writes a "Workers" section of docs/benchmarks.md (unless ``--no-write``), with the load average: on a machine
shared with other work the figures move.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import dataset  # noqa: E402
from report import write_section  # noqa: E402

TITLE = "## Workers (`serve --workers N`)"

PY = sys.executable
CONNS = 8
WINDOW = 200
BENCH_CONFIG = """
[node]
name = "bench"
[relay]
events_per_second = 1000000000
events_burst = 1000000000
max_connections = {max_connections}
[lan]
mdns = false
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Relay:
    """``samizdat serve --workers N`` on a fresh plain data directory, or LocalRelay; stopped by :meth:`stop`."""

    def __init__(self, kind: str, workers: int = 1, max_connections: int = 10_000, fast: bool = True,
                 verify: bool | None = None) -> None:  # fmt: skip
        """``fast``: False writes through Python's sqlite3 (``SAMIZDAT_FASTADD=0``), not the compiled fast path;
        ``verify``: ``[relay] verify_in_thread`` (None: unset, the relay's own choice)."""
        self.kind, self.workers = kind, workers
        self.dir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
        self.port = free_port()
        self.log = (self.dir / "log").open("wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1", SAMIZDAT_FASTADD="1" if fast else "0")
        if kind == "samizdat":
            home = self.dir / "home"
            samizdat = [PY, "-m", "samizdat", "--home", str(home)]
            subprocess.run([*samizdat, "init", "--no-passphrase"], check=True, capture_output=True, env=env)
            config = BENCH_CONFIG.format(max_connections=max_connections)
            if verify is not None:
                config = config.replace("[relay]\n", f"[relay]\nverify_in_thread = {str(verify).lower()}\n")
            (home / "config.toml").write_text(config)
            cmd = [*samizdat, "serve", "--port", str(self.port), "--workers", str(workers)]
        else:
            cmd = [PY, str(BENCH / "launch_localrelay.py"), "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 120
        ready = "Ctrl-C stops" if kind == "samizdat" else "READY"
        while not (ready in (self.dir / "log").read_text(errors="replace") and accepts(self.port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start: {(self.dir / 'log').read_text()[-2000:]}")
            time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        found = [self.proc.pid]
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            found += [int(c) for c in children]
        return found

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds of the relay's processes, (user, system)."""
        user = system = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                user += int(fields[11]) / tick
                system += int(fields[12]) / tick
        return user, system

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_loadgen(url: str, path: Path, count: int) -> dict[str, Any]:
    cmd = [PY, str(BENCH / "loadgen.py"), "ingest", "--url", url, "--file", str(path), "--count", str(count),
           "--conns", str(CONNS), "--window", str(WINDOW)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = orjson.loads(lines[-1][7:])
    return result


def connections_by_process(port: int) -> Counter[int]:
    """Established connections to ``port`` by the pid that holds them (``ss``)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    return Counter(int(m) for m in re.findall(r"pid=(\d+)", out))


def watch_connections(port: int, stop: threading.Event, seen: list[Counter[int]]) -> None:
    """Every 0.5 s until ``stop``: who holds the load generator's connections (SO_REUSEPORT hashes them)."""
    while not stop.wait(0.5):
        seen.append(connections_by_process(port))


#: The relays of the ingest benchmark: (kind, workers, the store's compiled fast path, `[relay] verify_in_thread`)
#: and their labels.
INGEST = {
    "w1": ("samizdat", 1, True, None, "samizdat `--workers 1`"),
    "w2": ("samizdat", 2, True, None, "samizdat `--workers 2`"),
    "w1thread": ("samizdat", 1, True, True, "samizdat `--workers 1`, signatures checked in a thread"),
    "w2thread": ("samizdat", 2, True, True, "samizdat `--workers 2`, signatures checked in a thread"),
    "w1py": ("samizdat", 1, False, None, "samizdat `--workers 1`, Python's sqlite3 (`SAMIZDAT_FASTADD=0`)"),
    "w2py": ("samizdat", 2, False, None, "samizdat `--workers 2`, Python's sqlite3 (`SAMIZDAT_FASTADD=0`)"),
    "localrelay": ("localrelay", 1, True, None, "nostr-sdk LocalRelay (memory)"),
}


def bench_ingest(events: int, rounds: int, python_path: bool) -> dict[str, Any]:
    path = dataset.ensure("ingest", events)
    names = {name: spec[:4] for name, spec in INGEST.items() if python_path or not name.endswith("py")}
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    gen: dict[str, list[float]] = {name: [] for name in names}  # the load generator's CPU µs per event
    for round_ in range(rounds):
        for name, (kind, workers, fast, verify) in names.items():
            relay = Relay(kind, workers, fast=fast, verify=verify)
            stop, seen = threading.Event(), []
            watcher = threading.Thread(target=watch_connections, args=(relay.port, stop, seen), daemon=True)
            try:
                cpu0 = relay.cpu_seconds()
                watcher.start()
                res = run_loadgen(relay.url, path, events)
                used = relay.cpu_seconds() - cpu0
            finally:
                stop.set()
                relay.stop()
            if res["ok"] != events or res["error"]:
                log(f"  {name}: only {res['ok']} of {events} OK ({res['error']}, {res['reasons']})")
            rates[name].append(res["rate"])
            cpu[name].append(used / max(1, res["ok"]) * 1e6)
            gen[name].append(res["cpu_seconds"] / max(1, res["ok"]) * 1e6)
            log(f"  round {round_ + 1} {name}: {res['rate']:,.0f} events/s, relay CPU {cpu[name][-1]:.0f} µs/event, "
                f"load generator CPU {res['cpu_share']:.0%} of a core{split(seen, workers)}")  # fmt: skip
    best = {name: max(values) for name, values in rates.items()}
    return {"rates": rates, "best": best, "relay_cpu_us": {k: statistics.median(v) for k, v in cpu.items()},
            "loadgen_cpu_us": {k: statistics.median(v) for k, v in gen.items()}}  # fmt: skip


def split(seen: list[Counter[int]], workers: int) -> str:
    """How SO_REUSEPORT spread the load generator's connections over the workers, most of the time."""
    shapes = Counter(" / ".join(str(n) for n in sorted([*c.values(), *[0] * (workers - len(c))], reverse=True))
                     for c in seen if c)  # fmt: skip
    return f", connections per worker {shapes.most_common(1)[0][0]}" if workers > 1 and shapes else ""


def busy_cores(rate: float, relay_us: float, loadgen_us: float) -> float:
    """The cores the relay and the load generator kept busy together at ``rate`` events/s."""
    return rate * (relay_us + loadgen_us) / 1e6


def ceiling(rate: float, relay_us: float, loadgen_us: float, cores: int) -> float:
    """How many times ``rate`` any number of relay processes could reach on ``cores`` cores, if they spent no
    more CPU per event than this relay did and left no cycle idle: the machine's limit, not a measurement."""
    return cores * 1e6 / (relay_us + loadgen_us) / rate


def bench_stages(count: int = 5000) -> dict[str, float]:
    """CPU µs per event of each stage, measured here in one process (one core)."""
    from samizdat.core.event import parse_event_json
    from samizdat.store.sqlite import SqliteStore

    path = dataset.ensure("ingest", count)
    lines = dataset.read_lines(path, count)
    t0 = time.process_time()
    events = [parse_event_json(line, verify=False) for line in lines]
    parse = (time.process_time() - t0) / count * 1e6
    t0 = time.process_time()
    for line in lines:
        parse_event_json(line)  # the id's hash and the BIP-340 signature too
    verify = (time.process_time() - t0) / count * 1e6 - parse

    async def store() -> float:
        directory = Path(tempfile.mkdtemp(prefix="bench-stages-"))
        try:
            db = await SqliteStore.open(directory / "events.sqlite")
            try:
                c0 = resource.getrusage(resource.RUSAGE_SELF)
                for i in range(0, count, 200):
                    await db.add_many(events[i : i + 200])
                c1 = resource.getrusage(resource.RUSAGE_SELF)
            finally:
                await db.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        used = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        return used / count * 1e6

    return {"parse_us": parse, "verify_us": verify, "store_us": asyncio.run(store())}


async def _write_role(db: Path, path: Path, start: int, count: int) -> None:
    """One writer process: ``count`` events from ``start`` into ``db`` in batches of 200; prints its seconds."""
    from samizdat.core.event import parse_event_json
    from samizdat.store.sqlite import SqliteStore

    events = [parse_event_json(x, verify=False) for x in dataset.read_lines(path)[start : start + count]]
    store = await SqliteStore.open(db)
    try:
        print("READY", flush=True)
        sys.stdin.readline()
        t0 = time.perf_counter()
        await asyncio.gather(*(store.add_many(events[i : i + 200]) for i in range(0, count, 200)))
        print(f"DONE {time.perf_counter() - t0:.6f}", flush=True)
    finally:
        await store.close()


def bench_writers(count: int = 20_000, rounds: int = 3) -> dict[str, float]:
    """Durable writes into one SQLite file from one process, and from two at once (each its own writer thread and
    group commit, taking SQLite's write lock in turn): events/s of the whole, best of ``rounds``."""
    path = dataset.ensure("ingest", count)
    rates: dict[str, float] = {"one": 0.0, "two": 0.0}
    for _ in range(rounds):
        for name, procs in (("one", 1), ("two", 2)):
            directory = Path(tempfile.mkdtemp(prefix="bench-writers-"))
            try:
                db = directory / "events.sqlite"
                share = count // procs
                children = []
                for i in range(procs):
                    cmd = [PY, __file__, "write-role", str(db), str(path), str(i * share), str(share)]
                    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    children.append(child)
                    assert child.stdout is not None
                    assert child.stdout.readline().startswith("READY")  # one by one: the first creates the file
                t0 = time.perf_counter()
                for child in children:
                    assert child.stdin is not None
                    child.stdin.write("go\n")
                    child.stdin.flush()
                for child in children:
                    assert child.stdout is not None
                    child.stdout.readline()
                    child.wait(60)
                rates[name] = max(rates[name], count / (time.perf_counter() - t0))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        log(f"  writers: one process {rates['one']:,.0f} events/s, two processes {rates['two']:,.0f} events/s")
    return rates


# -- fan-out ------------------------------------------------------------------------------------------------------


class CountingClient(asyncio.Protocol):
    """A WebSocket subscriber that only frames and counts what it gets (and answers pings): a load generator that
    costs little, so that the relay, not the clients, is what is measured. Frames from a server are not masked;
    ours are masked with a zero key (allowed: the mask bit is what the protocol requires)."""

    def __init__(self, host: str, req: bytes, ready: Any) -> None:
        self.host, self.req, self.ready = host, req, ready
        self.buffer = b""
        self.upgraded = False
        self.subscribed = False
        self.events = 0
        self.transport: asyncio.Transport | None = None

    @staticmethod
    def frame(opcode: int, payload: bytes) -> bytes:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        return head + b"\0\0\0\0" + payload

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(
            f"GET / HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            assert self.transport is not None
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.transport.close()
                return
            self.upgraded = True
            buffer = buffer[end + 4 :]
            self.transport.write(self.frame(1, self.req))
        while len(buffer) >= 2:
            opcode, n, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if n == 126:
                if len(buffer) < 4:
                    break
                n, at = int.from_bytes(buffer[2:4], "big"), 4
            elif n == 127:
                if len(buffer) < 10:
                    break
                n, at = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < at + n:
                break
            payload = buffer[at : at + n]
            buffer = buffer[at + n :]
            if opcode == 1:
                if payload.startswith(b'["EVENT"'):
                    self.events += 1
                elif not self.subscribed and payload.startswith(b'["EOSE"'):
                    self.subscribed = True
                    self.ready(True)
            elif opcode == 9 and self.transport is not None:
                self.transport.write(self.frame(10, payload))
        self.buffer = buffer

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed:
            self.subscribed = True
            self.ready(False)


async def subscriber_role(url: str, count: int, author: str, parse_every: int) -> None:
    """Client process: ``count`` subscriptions to ``author``'s posts; READY once all have EOSE; then count
    EVENTs per connection until STOP on stdin. One connection in ``parse_every`` is a full WebSocket client
    (websockets) that parses every post and records its publish-to-delivery latency; the rest only count."""
    from websockets.asyncio.client import connect

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    parsed = range(0, count, parse_every)
    counts = dict.fromkeys(parsed, 0)
    latencies: list[float] = []
    ready = [0]
    failed = [0]
    all_ready = asyncio.Event()
    slots = asyncio.Semaphore(64)
    req = orjson.dumps(["REQ", "s", {"authors": [author], "kinds": [1], "limit": 0}])

    def on_ready(ok: bool) -> None:
        failed[0] += not ok
        ready[0] += 1
        if ready[0] == count:
            all_ready.set()

    async def one(i: int) -> None:
        try:
            async with slots:
                ws = await connect(url, open_timeout=120, ping_interval=None, close_timeout=1, compression=None,
                                   max_queue=64)  # fmt: skip
                await ws.send(req, text=True)
                while not (await ws.recv(decode=False)).startswith(b'["EOSE"'):
                    pass
        except Exception:  # noqa: BLE001 (counted: the report says how many failed)
            on_ready(False)
            return
        on_ready(True)
        try:
            while True:
                raw = await ws.recv(decode=False)
                if raw.startswith(b'["EVENT"'):
                    counts[i] += 1
                    content = orjson.loads(raw)[2]["content"].split(" ")
                    latencies.append(time.time() - float(content[2]))
        except Exception:  # noqa: BLE001 (closed at the end)
            pass

    counters: list[CountingClient] = []
    host, port = url.removeprefix("ws://").rsplit(":", 1)

    async def counting() -> None:
        async with slots:
            client = CountingClient(f"{host}:{port}", req, on_ready)
            counters.append(client)
            try:
                await asyncio.get_running_loop().create_connection(lambda: client, host, int(port))
            except OSError:
                client.subscribed = True
                on_ready(False)

    tasks = [asyncio.create_task(one(i)) for i in parsed]
    tasks += [asyncio.create_task(counting()) for _ in range(count - len(parsed))]
    await asyncio.wait_for(all_ready.wait(), 600)
    print(f"READY {failed[0]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    data = {"counts": list(counts.values()) + [c.events for c in counters], "latencies": latencies,
            "failed": failed[0]}  # fmt: skip
    print("RESULT " + orjson.dumps(data).decode(), flush=True)


async def publish_posts(url: str, key: Any, seconds: int) -> int:
    from websockets.asyncio.client import connect

    from samizdat.core.event import sign_event

    sent = 0
    async with connect(url, open_timeout=60, close_timeout=1) as ws:
        for seq in range(seconds):
            started = time.monotonic()
            event = sign_event(key, 1, f"fanout {seq} {time.time():.6f}", [], created_at=int(time.time()))
            await ws.send(orjson.dumps(["EVENT", event.to_dict()]).decode())
            while not (reply := orjson.loads(await ws.recv()))[0] == "OK":
                pass
            sent += bool(reply[2])
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    return sent


def bench_fanout(subscribers: int, seconds: int, per_process: int = 2500) -> dict[str, Any]:
    from samizdat.core.keys import SecretKey

    key = SecretKey.generate()
    relay = Relay("samizdat", 2, max_connections=subscribers + 1000)
    clients: list[subprocess.Popen[str]] = []
    try:
        time.sleep(2)
        before = relay.rss_bytes()
        for first in range(0, subscribers, per_process):
            n = min(per_process, subscribers - first)
            cmd = [PY, __file__, "subscribe-role", relay.url, str(n), key.public_key_hex]
            clients.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        t0 = time.monotonic()
        failed = 0
        for client in clients:
            assert client.stdout is not None
            line = client.stdout.readline()
            if not line.startswith("READY"):
                raise RuntimeError(f"a subscriber process failed: {line!r}")
            failed += int(line.split()[1])
        connect_seconds = time.monotonic() - t0
        time.sleep(3)
        after = relay.rss_bytes()
        log(f"  {subscribers - failed:,} subscribers connected in {connect_seconds:.0f} s ({failed} failed); relay "
            f"RSS {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB")  # fmt: skip
        user0, system0 = relay.cpu_split()
        sent = asyncio.run(publish_posts(relay.url, key, seconds))
        time.sleep(5)  # the last posts' deliveries
        user1, system1 = relay.cpu_split()
        fanout_user, fanout_system = user1 - user0, system1 - system0
        fanout_cpu = fanout_user + fanout_system
        counts: list[int] = []
        latencies: list[float] = []
        for client in clients:
            assert client.stdin is not None
            client.stdin.write("STOP\n")
            client.stdin.flush()
        for client in clients:
            assert client.stdout is not None
            for line in client.stdout:
                if line.startswith("RESULT "):
                    data = orjson.loads(line[7:])
                    counts += data["counts"]
                    latencies += data["latencies"]
            client.wait(60)
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        relay.stop()
    connected = subscribers - failed
    latencies.sort()

    def p(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {
        "subscribers": subscribers,
        "connected": connected,
        "connect_seconds": connect_seconds,
        "rss_per_subscriber": (after - before) / max(1, connected),
        "rss_before": before,
        "rss_after": after,
        "posts": sent,
        "expected": sent * connected,
        "delivered": sum(counts),
        "short": max(0, sum(1 for c in counts if c < sent) - failed),  # the failed connections got nothing
        "p50": p(0.5),
        "p99": p(0.99),
        "samples": len(latencies),
        "cpu_us_per_delivery": fanout_cpu / max(1, sum(counts)) * 1e6,
        "user_us_per_delivery": fanout_user / max(1, sum(counts)) * 1e6,
        "system_us_per_delivery": fanout_system / max(1, sum(counts)) * 1e6,
    }


# -- report ---------------------------------------------------------------------------------------------------


def report(ingest: dict[str, Any] | None, stages: dict[str, float] | None, writers: dict[str, float] | None,
           fanout: dict[str, Any] | None, load: tuple[float, float, float]) -> str:  # fmt: skip
    lines = [
        "## Workers (`serve --workers N`)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average before the run "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}."
        + (
            " **Measured on a loaded machine** (other work shared the cores), so the figures are lower and noisier "
            "than on a quiet one."
            if load[0] > 1.0
            else ""
        )
        + " Command: `.venv/bin/python bench/workers.py`.",
        "",
    ]
    if ingest is not None:
        rates = ingest["rates"]
        median = {name: statistics.median(values) for name, values in rates.items()}
        w1, w2, lr = median["w1"], median["w2"], median["localrelay"]
        # The machine's other load changes from one run to the next: the ratios that mean something are those
        # of runs made one right after the other, round by round.
        by_round_w1 = [b / a for a, b in zip(rates["w1"], rates["w2"], strict=True)]
        by_round_lr = [b / a for a, b in zip(rates["localrelay"], rates["w2"], strict=True)]
        lines += [
            "Durable ingest (the same load generator, `bench/loadgen.py ingest`, 8 connections x 200 in flight; "
            "the relays one after the other in each round; medians of the rounds; the relay's CPU per event "
            "is the sum over its processes, median):",
            "",
            "| relay | events/s | vs 1 worker | vs LocalRelay | relay CPU µs/event | load generator CPU µs/event "
            "| cores busy | rounds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        relay_us, loadgen_us = ingest["relay_cpu_us"], ingest["loadgen_cpu_us"]
        for name in rates:
            label = INGEST[name][4]
            rounds = ", ".join(f"{r:,.0f}" for r in rates[name])
            busy = busy_cores(median[name], relay_us[name], loadgen_us[name])
            lines.append(f"| {label} | {median[name]:,.0f} | {median[name] / w1:.2f}x | {median[name] / lr:.2f}x | "
                         f"{relay_us[name]:.0f} | {loadgen_us[name]:.0f} | {busy:.2f} of {os.cpu_count()} | "
                         f"{rounds} |")  # fmt: skip
        each = ", ".join(f"{r:.2f}x" for r in by_round_w1)
        each_lr = ", ".join(f"{r:.2f}x" for r in by_round_lr)
        goals = (f"Goals: `--workers 2` ≥ 1.4x one worker (measured {w2 / w1:.2f}x of the medians; round by "
                 f"round {each}), ≥ 0.75x LocalRelay (measured {w2 / lr:.2f}x; round by round {each_lr}).")  # fmt: skip
        cores = os.cpu_count() or 1
        limit = ceiling(w1, relay_us["w1"], loadgen_us["w1"], cores)
        limit2 = ceiling(w1, relay_us["w2"], loadgen_us["w2"], cores)
        room = (f"The machine's limit: at one worker's CPU per event ({relay_us['w1']:.0f} µs, and the load "
                f"generator's {loadgen_us['w1']:.0f}), {cores} cores fully busy would carry "
                f"{limit * w1:,.0f} events/s, {limit:.2f}x one worker's measured rate; at two workers' CPU per "
                f"event ({relay_us['w2']:.0f} µs), {limit2 * w1:,.0f} events/s, {limit2:.2f}x. No number of "
                "workers passes that on this machine: beyond it only a lower CPU per event helps.")  # fmt: skip
        lines += ["", goals, "", room, ""]
    if stages is not None:
        total = stages["parse_us"] + stages["verify_us"] + stages["store_us"]
        lines += [
            "CPU per event of each stage (one process, 5,000 events): parse "
            f"{stages['parse_us']:.0f} µs, verify {stages['verify_us']:.0f} µs, store (batches of 200) "
            f"{stages['store_us']:.0f} µs: {total:.0f} µs, i.e. at most {1e6 / total * 2:,.0f} events/s on two "
            "fully free cores before WebSocket framing and the event loop, which the relay CPU column above "
            "includes.",
            "",
        ]
    if writers is not None:
        lines += [
            "Writing one SQLite file (20,000 events in batches of 200, `SqliteStore.add_many`, durable): one "
            f"process {writers['one']:,.0f} events/s; two processes at once, each with its own writer thread "
            f"and group commit, taking SQLite's write lock in turn, {writers['two']:,.0f} events/s together "
            f"({writers['two'] / writers['one']:.2f}x). A writer process would serialise the commits just the "
            "same, and add a hop (serialising each event to it and its answer back) on top.",
            "",
        ]
    if fanout is not None:
        lines += [fanout_paragraph(fanout, load), ""]
    return "\n".join(lines)


FANOUT = "Fan-out over `--workers 2`"


def fanout_paragraph(f: dict[str, Any], load: tuple[float, float, float]) -> str:
    return "".join(
        [
            f"{FANOUT} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load[0]:.1f} before, "
            f"{f.get('load_after', load[0]):.1f} after; `bench/workers.py --only fanout`): "
            f"{f['connected']:,} of {f['subscribers']:,} live subscribers of one "
            f"channel connected in {f['connect_seconds']:.0f} s; relay resident memory {f['rss_before'] / 1e6:.0f} "
            f"MB -> {f['rss_after'] / 1e6:.0f} MB, **{f['rss_per_subscriber'] / 1e3:.1f} KB per idle subscriber** "
            f"(goal ≤ 20 KB). {f['posts']} posts at 1/s: {f['delivered']:,} of {f['expected']:,} deliveries "
            f"({f['short']} connected subscribers missed some); publish-to-delivery p50 {f['p50'] * 1e3:.0f} ms, "
            f"**p99 {f['p99'] * 1e3:.0f} ms** (goal ≤ 1 s; {f['samples']:,} samples from one subscriber in 20); "
            f"relay CPU {f['cpu_us_per_delivery']:.1f} µs per delivery (user {f['user_us_per_delivery']:.1f}, "
            f"system {f['system_us_per_delivery']:.1f}; all processes, idle connections' "
            "keep-alive included). So one post to all of them costs "
            f"{f['cpu_us_per_delivery'] * f['connected'] / 1e6:.2f} CPU seconds, "
            f"{f['cpu_us_per_delivery'] * f['connected'] / 2e6:.2f} s of each of the two cores: the "
            "relay keeps up with one post a second while it gets that share of each core (the subscriber "
            "processes of this benchmark share the same two cores, and other work on the machine too).",
        ]
    )


def replace_fanout(path: Path, paragraph: str) -> None:
    """Only the fan-out ran: replace its paragraph of the section, keep the ingest figures of their own run."""
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == TITLE), None)
    if start is None:
        write_section(path, TITLE, [TITLE, "", paragraph])
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    at = next((i for i in range(start, end) if lines[i].startswith(FANOUT)), None)
    if at is None:
        lines[end:end] = [paragraph, ""]
    else:
        lines[at] = paragraph
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "write-role":
        asyncio.run(_write_role(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "subscribe-role":
        url, count, author = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        asyncio.run(subscriber_role(url, count, author, parse_every=20))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=30, help="fan-out: posts at one a second")
    parser.add_argument("--only", default="ingest,stages,writers,fanout")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-python-path", action="store_true",
                        help="ingest: leave out the relays that write through Python's sqlite3")  # fmt: skip
    args = parser.parse_args()
    only = set(args.only.split(","))
    load = os.getloadavg()
    ingest = stages = writers = fanout = None
    if "ingest" in only:
        log(f"ingest: {args.events:,} events, {args.rounds} rounds")
        ingest = bench_ingest(args.events, args.rounds, python_path=not args.no_python_path)
    if "stages" in only:
        stages = bench_stages()
    if "writers" in only:
        writers = bench_writers()
    if "fanout" in only:
        log(f"fan-out: {args.subscribers:,} subscribers")
        fanout = bench_fanout(args.subscribers, args.seconds)
        fanout["load_after"] = os.getloadavg()[0]
    text = report(ingest, stages, writers, fanout, load)
    print(text)
    print(f"load average after: {os.getloadavg()}")
    if args.no_write:
        return
    if only == {"fanout"} and fanout is not None:
        replace_fanout(ROOT / "docs" / "benchmarks.md", fanout_paragraph(fanout, load))
    else:
        write_section(ROOT / "docs" / "benchmarks.md", TITLE, text.rstrip().splitlines())


if __name__ == "__main__":
    main()
