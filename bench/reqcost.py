"""The CPU one request costs a real ``samizdat serve``, asked from a LAN address (not loopback).

    .venv/bin/python bench/reqcost.py [--events 120000] [--host 192.0.2.2] [--reps 5] [--only NAME,...]

Builds (once, cached in ``bench/out/``) a node home whose store holds ``--events`` events of ``bench/dataset.py``,
serves it with ``samizdat serve --host HOST --no-mdns`` (HOST: an address of this machine other than loopback, so
that the relay applies its per-address limits to us), then sends each candidate request ``--reps`` times, one
after the other on a fresh connection, reading the whole answer. The relay's CPU (user + system, all threads,
from ``/proc/PID/stat``) over those repetitions, divided by them, is the cost of one request; the answer's bytes
and its last frame (``EOSE``, ``COUNT``, ``CLOSED ...``, ``NEG-MSG``, ``NEG-ERR ...``) are printed beside it. A
pause between candidates lets the per-address REQ rate refill. Prints a table; writes nothing else.

    .venv/bin/python bench/reqcost.py --flood "COUNT 10 x #t all topics" [--duration 20] [--src OLD/src]

With ``--flood`` (needs root and ``ip``: tests/relay/relay_netns.py) the node serves in a network namespace of its
own; a device on one address sends that candidate again and again on ``--connections`` connections (each waits for
its answer), while a reader on another address asks for 20 posts every 0.2 s. Prints the reader's p50/p95, the
device's answers and refusals, and the relay's CPU over the run. ``--src`` serves with another checkout's code
(the code before a change) on the PYTHONPATH. ``--fresh-reader``: the reader opens a new WebSocket for each of its
requests (the time counts the TCP and WebSocket handshakes: what a full listen queue would delay), and how many of
its connections failed is printed. ``--device-wait S``: the HTTP flood's device gives up on a connection after S
seconds without an answer (0.05: a device that does not wait for held connections) and opens the next one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset

OUT = dataset.OUT
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def template_home(events: int) -> Path:
    """A node home (no passphrase) whose store holds ``events`` events of the bench data set (cached)."""
    home = OUT / f"reqcost-home-{events}"
    if (home / "events.sqlite").exists():
        return home
    from samizdat.core.event import parse_event
    from samizdat.store.sqlite import SqliteStore
    from samizdat.testing import store_key

    lines = dataset.read_lines(dataset.ensure("store", events))
    tmp = OUT / f"reqcost-home-{events}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-m", "samizdat", "--home", str(tmp), "init", "--no-passphrase"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"samizdat init failed: {done.stderr}")
    parsed = [parse_event(orjson.loads(line), verify=False) for line in lines]

    async def fill() -> None:
        store = await SqliteStore.open(tmp / "events.sqlite", key=store_key(tmp))
        try:
            for start in range(0, len(parsed), 5000):
                await store.add_many(parsed[start : start + 5000])
        finally:
            await store.close()

    asyncio.run(fill())
    conn = sqlite3.connect(tmp / "events.sqlite")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(home)
    return home


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def candidates(events: int) -> list[tuple[str, Callable[[], list[Any]]]]:
    """(name, the message to send) of each request measured."""
    lines = dataset.read_lines(dataset.ensure("store", events), 20_000)
    sample = [orjson.loads(line) for line in lines]
    authors = list(dict.fromkeys(e["pubkey"] for e in sample))[:1000]
    ids = [e["id"] for e in sample[:1000]]
    fake = [os.urandom(32).hex() for _ in range(1000)]
    newest = max(e["created_at"] for e in sample)
    nobody = [f"nobody{i}" for i in range(1000)]
    ten = 10
    common = "police water bridge station court fund volunteers bring food"  # words every post has some of
    letters = " ".join("abcdefghijklmnop")
    return [
        ("REQ kinds 1, limit 20 (a reader)", lambda: ["REQ", "s", {"kinds": [1], "limit": 20}]),
        ("REQ limit 5000", lambda: ["REQ", "s", {"kinds": [1], "limit": 5000}]),
        (
            "REQ 10 filters x limit 5000",
            lambda: ["REQ", "s", *[{"kinds": [1, 7], "limit": 5000, "#t": [f"topic{i}"]} for i in range(ten)]],
        ),
        ("REQ authors 1000 known", lambda: ["REQ", "s", {"authors": authors, "limit": 500}]),
        ("REQ 3 x authors 1000 unknown", lambda: ["REQ", "s", *[{"authors": fake, "kinds": [1]}] * 3]),
        ("REQ ids 1000", lambda: ["REQ", "s", {"ids": ids}]),
        ("REQ 3 x ids 1000 unknown", lambda: ["REQ", "s", *[{"ids": fake}] * 3]),
        ("REQ #t 1000 unused", lambda: ["REQ", "s", {"#t": nobody}]),
        (
            "REQ 10 x #t unused + window",
            lambda: ["REQ", "s", *[{"#t": [f"x{i}"], "since": 1, "until": newest} for i in range(ten)]],
        ),
        ("REQ kinds unused", lambda: ["REQ", "s", {"kinds": [4242]}]),
        (
            "REQ 10 x kinds 1000 unused",
            lambda: ["REQ", "s", *[{"kinds": list(range(10000 + i * 1000, 11000 + i * 1000))} for i in range(ten)]],
        ),
        ("REQ until far past", lambda: ["REQ", "s", {"until": 1000}]),
        ("REQ 10 x until far past", lambda: ["REQ", "s", *[{"until": 1000 + i} for i in range(ten)]]),
        ("REQ kinds 1 + #p unused", lambda: ["REQ", "s", {"kinds": [1], "#p": fake}]),
        (
            "REQ 10 x kinds 1 + #e unused 1 each",
            lambda: ["REQ", "s", *[{"kinds": [1, 7], "#e": [fake[i]], "since": 1} for i in range(ten)]],
        ),
        (
            "REQ 10 x kinds 1 + content mismatch",
            lambda: ["REQ", "s", *[{"kinds": [1], "authors": fake[:3], "#t": ["topic1"]} for _ in range(ten)]],
        ),
        ("REQ search one word", lambda: ["REQ", "s", {"search": "police"}]),
        ("REQ search 9 common words", lambda: ["REQ", "s", {"search": common}]),
        (
            "REQ 10 x search common, never together",
            lambda: ["REQ", "s", *[{"search": f'"police water" x{i} ' + common} for i in range(ten)]],
        ),
        (
            "REQ 10 x search phrase never",
            lambda: ["REQ", "s", *[{"search": f"police-water-bridge-station-{i}"} for i in range(ten)]],
        ),
        ("REQ 10 x search 1-letter terms", lambda: ["REQ", "s", *[{"search": letters}] * ten]),
        (
            "REQ 10 x search FTS syntax",
            lambda: ["REQ", "s", *[{"search": 'a* OR p* NEAR(police water) "x" text:a'}] * ten],
        ),
        (
            "REQ 10 x search + kinds 7",
            lambda: ["REQ", "s", *[{"search": "police", "kinds": [7], "authors": fake[:5]}] * ten],
        ),
        ("COUNT everything", lambda: ["COUNT", "s", {}]),
        ("COUNT 10 x windows", lambda: ["COUNT", "s", *[{"since": i, "until": newest - i} for i in range(ten)]]),
        ("COUNT 10 x search common", lambda: ["COUNT", "s", *[{"search": f"{common} x{i}"[:-3]} for i in range(ten)]]),
        (
            "COUNT 10 x #t all topics",
            lambda: ["COUNT", "s", *[{"#t": [f"topic{j}" for j in range(50)], "since": i} for i in range(ten)]],
        ),
        ("NEG-OPEN everything", lambda: neg_open({})),
        ("NEG-OPEN kinds 1 and 7", lambda: neg_open({"kinds": [1, 7]})),
    ]


def neg_open(flt: dict[str, Any]) -> list[Any]:
    from samizdat.core.negentropy import Negentropy, VectorStorage

    storage = VectorStorage()
    storage.seal()
    return ["NEG-OPEN", "n", flt, Negentropy(storage).initiate().hex()]


async def ask(url: str, source: str, message: list[Any]) -> tuple[int, str]:
    """Send ``message`` on a fresh connection from ``source``; (bytes received, the last frame in short)."""

    sock = socket.socket()
    sock.bind((source, 0))
    sock.setblocking(False)
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    received = 0
    from websockets.exceptions import ConnectionClosed

    try:
        return await _ask(url, sock, message)
    except ConnectionClosed as exc:
        return received, f"closed: {exc}"[:60]


async def _ask(url: str, sock: socket.socket, message: list[Any]) -> tuple[int, str]:
    from websockets.asyncio.client import connect

    received = 0
    async with connect(url, sock=sock, max_size=None, open_timeout=10, close_timeout=1) as ws:
        await ws.send(orjson.dumps(message).decode())
        async with asyncio.timeout(120):
            while True:
                raw = await ws.recv()
                received += len(raw)
                frame = orjson.loads(raw)
                if frame[0] in ("EOSE", "COUNT", "CLOSED", "NEG-MSG", "NEG-ERR", "NOTICE"):
                    tail = frame[0] if frame[0] in ("EOSE", "NEG-MSG") else " ".join(str(x) for x in frame[2:])[:60]
                    if frame[0] == "COUNT":
                        tail = f"COUNT {frame[2].get('count')}"
                    return received, f"{frame[0]} {tail}" if frame[0] in ("CLOSED", "NEG-ERR", "NOTICE") else tail


async def measure(
    url: str, source: str, pid: int, reps: int, only: set[str] | None, events: int
) -> list[dict[str, Any]]:
    rows = []
    for name, make in candidates(events):
        if only and not any(o in name for o in only):
            continue
        message = make()
        size = len(orjson.dumps(message))
        await asyncio.sleep(1.0)
        before, wall0 = cpu_seconds(pid), time.perf_counter()
        received, last = 0, ""
        for _ in range(reps):
            got, last = await ask(url, source, message)
            received += got
        cpu, wall = cpu_seconds(pid) - before, time.perf_counter() - wall0
        row = {"name": name, "cpu_ms": 1000 * cpu / reps, "wall_ms": 1000 * wall / reps, "bytes_in": size,
               "bytes_out": received // reps, "last": last}  # fmt: skip
        rows.append(row)
        print(f"{name:42} {row['cpu_ms']:8.1f} ms CPU {row['wall_ms']:8.1f} ms wall  {size:>8,} B in"
              f" {row['bytes_out']:>10,} B out  {last}", flush=True)  # fmt: skip
    return rows


async def flood(
    lab: Any,
    port: int,
    pid: int,
    name: str,
    duration: float,
    connections: int,
    events: int,
    fresh: bool = False,
    wait: float = 10.0,
) -> dict[str, Any]:
    """The device floods with candidate ``name`` from one address; a reader reads from another."""
    from websockets.asyncio.client import connect

    url = f"ws://{lab.relay_address}:{port}/"

    async def open_(source: str) -> Any:
        sock = await asyncio.to_thread(lab.connect, source, port)
        return await connect(url, sock=sock, max_size=None, open_timeout=10, close_timeout=1)

    if name.startswith("GET ") or name.startswith("POST "):
        return await http_flood(lab, port, pid, name, duration, connections, open_, fresh, wait)
    message = orjson.dumps(dict(candidates(events))[name]()).decode()
    counts = {"answered": 0, "refused": 0}
    refusals: set[str] = set()
    latencies: list[float] = []
    end = time.monotonic() + duration

    async def device(ws: Any) -> None:
        while time.monotonic() < end:
            await ws.send(message)
            while True:
                frame = orjson.loads(await ws.recv())
                if frame[0] in ("EOSE", "COUNT", "NEG-MSG"):
                    counts["answered"] += 1
                    break
                if frame[0] in ("CLOSED", "NEG-ERR"):
                    counts["refused"] += 1
                    refusals.add(str(frame[2])[:70])
                    break
            if message.startswith('["NEG-OPEN"'):
                await ws.send('["NEG-CLOSE","n"]')

    async def reader(ws: Any) -> None:
        n = 0
        while time.monotonic() < end:
            n += 1
            t0 = time.perf_counter()
            await ws.send(orjson.dumps(["REQ", f"r{n}", {"kinds": [1], "limit": 20}]).decode())
            while orjson.loads(await ws.recv())[0] != "EOSE":
                pass
            latencies.append(time.perf_counter() - t0)
            await ws.send(orjson.dumps(["CLOSE", f"r{n}"]).decode())
            await asyncio.sleep(0.2)

    attackers = [await open_(lab.addresses[0]) for _ in range(connections)]
    honest = await open_(lab.addresses[1])
    before, wall0 = cpu_seconds(pid), time.monotonic()
    tasks = [asyncio.create_task(device(ws)) for ws in attackers]
    try:
        async with asyncio.timeout(duration + 60):
            await reader(honest)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    cpu = cpu_seconds(pid) - before
    wall = time.monotonic() - wall0
    for ws in [*attackers, honest]:
        await ws.close()
    latencies.sort()
    return {
        "flood": name, "connections": connections, "seconds": round(wall, 1),
        "relay_cpu_cores": round(cpu / wall, 2), "reader_requests": len(latencies),
        "reader_p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "reader_p95_ms": round(1000 * latencies[int(len(latencies) * 0.95)], 1),
        **counts, "refusals": sorted(refusals),
    }  # fmt: skip


def http_candidates() -> list[tuple[str, bytes]]:
    """(name, the HTTP request) of each plain-HTTP request measured (each on a connection of its own)."""
    import coincurve

    point = coincurve.PrivateKey(os.urandom(32)).public_key.format(compressed=True).hex()
    blob = os.urandom(32).hex()

    def get(path: str, *extra: str, method: str = "GET") -> bytes:
        return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: node.local", *extra, "", ""]).encode()

    return [
        ("GET / (the start page)", get("/")),
        ("GET /api/status", get("/api/status")),
        ("GET /api/share/<blinded point> (OPRF)", get(f"/api/share/{point}")),
        ("GET /api/share/<point not on the curve>", get(f"/api/share/02{'f' * 64}")),
        ("GET NIP-11", get("/", "Accept: application/nostr+json")),
        ("GET /no-such-page (404)", get("/no-such-page")),
        ("GET /<sha256> Blossom, missing, Range", get(f"/{blob}", "Range: bytes=0-1,2-3,4-5,6-7,8-9,10-11")),
        ("POST /", get("/", "Content-Length: 0", method="POST")),
    ]


def measure_http(host: str, port: int, pid: int, reps: int) -> None:
    for name, request in http_candidates():
        time.sleep(1.0)
        before, wall0 = cpu_seconds(pid), time.perf_counter()
        status = ""
        for _ in range(reps):
            with socket.create_connection((host, port), timeout=10, source_address=(host, 0)) as sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                status = data.split(b"\r\n", 1)[0].decode(errors="replace")
        cpu, wall = cpu_seconds(pid) - before, time.perf_counter() - wall0
        print(f"{name:42} {1000 * cpu / reps:8.2f} ms CPU {1000 * wall / reps:8.2f} ms wall  {status}", flush=True)


HTTP_DEVICE = """
import socket, sys, threading, time
source, host, port, duration, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
wait = float(sys.argv[6])
request = sys.stdin.buffer.read()
end = time.monotonic() + duration
counts = {}
def run():
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=wait, source_address=(source, 0)) as sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            status = data[9:12].decode() or "closed"
        except OSError as exc:
            status = type(exc).__name__
        counts[status] = counts.get(status, 0) + 1
