"""Load generator: one role per process, driven by ``bench/run.py``; prints ``RESULT <json>`` as its last
line.

Roles (``python bench/loadgen.py ROLE --help``):

* ``ingest``: send N pre-signed events (a slice of a ``dataset.py`` file) over K connections, each keeping up
  to W EVENTs in flight and taking the next from one queue they share; count ``OK true`` per second from the
  first send to the last ``OK``.
* ``query``: ``{"authors":[admin],"kinds":[1],"limit":50}`` REQ then wait for EOSE, one at a time per
  connection; latency from sending REQ to receiving EOSE.
* ``subscribe``: open a range of the fan-out subscribers (filters from :func:`sub_filter`), print ``READY``
when
  every subscription has its EOSE, record each delivered post's latency (receive time minus the send time the
  publisher wrote into its content), and on ``STOP <json list of accepted seqs>`` on stdin report what arrived
  against what should have (posts sent and not refused).
* ``publish``: sign and send fan-out posts at a fixed rate for a fixed time (signing is ~60 µs, inside the
  timestamp-to-send gap, so it is counted as latency against us, never for us).

Every role reports its own CPU time (user + system) so the report can show the load generator is not the
bottleneck. Every loop is bounded by a count and by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset

WS_OPTS: dict[str, Any] = {
    "compression": None,
    "max_size": 64 * 1024 * 1024,
    "ping_interval": None,
    "close_timeout": 1,
    "open_timeout": 30,
    "max_queue": 4096,
}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def result(payload: dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + orjson.dumps(payload).decode() + "\n")
    sys.stdout.flush()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- ingest --------------------------------------------------------------------------------------------------


#: LocalRelay drops a connection after 6,000 messages, so no connection carries more than this (all relays
#: alike).
MAX_MESSAGES_PER_CONN = 5000
MAX_REQS_PER_CONN = 1000


async def _ingest_conn(url: str, queue: collections.deque[bytes], window: int, stats: dict[str, Any]) -> None:
    while queue:
        await _ingest_session(url, queue, window, stats)


async def _ingest_session(url: str, queue: collections.deque[bytes], window: int, stats: dict[str, Any]) -> None:
    """One connection, sending from the queue all connections share until it is empty or this connection has
    sent :data:`MAX_MESSAGES_PER_CONN`: a connection that gets its ``OK``s sooner sends more, as real clients
    would. With several relay processes behind one port the kernel gives them unequal shares of the
    connections; a fixed share per connection would leave the process with fewer of them idle at the end, waiting
    for the other, and time that wait as the relay's."""
    async with connect(url, **WS_OPTS) as ws:
        slots = asyncio.Semaphore(window)
        count = {"sent": 0, "got": 0, "sending": 1}

        async def receiver() -> None:
            try:
                await receive()
            except BaseException:
                slots.release()  # the sender, waiting for a slot, wakes and finds this task done
                raise

        async def receive() -> None:
            while True:
                raw = await ws.recv(decode=False)
                if not raw.startswith(b'["OK"'):
                    stats["other"] += 1
                    continue
                count["got"] += 1
                slots.release()
                msg = orjson.loads(raw)
                if msg[2] is True:
                    stats["ok"] += 1
                else:
                    stats["refused"] += 1
                    if len(stats["reasons"]) < 5:
                        stats["reasons"].append(msg[3])
                stats["last_ok"] = time.perf_counter()
                if not count["sending"] and count["got"] >= count["sent"]:
                    return

        receive_task = asyncio.create_task(receiver())
        try:
            while count["sent"] < MAX_MESSAGES_PER_CONN:
                await slots.acquire()
                if not queue or receive_task.done():
                    break
                count["sent"] += 1
                await ws.send(queue.popleft(), text=True)
            count["sending"] = 0
            if count["got"] < count["sent"] or receive_task.done():
                await receive_task
        finally:
            receive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await receive_task


