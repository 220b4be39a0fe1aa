"""A cluster of three relay processes keeps serving when one is killed (issue 15): ``samizdat serve --workers 3``
on one port, live subscribers and publishers on every worker, then ``kill -9`` of one worker in the middle.

    .venv/bin/python bench/cluster_kill.py [--subscribers 600] [--rate 20] [--seconds 12] [--victims 0 1] [--no-write]

* **subscribers**: ``--subscribers`` WebSocket connections (spread over the workers by ``SO_REUSEPORT``), each with
  one subscription to the benchmark's topic. A subscriber whose connection drops reconnects at once (then after
  0.25 s, 0.5 s, ... while connecting fails), subscribes again from the newest post it has seen (``since``, that
  second included), and keeps every id it has seen: what was published while it was away comes with the stored
  events.
* **publishers**: 4 connections publish ``--rate`` posts a second in all; a post counts as *acknowledged* when its
  ``OK true`` came. A publisher whose connection drops reconnects and sends again what was not acknowledged.
* At one third of ``--seconds`` one worker (each of ``--victims`` in a run of its own, on a new cluster; worker 0
  also runs the node's loops) is killed with SIGKILL. The parent starts it again; the other workers keep their
  connections.

Reported: how many subscribers were cut off; for each, the time from the kill until it was subscribed again
(its new subscription's EOSE), p50 / p99 / max (goal: within 5 s); how long new connections were refused;
acknowledged posts, and how many of them any subscriber lacks at the end (goal: none); when the parent had
started the worker again. Writes a "Cluster: one worker killed" section of docs/benchmarks.md (unless
``--no-write``), with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import platform
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from report import DOC, write_section  # noqa: E402
from workers import Relay, log  # noqa: E402

from samizdat.core.event import Event, sign_event  # noqa: E402
from samizdat.core.keys import SecretKey  # noqa: E402

TITLE = "## Cluster: one worker killed (issue 15)"
TAG = "cluster-bench"
WORKERS = 3
PUBLISHERS = 4
DRAIN = 20.0  # after the last post, how long subscribers may take to have everything


class Subscriber:
    def __init__(self, url: str, since: int, number: int) -> None:
        self.url, self.since, self.number = url, since, number
        self.seen: set[str] = set()
        self.workers: list[int] = []  # the worker of each connection it had
        self.cut_at: float | None = None  # monotonic time its connection dropped
        self.back_at: float | None = None  # monotonic time of its EOSE after that
        self.subscribed = asyncio.Event()
        self.failures: list[str] = []  # why each reconnect failed

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.0
        while not stop.is_set():
            try:
                ws = await connect(self.url, open_timeout=10, close_timeout=1, max_size=None, ping_interval=None)
            except Exception as exc:  # noqa: BLE001 (refused while the worker restarts: again)
                self.failures.append(f"{type(exc).__name__}: {exc}"[:80])
                delay = min(2.0, delay + 0.25)
                await asyncio.sleep(delay)
                continue
            delay = 0.0
            try:
                await self._serve(ws, stop)
            except Exception:  # noqa: BLE001 (the worker was killed: note when, and reconnect)
                if self.cut_at is None:
                    self.cut_at = time.monotonic()
            finally:
                with contextlib.suppress(Exception):
                    await ws.close()

    async def _serve(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        assert ws.response is not None
        self.workers.append(int(ws.response.headers.get("X-Samizdat-Worker", "-1")))
        # Again from the newest post seen (the same second included: ids tell repeats apart), as a client that
        # kept its place does; the first time, from the start.
        await ws.send(orjson.dumps(["REQ", "live", {"#t": [TAG], "since": self.since}]).decode())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if receiving not in done:
                    receiving.cancel()
                    return
                message = orjson.loads(receiving.result())
                if message[0] == "EVENT":
                    self.seen.add(message[2]["id"])
                    self.since = max(self.since, message[2]["created_at"])
                elif message[0] == "EOSE":
                    if self.cut_at is not None and self.back_at is None:
                        self.back_at = time.monotonic()
                    self.subscribed.set()
        finally:
            stopping.cancel()


async def publisher(
    url: str, events: list[Event], interval: float, acked: dict[str, float], stop: asyncio.Event
) -> None:
    """Send ``events`` one every ``interval`` seconds, reconnecting and sending again what was not acknowledged."""
    todo = list(events)
    next_at = time.monotonic()
    while todo and not stop.is_set():
        try:
            ws = await connect(url, open_timeout=10, close_timeout=1, max_size=None, ping_interval=None)
        except Exception:  # noqa: BLE001 (refused while the worker restarts: again)
            await asyncio.sleep(0.25)
            continue
        try:
            while todo:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                event = todo[0]
                await ws.send(orjson.dumps(["EVENT", event.to_dict()]).decode())
                async with asyncio.timeout(10):
                    while (message := orjson.loads(await ws.recv()))[0] != "OK" or message[1] != event.id:
                        pass
                if message[2]:
                    acked[event.id] = time.monotonic()
                todo.pop(0)
                next_at += interval
        except Exception:  # noqa: BLE001 (the worker was killed: reconnect, send the unacknowledged again)
            pass
        finally:
            with contextlib.suppress(Exception):
                await ws.close()


def worker_pids(url: str) -> dict[int, int]:
    """Worker index -> pid, from the NIP-11 document each worker gives a reader on this machine."""
    request = urllib.request.Request(
        url.replace("ws://", "http://") + "/", headers={"Accept": "application/nostr+json"}
    )
    found: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while len(found) < WORKERS and time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=5) as answer:
            doc = orjson.loads(answer.read())
            found[doc["samizdat_worker"]["index"]] = doc["samizdat_worker"]["pid"]
    return found


def refused_connections(port: int, seconds: float) -> tuple[int, int, float]:
    """New TCP connections tried every 10 ms for ``seconds``: (tried, refused, longest run of refusals in s)."""
    import socket

    tried = refused = 0
    run_start: float | None = None
    longest = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tried += 1
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                if run_start is not None:
                    longest = max(longest, time.monotonic() - run_start)
                    run_start = None
        except OSError:
            refused += 1
            run_start = run_start if run_start is not None else time.monotonic()
        time.sleep(0.01)
    return tried, refused, longest


async def bench(subscribers: int, rate: float, seconds: float, victim: int) -> dict[str, Any]:
    relay = Relay("samizdat", workers=WORKERS)  # its default cap: 10,000 connections
    try:
        url = relay.url
        pids = await asyncio.to_thread(worker_pids, url)
        if len(pids) < WORKERS:
            raise RuntimeError(f"only workers {sorted(pids)} answered")
        author = SecretKey.generate()
        start = int(time.time()) - 5
        total = int(rate * seconds)
        events = [
            sign_event(author, 1, f"cluster post {i}", [["t", TAG]], created_at=start + i // 100) for i in range(total)
        ]
        stop = asyncio.Event()
        subs = [Subscriber(url, start - 1, n) for n in range(subscribers)]
        tasks = [asyncio.create_task(s.run(stop)) for s in subs]
        async with asyncio.timeout(120):
            for s in subs:
                await s.subscribed.wait()
        log(f"{subscribers} subscribed; on workers {sorted({s.workers[0] for s in subs})}")
        acked: dict[str, float] = {}
        interval = PUBLISHERS / rate
        pubs = [
            asyncio.create_task(publisher(url, events[i::PUBLISHERS], interval, acked, stop)) for i in range(PUBLISHERS)
        ]
        await asyncio.sleep(seconds / 3)
        probe = asyncio.create_task(asyncio.to_thread(refused_connections, relay.port, 3.0))
        killed_at = time.monotonic()
        os.kill(pids[victim], signal.SIGKILL)
        log(f"killed worker {victim} (pid {pids[victim]})")
        restarted_after = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            again = await asyncio.to_thread(worker_pids, url)
            if again.get(victim) not in (None, pids[victim]):
                restarted_after = time.monotonic() - killed_at
                break
            await asyncio.sleep(0.05)
        tried, refused, refused_run = await probe
        async with asyncio.timeout(seconds * 3 + 60):
            await asyncio.gather(*pubs)
        wanted = set(acked)
        drain_end = time.monotonic() + DRAIN
        while time.monotonic() < drain_end and any(not wanted <= s.seen for s in subs):  # noqa: ASYNC110 (many sets)
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        cut = [s for s in subs if s.cut_at is not None]
        back = sorted(s.back_at - killed_at for s in cut if s.back_at is not None)
        noticed = sorted(s.cut_at - killed_at for s in cut if s.cut_at is not None)
        lacking = [len(wanted - s.seen) for s in subs]
        return {
            "subscribers": subscribers,
            "on_victim": sum(1 for s in subs if s.workers[0] == victim),
            "cut": len(cut),
            "back": back,
            "noticed": noticed,
            "never_back": len(cut) - len(back),
            "sent": total,
            "acked": len(wanted),
            "lacking_subscribers": sum(1 for n in lacking if n),
            "lacking_max": max(lacking, default=0),
            "failures": collections.Counter(f for s in subs for f in s.failures).most_common(3),
            "restarted_after": restarted_after,
            "probe": (tried, refused, refused_run),
            "victim": victim,
        }
    finally:
        relay.stop()


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def rows(r: dict[str, Any]) -> list[str]:
    """The table's cells for one run, in the order of ``ROWS``."""
    back = r["back"]
    tried, refused, refused_run = r["probe"]
    return [
        f"{r['on_victim']} / {r['cut']}",
        f"{percentile(r['noticed'], 0.5):.2f} / {max(r['noticed'], default=float('nan')):.2f} s",
        f"{percentile(back, 0.5):.2f} / {percentile(back, 0.99):.2f} / {max(back, default=float('nan')):.2f} s",
        f"{r['never_back']}",
        f"{r['acked']} / {r['sent']}",
        f"{r['lacking_max']} (on {r['lacking_subscribers']} subscribers)",
        f"{refused} of {tried} (longest run {refused_run:.2f} s)",
        f"{r['restarted_after']:.2f} s" if r["restarted_after"] is not None else "not within 30 s",
    ]