workers = [threading.Thread(target=run) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(counts)
"""


async def http_flood(
    lab: Any,
    port: int,
    pid: int,
    name: str,
    duration: float,
    connections: int,
    open_: Any,
    fresh: bool = False,
    wait: float = 10.0,
) -> dict[str, Any]:
    """A device on one address sends plain-HTTP request ``name`` on ``connections`` threads, each a new TCP
    connection per request (as the relay answers one request per connection), from a process of its own in the
    namespace; a reader on another address reads meanwhile."""
    request = dict(http_candidates())[name]
    argv = ["nsenter", f"--net=/proc/{os.getpid()}/fd/{lab._fd}", sys.executable, "-c", HTTP_DEVICE,
            lab.addresses[0], lab.relay_address, str(port), str(duration), str(connections), str(wait)]  # fmt: skip
    device = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(lab._fd,)
    )
    assert device.stdin is not None
    device.stdin.write(request)
    device.stdin.close()
    honest = None if fresh else await open_(lab.addresses[1])
    latencies: list[float] = []
    failed = 0
    before, wall0 = cpu_seconds(pid), time.monotonic()
    end = wall0 + duration
    n = 0
    async with asyncio.timeout(duration + 60):
        while time.monotonic() < end:
            n += 1
            t0 = time.perf_counter()
            try:
                ws = honest or await open_(lab.addresses[1])
                await ws.send(orjson.dumps(["REQ", f"r{n}", {"kinds": [1], "limit": 20}]).decode())
                while orjson.loads(await ws.recv())[0] != "EOSE":
                    pass
                latencies.append(time.perf_counter() - t0)
                await ws.send(orjson.dumps(["CLOSE", f"r{n}"]).decode())
                if fresh:
                    await ws.close()
            except Exception as exc:  # a failed connection of the reader is counted
                if not fresh:
                    raise
                failed += 1
                print(f"reader: {type(exc).__name__}: {exc}", file=sys.stderr)
            await asyncio.sleep(0.2)
        cpu, wall = cpu_seconds(pid) - before, time.monotonic() - wall0
        out, _ = await device.communicate()
    if honest is not None:
        await honest.close()
    latencies.sort()
    return {
        "flood": name, "threads": connections, "seconds": round(wall, 1),
        "relay_cpu_cores": round(cpu / wall, 2), "reader_requests": len(latencies),
        "reader_p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "reader_p95_ms": round(1000 * latencies[int(len(latencies) * 0.95)], 1),
        "reader_max_ms": round(1000 * latencies[-1], 1), "reader_fresh": fresh, "reader_failed": failed,
        "device": out.decode().strip(),
    }  # fmt: skip


def serve_flood(args: argparse.Namespace, home: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "relay"))
    from relay_netns import AddressLab

    lab = AddressLab()
    assert lab._fd is not None
    port = 4848
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = args.src
    with tempfile.TemporaryDirectory(prefix="reqcost-") as tmpdir:
        work = Path(tmpdir) / "home"
        shutil.copytree(home, work)
        log = open(Path(tmpdir) / "serve.log", "wb")
        node = ["--home", str(work), "serve", "--host", lab.relay_address, "--port", str(port), "--no-mdns"]
        argv = ["nsenter", f"--net=/proc/{os.getpid()}/fd/{lab._fd}", sys.executable, "-m", "samizdat", *node]
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, pass_fds=(lab._fd,), env=env
        )
        try:
            pid = wait_ready(process, work, Path(tmpdir))
            result = asyncio.run(
                flood(
                    lab,
                    port,
                    pid,
                    args.flood,
                    args.duration,
                    args.connections,
                    args.events,
                    args.fresh_reader,
                    args.device_wait,
                )
            )
            print(json.dumps(result), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(result, indent=1))
        finally:
            stop(process)
            log.close()
            lab.close()


def wait_ready(process: subprocess.Popen[bytes], home: Path, tmpdir: Path) -> int:
    """The pid of the node's relay process (the one serve.json names), once it serves."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {(tmpdir / 'serve.log').read_text()[-500:]}")
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = int(json.loads((home / "serve.json").read_text())["pid"])
            time.sleep(2)  # the start-up work (start page, upkeep) settles
            return pid
        time.sleep(0.1)
    raise RuntimeError("samizdat serve not ready within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(20)
    if process.poll() is None:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--host", default="192.0.2.2", help="a non-loopback address of this machine")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated parts of candidate names")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--flood", help="a candidate's name: flood with it (see the module doc)")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--http", action="store_true", help="measure plain-HTTP requests instead")
    parser.add_argument("--src", help="PYTHONPATH of the node (another checkout's src)")
    parser.add_argument("--fresh-reader", action="store_true", help="the flood's reader connects for each request")
    parser.add_argument(
        "--device-wait", type=float, default=10.0, help="HTTP flood: seconds a device waits for an answer"
    )
    args = parser.parse_args()
    home = template_home(args.events)
    if args.flood:
        serve_flood(args, home)
        return
    with tempfile.TemporaryDirectory(prefix="reqcost-") as tmpdir:
        work = Path(tmpdir) / "home"
        shutil.copytree(home, work)
        port = free_port(args.host)
        log = open(Path(tmpdir) / "serve.log", "wb")
        argv = [sys.executable, "-m", "samizdat", "--home", str(work), "serve", "--host", args.host,
                "--port", str(port), "--no-mdns"]  # fmt: skip
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"serve exited: {(Path(tmpdir) / 'serve.log').read_text()[-500:]}")
                with contextlib.suppress(OSError, ValueError, KeyError):
                    if int(json.loads((work / "serve.json").read_text())["pid"]) == process.pid:
                        break
                time.sleep(0.1)
            time.sleep(2)  # the start-up work (start page, upkeep) settles
            print(f"samizdat serve pid {process.pid}, {args.events:,} events, from {args.host}; {os.cpu_count()} CPUs")
            if args.http:
                measure_http(args.host, port, process.pid, args.reps)
                return
            only = {o for o in args.only.split(",") if o} or None
            url = f"ws://{args.host}:{port}"
            rows = asyncio.run(measure(url, args.host, process.pid, args.reps, only, args.events))
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
        finally:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(20)
            if process.poll() is None:
                process.kill()
            log.close()


if __name__ == "__main__":
    main()