async def ingest(args: argparse.Namespace) -> None:
    lines = dataset.read_lines(Path(args.file))[args.start : args.start + args.count]
    msgs = [b'["EVENT",' + line + b"]" for line in lines]
    queue = collections.deque(msgs)
    stats: dict[str, Any] = {"ok": 0, "refused": 0, "other": 0, "reasons": [], "last_ok": 0.0, "error": None}
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(args.timeout):
            await asyncio.gather(*(_ingest_conn(args.url, queue, args.window, stats) for _ in range(args.conns)))
    except (TimeoutError, OSError, websockets.WebSocketException) as exc:
        stats["error"] = f"{type(exc).__name__}: {exc}"
    end = stats["last_ok"] or time.perf_counter()
    wall = max(end - t0, 1e-9)
    cpu = cpu_seconds() - cpu0
    result(
        {
            "sent": len(msgs),
            "ok": stats["ok"],
            "refused": stats["refused"],
            "other": stats["other"],
            "reasons": stats["reasons"],
            "error": stats["error"],
            "seconds": wall,
            "rate": stats["ok"] / wall,
            "cpu_seconds": cpu,
            "cpu_share": cpu / wall,
        }
    )


# -- query ---------------------------------------------------------------------------------------------------


async def _query_conn(
    url: str,
    n: int,
    warmup: int,
    kinds: list[int],
    admins: list[str],
    seed: int,
    lat: list[float],
    counts: list[int],
    deadline: float,
) -> None:
    rng = random.Random(seed)
    ws: ClientConnection | None = None
    try:
        for i in range(warmup + n):
            if time.perf_counter() > deadline:
                break
            if i % MAX_REQS_PER_CONN == 0:
                if ws is not None:
                    await ws.close()
                ws = await connect(url, **WS_OPTS)
            sub = f"q{seed}-{i}"
            req = orjson.dumps(["REQ", sub, {"authors": [rng.choice(admins)], "kinds": kinds, "limit": 50}])
            eose = orjson.dumps(["EOSE", sub])
            got = 0
            t0 = time.perf_counter()
            await ws.send(req, text=True)
            while True:
                raw = await ws.recv(decode=False)
                if raw.startswith(b'["EVENT"'):
                    got += 1
                elif raw.replace(b" ", b"") == eose:
                    break
                elif raw.startswith((b'["CLOSED"', b'["NOTICE"')):
                    raise RuntimeError(f"query refused: {raw[:200]!r}")
            dt = time.perf_counter() - t0
            await ws.send(orjson.dumps(["CLOSE", sub]), text=True)
            if i >= warmup:
                lat.append(dt)
                counts.append(got)
    finally:
        if ws is not None:
            await ws.close()


