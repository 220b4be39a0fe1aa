"""The relay's send path alone: CPU per delivery and memory per idle subscriber, in one relay process.

    .venv/bin/python bench/fanout.py [--subscribers 2000] [--posts 20] [--rounds 3] [--profile FILE] [--trace N]

A :class:`RelayServer` over a fresh SQLite store runs in this process; ``--subscribers`` WebSocket connections
from one client process (raw, counting clients: ``bench/workers.py``'s ``CountingClient``), each with one
subscription to one author, open and wait for ``EOSE``. The relay's resident memory before and after (with a
garbage collection first) gives the memory per idle subscriber. Then ``--posts`` events are handed to
:meth:`RelayServer.ingest` one after another, each once every subscriber has counted the one before: the relay
process's CPU time over all of them, divided by the deliveries, is the CPU per delivery (the store's commit of each
post is in it too, spread over the subscribers). ``--rounds`` repeats the posts (the first round pays for warm-up;
the median is reported). Last, every connection is pinged twice a second for ``--ping-seconds``: the CPU per
keep-alive ping (and its pong).

``--profile FILE`` writes a cProfile of the posts (``python -m pstats FILE``); ``--trace N`` prints the N source
lines that allocated the most memory still held by the idle connections (tracemalloc; slows everything down).

This measures the relay's work only, with the clients in another process; ``bench/workers.py`` measures the
whole (``serve --workers 2``, 20,000 subscribers, latency). Nothing is written to docs/benchmarks.md: the numbers
go there with the fan-out row of ``bench/workers.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def client_role(url: str, count: int, author: str) -> None:
    """Client process: ``count`` counting subscribers; READY once all have EOSE; then, per line on stdin, the
    total number of EVENTs they got."""
    from workers import CountingClient

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = orjson.dumps(["REQ", "s", {"authors": [author], "kinds": [1], "limit": 0}])
    done = [0, 0]
    all_ready = asyncio.Event()

    def ready(ok: bool) -> None:
        done[0] += 1
        done[1] += not ok
        if done[0] == count:
            all_ready.set()

    host, port = url.removeprefix("ws://").rsplit(":", 1)
    clients = [CountingClient(f"{host}:{port}", req, ready) for _ in range(count)]
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(64)

    async def open_one(client: CountingClient) -> None:
        async with slots:
            try:
                await loop.create_connection(lambda: client, host, int(port))
            except OSError:
                client.subscribed = True
                ready(False)

    await asyncio.gather(*(open_one(c) for c in clients))
    await asyncio.wait_for(all_ready.wait(), 600)
    print(f"READY {done[1]}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"STOP":
            break
        print(sum(c.events for c in clients), flush=True)
    for client in clients:
        if client.transport is not None:
            client.transport.close()


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from samizdat.core.event import sign_event
    from samizdat.core.keys import SecretKey
    from samizdat.relay.limits import RelayLimits
    from samizdat.relay.server import RelayServer
    from samizdat.store.sqlite import SqliteStore

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    key = SecretKey.generate()
    directory = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    store = await SqliteStore.open(directory / "events.sqlite")
    limits = RelayLimits(max_connections=args.subscribers + 1000, reqs_per_second=1e9, reqs_burst=10**9)
    server = RelayServer(store, limits=limits)
    await server.start("127.0.0.1", 0)
    child = None
    try:
        # A first post, so that the store, the index and the code paths are warm before memory is measured.
        await server.ingest(sign_event(key, 1, "warm-up", [], created_at=int(time.time())))
        gc.collect()
        if args.trace:
            import tracemalloc

            tracemalloc.start(1)
            snap0 = tracemalloc.take_snapshot()
        before = rss()
        url = f"ws://127.0.0.1:{server.port}"
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "client-role", url, str(args.subscribers), key.public_key_hex,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None
        assert child.stdin is not None
        t0 = time.monotonic()
        line = await asyncio.wait_for(child.stdout.readline(), 900)
        if not line.startswith(b"READY"):
            raise RuntimeError(f"the client process failed: {line!r}")
        failed = int(line.split()[1])
        connect_seconds = time.monotonic() - t0
        await asyncio.sleep(1)
        gc.collect()
        after = rss()
        connected = args.subscribers - failed
        each = (after - before) / max(1, connected) / 1e3
        print(f"{connected:,} subscribers in {connect_seconds:.1f} s ({failed} failed); RSS {before / 1e6:.1f} MB -> "
              f"{after / 1e6:.1f} MB: {each:.2f} KB each", file=sys.stderr)  # fmt: skip
        if args.trace:
            snap1 = tracemalloc.take_snapshot()
            tracemalloc.stop()
            for stat in snap1.compare_to(snap0, "lineno")[: args.trace]:
                print(f"  {stat.size_diff / max(1, connected):8.0f} B/conn {stat.count_diff / max(1, connected):6.2f} "
                      f"blocks/conn  {stat.traceback[0]}", file=sys.stderr)  # fmt: skip

        async def delivered() -> int:
            child.stdin.write(b"count\n")  # type: ignore[union-attr]
            return int(await child.stdout.readline())  # type: ignore[union-attr]

        expected = await delivered()
        per_round: list[float] = []
        user_rounds: list[float] = []
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        seq = 0
        for _ in range(args.rounds):
            cpu0 = os.times()
            if profiler is not None:
                profiler.enable()
            for _ in range(args.posts):
                seq += 1
                await server.ingest(sign_event(key, 1, f"fanout {seq}", [], created_at=int(time.time())))
                expected += connected
                deadline = time.monotonic() + 60
                while (got := await delivered()) < expected:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {got} of {expected} deliveries after 60 s")
                    await asyncio.sleep(0.005)
            if profiler is not None:
                profiler.disable()
            cpu1 = os.times()
            deliveries = args.posts * connected
            user, system = (cpu1.user - cpu0.user) / deliveries * 1e6, (cpu1.system - cpu0.system) / deliveries * 1e6
            per_round.append(user + system)
            user_rounds.append(user)
            print(f"  round: {user + system:.2f} µs CPU per delivery (user {user:.2f}, system {system:.2f}; "
                  f"{args.posts} posts x {connected:,}); load {os.getloadavg()[0]:.1f}", file=sys.stderr)  # fmt: skip
        if profiler is not None:
            profiler.dump_stats(args.profile)
        # Keep-alive: every connection pinged twice a second for a few seconds (the relay pings each once every
        # 30 s): the CPU of a ping and its pong, per ping.
        if not hasattr(server, "keepalive"):  # a relay from before relay/keepalive.py (before/after runs)
            return {"subscribers": connected, "kb_per_subscriber": (after - before) / max(1, connected) / 1e3,
                    "us_per_delivery": statistics.median(per_round), "rounds": per_round}  # fmt: skip
        pings0, cpu0 = server.keepalive.pings, os.times()
        server.keepalive.interval = 0.5
        await asyncio.sleep(args.ping_seconds)
        server.keepalive.interval = 30.0
        cpu1, pings = os.times(), max(1, server.keepalive.pings - pings0)
        ping_user, ping_system = (cpu1.user - cpu0.user) / pings * 1e6, (cpu1.system - cpu0.system) / pings * 1e6
        print(f"  keep-alive: {pings:,} pings, {ping_user + ping_system:.1f} µs CPU each (user {ping_user:.1f}, system "
              f"{ping_system:.1f}); {server.keepalive.timeouts} connections dropped", file=sys.stderr)  # fmt: skip
        return {
            "us_per_ping": ping_user + ping_system,
            "subscribers": connected,
            "kb_per_subscriber": (after - before) / max(1, connected) / 1e3,
            "us_per_delivery": statistics.median(per_round),
            "user_us_per_delivery": statistics.median(user_rounds),
            "rounds": per_round,
        }
    finally:
        if child is not None:
            with contextlib.suppress(Exception):
                assert child.stdin is not None
                child.stdin.write(b"STOP\n")
                await asyncio.wait_for(child.wait(), 30)
            if child.returncode is None:
                child.kill()
                await child.wait()
        await server.stop()
        await store.close()
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "client-role":
        asyncio.run(client_role(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="")
    parser.add_argument("--trace", type=int, default=0)
    parser.add_argument("--ping-seconds", type=float, default=5.0, help="keep-alive measured this long")
    args = parser.parse_args()
    load = os.getloadavg()
    result = asyncio.run(bench(args))
    print(f"RESULT {orjson.dumps(result).decode()} load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