ROWS = [
    ("subscribers on the killed worker / cut off", ""),
    ("cut-off subscribers saw their connection end, from the kill: p50 / max", ""),
    ("cut-off subscribers subscribed again, from the kill: p50 / p99 / max", "≤ 5 s"),
    ("cut-off subscribers never back", "0"),
    ("posts acknowledged / sent", "all"),
    ("acknowledged posts some subscriber lacks at the end", "0"),
    ("new connections refused in the 3 s after the kill (tried every 10 ms)", ""),
    ("the parent started the worker again after", ""),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20.0, help="posts a second, all publishers together")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--victims", type=int, nargs="+", default=[0, 1], help="the worker killed, a run each")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs = [asyncio.run(bench(args.subscribers, args.rate, args.seconds, victim)) for victim in args.victims]
    for r in runs:
        log(f"worker {r['victim']}: reconnects that failed, by reason: {r['failures'] or 'none'}")
    load_after = os.getloadavg()
    cells = [rows(r) for r in runs]
    header = " | ".join(f"worker {v} killed" + (" (it runs the node's loops)" if v == 0 else "") for v in args.victims)
    lines = [
        TITLE,
        "",
        f"`bench/cluster_kill.py` (how: its docstring): `samizdat serve --workers {WORKERS}` (plain SQLite, one port),"
        f" {args.subscribers} live subscribers of one topic and {PUBLISHERS} publishers ({args.rate:g} posts/s in all,"
        f" {args.seconds:g} s), one worker killed with SIGKILL a third of the way in; a new cluster for each run."
        " Clients reconnect at once, then back off by 0.25 s; a subscriber asks again from the newest post it had"
        " seen, so what it missed comes with the stored events.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- command: `.venv/bin/python bench/cluster_kill.py --subscribers {args.subscribers} --rate {args.rate:g}"
        f" --seconds {args.seconds:g} --victims {' '.join(map(str, args.victims))}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, Python"
        f" {platform.python_version()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
        " (the relay, the clients and whatever else runs share the cores)",
        "",
        f"| | {header} | goal |",
        "|---|" + "---|" * len(runs) + "---|",
        *(f"| {name} | " + " | ".join(c[i] for c in cells) + f" | {goal} |" for i, (name, goal) in enumerate(ROWS)),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(DOC, TITLE, lines)


if __name__ == "__main__":
    main()