async def query(args: argparse.Namespace) -> None:
    admins = dataset.admin_pubkeys()
    lat: list[float] = []
    counts: list[int] = []
    error = None
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(args.timeout):
            await asyncio.gather(
                *(
                    _query_conn(
                        args.url,
                        args.n // args.conns,
                        args.warmup,
                        args.kinds,
                        admins,
                        seed,
                        lat,
                        counts,
                        t0 + args.max_seconds,
                    )
                    for seed in range(args.conns)
                )
            )
    except (TimeoutError, OSError, RuntimeError, websockets.WebSocketException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    result(
        {
            "latencies": lat,
            "events_per_answer": (sum(counts) / len(counts)) if counts else 0,
            "min_events": min(counts) if counts else 0,
            "error": error,
            "seconds": wall,
            "cpu_seconds": cpu,
            "cpu_share": cpu / wall if wall else 0,
        }
    )


# -- fan-out -------------------------------------------------------------------------------------------------

FANOUT_PAD = "x" * 80


def post_plan(seq: int) -> tuple[int, str, str]:
    """(admin index, topic, geohash) of fan-out post ``seq``: the same in the publisher and every
    subscriber."""
    rng = random.Random(1_000_003 * seq + 7)
    return rng.randrange(dataset.ADMINS), rng.choice(dataset.TOPICS), rng.choice(dataset.GEOHASHES)


def sub_filter(i: int, admins: list[str], since: int) -> dict[str, Any]:
    """Subscriber ``i``'s filter. With 5,000 subscribers each post matches about 80 of them:

    40% follow one channel's posts (``authors`` + ``kinds``), 20% a topic (``kinds`` + ``#t``), 20% three
    channels (``authors``), 20% a place (``#g``).
    """
    kind, j = i % 5, i // 5
    n = dataset.ADMINS
    if kind in (0, 1):
        f: dict[str, Any] = {"authors": [admins[j % n]], "kinds": [1]}
    elif kind == 2:
        f = {"kinds": [1], "#t": [dataset.TOPICS[j % len(dataset.TOPICS)]]}
    elif kind == 3:
        f = {"authors": [admins[j % n], admins[(j + 37) % n], admins[(j + 71) % n]]}
    else:
        f = {"#g": [dataset.GEOHASHES[j % len(dataset.GEOHASHES)]]}
    f["since"] = since
    return f


def sub_matches(i: int, plan: tuple[int, str, str]) -> bool:
    a, topic, geohash = plan
    kind, j = i % 5, i // 5
    n = dataset.ADMINS
    if kind in (0, 1):
        return a == j % n
    if kind == 2:
        return topic == dataset.TOPICS[j % len(dataset.TOPICS)]
    if kind == 3:
        return a in (j % n, (j + 37) % n, (j + 71) % n)
    return geohash == dataset.GEOHASHES[j % len(dataset.GEOHASHES)]


class Subscriber:
    def __init__(self, index: int) -> None:
        self.index = index
        self.received: set[int] = set()
        self.duplicates = 0
        self.closed_by_relay = 0
        self.disconnected = False


async def _subscriber(
    url: str,
    sub: Subscriber,
    filt: dict[str, Any],
    on_ready: Any,
    connect_slots: asyncio.Semaphore,
    lat: list[float],
    stop: asyncio.Event,
) -> None:
    sub_id = f"s{sub.index}"
    eose_seen = False
    ws: ClientConnection | None = None
    try:
        async with connect_slots:
            ws = await connect(url, **WS_OPTS)
        await ws.send(orjson.dumps(["REQ", sub_id, filt]), text=True)
        while not stop.is_set():
            raw = await ws.recv(decode=False)
            if raw.startswith(b'["EVENT"'):
                now = time.time()
                content = orjson.loads(raw)[2]["content"]
                parts = content.split(" ", 3)
                if parts[0] != "fanout":
                    continue
                seq = int(parts[1])
                if seq in sub.received:
                    sub.duplicates += 1
                else:
                    sub.received.add(seq)
                    lat.append(now - float(parts[2]))
            elif not eose_seen and raw.startswith(b'["EOSE"'):
                eose_seen = True
                on_ready(True)
            elif raw.startswith(b'["CLOSED"'):
                sub.closed_by_relay += 1
    except (OSError, TimeoutError, websockets.WebSocketException):
        sub.disconnected = True
    finally:
        if not eose_seen:
            on_ready(False)
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


async def subscribe(args: argparse.Namespace) -> None:
    raise_fd_limit()
    admins = dataset.admin_pubkeys()
    indices = range(args.first, args.first + args.count)
    subs = [Subscriber(i) for i in indices]
    lat: list[float] = []
    stop = asyncio.Event()
    ready = asyncio.Event()
    pending = [len(subs)]
    failed = [0]

    def on_ready(ok: bool) -> None:
        pending[0] -= 1
        failed[0] += not ok
        if pending[0] == 0:
            ready.set()

    slots = asyncio.Semaphore(args.connect_parallel)
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    tasks = [
        asyncio.create_task(
            _subscriber(args.url, s, sub_filter(s.index, admins, args.since), on_ready, slots, lat, stop)
        )
        for s in subs
    ]
    connect_error = None
    try:
        async with asyncio.timeout(args.connect_timeout):
            await ready.wait()
    except TimeoutError:
        connect_error = f"{pending[0]} of {len(subs)} subscriptions had no EOSE after {args.connect_timeout} s"
    sys.stdout.write(f"READY {time.perf_counter() - t0:.3f} {pending[0]} {failed[0]}\n")
    sys.stdout.flush()
    lat.clear()
    cpu1 = cpu_seconds()
    t1 = time.perf_counter()
    # Wait for "STOP [accepted seqs]" from the coordinator (bounded by --timeout).
    loop = asyncio.get_running_loop()
    accepted: list[int] = []
    try:
        async with asyncio.timeout(args.timeout):
            line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.startswith("STOP"):
            accepted = orjson.loads(line[4:].strip() or "[]")
    except TimeoutError:
        pass
    cpu2 = cpu_seconds()
    t2 = time.perf_counter()
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    expected = dropped = unexpected = 0
    plans = [post_plan(s) for s in accepted]
    for s in subs:
        want = {seq for seq, plan in zip(accepted, plans, strict=True) if sub_matches(s.index, plan)}
        expected += len(want)
        dropped += len(want - s.received)
        unexpected += len(s.received - want)
    result(
        {
            "subscribers": len(subs),
            "connect_seconds": t1 - t0,
            "connect_error": connect_error,
            "failed_connections": failed[0],
            "expected": expected,
            "received": sum(len(s.received) for s in subs),
            "dropped": dropped,
            "unexpected": unexpected,
            "duplicates": sum(s.duplicates for s in subs),
            "closed_by_relay": sum(s.closed_by_relay for s in subs),
            "disconnected": sum(1 for s in subs if s.disconnected),
            "latencies": lat,
            "connect_cpu_seconds": cpu1 - cpu0,
            "cpu_seconds": cpu2 - cpu1,
            "cpu_share": (cpu2 - cpu1) / (t2 - t1),
        }
    )


async def publish(args: argparse.Namespace) -> None:
    signers = [dataset.Signer(dataset.secret("admin", i)) for i in range(dataset.ADMINS)]
    total = int(args.rate * args.duration)
    accepted: list[int] = []
    refused: list[str] = []
    refused_seqs: list[int] = []
    ack_lat: list[float] = []
    sent_at: dict[str, tuple[int, float]] = {}
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    late = sent = 0
    error = None
    publish_seconds = 0.0
    try:
        async with connect(args.url, **WS_OPTS) as ws:

            async def reader() -> None:
                while len(accepted) + len(refused) < total:
                    raw = await ws.recv(decode=False)
                    if not raw.startswith(b'["OK"'):
                        continue
                    msg = orjson.loads(raw)
                    seq, ts = sent_at.pop(msg[1], (-1, 0.0))
                    if msg[2] is True:
                        accepted.append(seq)
                        ack_lat.append(time.perf_counter() - ts)
                    else:
                        refused.append(msg[3])
                        refused_seqs.append(seq)

            read_task = asyncio.create_task(reader())
            try:
                for seq in range(total):
                    due = t0 + seq / args.rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif delay < -0.05:
                        late += 1
                    if read_task.done():  # the relay closed the connection
                        break
                    a, topic, geohash = post_plan(seq)
                    now = time.time()
                    content = f"fanout {seq} {now:.6f} {FANOUT_PAD}"
                    line = signers[a].sign(1, content, [["t", topic], ["g", geohash]], int(now))
                    sent_at[orjson.loads(line)["id"]] = (seq, time.perf_counter())
                    await ws.send(b'["EVENT",' + line + b"]", text=True)
                    sent += 1
                publish_seconds = time.perf_counter() - t0
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(args.ack_timeout):
                        await asyncio.shield(read_task)
                if read_task.done() and read_task.exception() is not None:
                    raise read_task.exception()  # type: ignore[misc]
            finally:
                read_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed, OSError):
                    await read_task
    except (OSError, websockets.WebSocketException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    publish_seconds = publish_seconds or (time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    result(
        {
            "sent": sent,
            "planned": total,
            "accepted": len(accepted),
            # Every post sent and not refused should reach its subscribers, whether or not its OK came back in
            # time (a relay that is slow to answer OK may still have stored and fanned it out).
            "deliverable": sorted(set(range(sent)) - set(refused_seqs)),
            "refused": len(refused),
            "reasons": refused[:5],
            "error": error,
            "publish_seconds": publish_seconds,
            "achieved_rate": sent / publish_seconds,
            "late": late,
            "ack_latencies": ack_lat,
            "cpu_seconds": cpu,
            "cpu_share": cpu / wall,
        }
    )


# -- entry point ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    roles = parser.add_subparsers(dest="role", required=True)

    p = roles.add_parser("ingest")
    p.add_argument("--url", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--window", type=int, default=200)
    p.add_argument("--timeout", type=float, default=600)

    p = roles.add_parser("query")
    p.add_argument("--url", required=True)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--kinds", type=lambda s: [int(x) for x in s.split(",")], default=[1])
    p.add_argument("--max-seconds", type=float, default=120, help="stop issuing queries after this long")
    p.add_argument("--timeout", type=float, default=300)

    p = roles.add_parser("subscribe")
    p.add_argument("--url", required=True)
    p.add_argument("--first", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--since", type=int, required=True)
    p.add_argument("--connect-parallel", type=int, default=50)
    p.add_argument("--connect-timeout", type=float, default=180)
    p.add_argument("--timeout", type=float, default=300)

    p = roles.add_parser("publish")
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--ack-timeout", type=float, default=30)

    args = parser.parse_args()
    asyncio.run({"ingest": ingest, "query": query, "subscribe": subscribe, "publish": publish}[args.role](args))


if __name__ == "__main__":
    main()
