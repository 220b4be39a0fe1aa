"""LAN benchmarks (issue 4): real ``samizdat serve --lan`` processes in network namespaces on a bridged LAN.

    .venv/bin/python bench/lan.py                 # all three, prints the figures, writes docs/benchmarks.md
    .venv/bin/python bench/lan.py --only six      # six | twenty | meet (comma-separated); --no-write

1. **six**: six nodes on one LAN. Discovery (until every node lists the five others in ``peers``), then
   publish-to-arrival of posts from each node in turn (until all six store it), then the discovery time of a newly
   started node (until the six already running list it). Targets: arrival <= 2 s, discovery <= 5 s.
2. **twenty**: twenty nodes on one LAN: time until all have found each other and the bytes that took, then one
   post: time until every node stores it, and the bytes all nodes sent meanwhile.
3. **meet**: two nodes sharing 100,000 posts, apart on two LANs, write 100 new posts each; one is plugged into
   the other's LAN: time until each has the other's 100, and the bytes both sent.

Bytes are read from the nodes' veth counters (``ip -s -j link``): everything on the wire, mDNS, ARP, TCP and
WebSocket framing included. "Lists" and "stores" are read straight from each node's ``local.sqlite`` (the table
``samizdat peers --json`` prints) and ``events.sqlite``, polled every few milliseconds from outside. The network
harness is the LAN tests' (``tests/lan/lan_netns.py``). Needs root and iproute2. Everything shares the machine's
cores with the nodes, so run it on a quiet machine, once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lan"))
sys.path.insert(0, str(ROOT / "bench"))

import dataset  # noqa: E402
from lan_data import add_to_store, channel_posts  # noqa: E402
from lan_netns import Lab, LanNode, missing_requirement, remove_leftovers  # noqa: E402
from report import cpu_name, write_section  # noqa: E402

from samizdat.core.event import parse_event  # noqa: E402
from samizdat.store import dbapi  # noqa: E402
from samizdat.store.sqlite import SqliteStore  # noqa: E402
from samizdat.testing import open_database  # noqa: E402

OUT = ROOT / "bench" / "out"
POLL = 0.005
ARRIVAL_TARGET = 2.0
DISCOVERY_TARGET = 5.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = POLL) -> float:
    """Poll until ``predicate()`` is truthy; return the seconds it took; raise TimeoutError naming ``what``."""
    started = time.monotonic()
    for _ in range(int(timeout / max(interval, 0.001)) + 2):
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            break
        time.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


class Watch:
    """Read-only connections to a node's stores, kept open so that each poll costs well under a millisecond."""

    def __init__(self, node: LanNode) -> None:
        self.node = node
        self._events: sqlite3.Connection | None = None
        self._local: sqlite3.Connection | None = None

    def _open(self, name: str) -> sqlite3.Connection | None:
        path = self.node.home / name
        if not path.exists():
            return None
        return open_database(path)  # type: ignore[no-any-return]  # the node's keys: samizdat.testing

    def events(self) -> sqlite3.Connection | None:
        if self._events is None:
            self._events = self._open("events.sqlite")
        return self._events

    def last_seq(self) -> int:
        conn = self.events()
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]) if conn else 0

    def has_marker(self, marker: bytes, after_seq: int) -> bool:
        conn = self.events()
        if conn is None:
            return False
        sql = "SELECT 1 FROM events WHERE seq > ? AND instr(raw, ?) > 0 LIMIT 1"
        return conn.execute(sql, (after_seq, marker)).fetchone() is not None

    def count_of(self, ids: Sequence[bytes]) -> int:
        conn = self.events()
        if conn is None:
            return 0
        total = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = f"SELECT count(*) FROM events WHERE id IN ({','.join('?' * len(chunk))})"
            total += int(conn.execute(sql, chunk).fetchone()[0])
        return total

    def peer_urls(self) -> set[str]:
        if self._local is None:
            self._local = self._open("local.sqlite")
        if self._local is None:
            return set()
        try:
            return {row[0] for row in self._local.execute("SELECT url FROM peers")}
        except dbapi.sqlite3.OperationalError:  # the table is created when the node first runs
            return set()

    def close(self) -> None:
        for conn in (self._events, self._local):
            if conn is not None:
                conn.close()


def tx_bytes(nodes: Sequence[LanNode]) -> int:
    return sum(n.link_bytes()[1] for n in nodes)


def all_listed(watches: Sequence[Watch]) -> bool:
    urls = [w.node.url for w in watches]
    return all({u for u in urls if u != w.node.url} <= w.peer_urls() for w in watches)


class Poster:
    """Runs ``samizdat post`` in a thread while the caller polls the stores."""

    def __init__(self, node: LanNode, channel: str, text: str) -> None:
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, args=(node, channel, text), daemon=True)

    def _run(self, node: LanNode, channel: str, text: str) -> None:
        started = time.monotonic()
        try:
            node.post(channel, text)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc
        self.seconds = time.monotonic() - started

    def __enter__(self) -> Poster:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(120)


def publish_and_time(author: LanNode, channel: str, watches: Sequence[Watch], label: str) -> dict[str, float]:
    """Post from ``author`` and time (a) the command until the author stores it, (b) from there until every node
    stores it. The post is found by a unique marker in its text, among rows newer than before the post."""
    marker = f"{label}-{time.time_ns()}"
    before = {w.node.name: w.last_seq() for w in watches}
    own = next(w for w in watches if w.node is author)
    started = time.monotonic()
    stored: dict[str, float] = {}
    with Poster(author, channel, f"Bench post {marker}") as poster:
        deadline = started + 60
        for _ in range(int(60 / POLL) + 2):
            now = time.monotonic()
            for w in watches:
                if w.node.name not in stored and w.has_marker(marker.encode(), before[w.node.name]):
                    stored[w.node.name] = now - started
            if len(stored) == len(watches) or now > deadline:
                break
            time.sleep(POLL)
    if poster.error is not None:
        raise poster.error
    if len(stored) < len(watches):
        raise TimeoutError(f"{label}: only {sorted(stored)} stored the post within 60 s")
    at_author = stored[own.node.name]
    return {
        "command_to_author": at_author,
        "author_to_all": max(stored.values()) - at_author,
        "command_to_all": max(stored.values()),
        "post_command": poster.seconds,
    }


# -- 1. six nodes --------------------------------------------------------------------------------------------


def bench_six(lab: Lab, posts_per_node: int = 2, newcomers: int = 3) -> dict[str, Any]:
    lan = lab.lan()
    nodes = [lab.node(lan, f"six{i}") for i in range(6)]
    for node in nodes:
        node.json("channel", "create", "ch", "--name", f"Channel of {node.name}")
    watches = [Watch(n) for n in nodes]
    started = time.monotonic()
    for node in nodes:
        node.start("--lan")
    started_all = time.monotonic() - started
    found = until(lambda: all_listed(watches), 120, "six nodes finding each other", 0.05) + started_all
    log(f"six: all started in {started_all:.1f} s; all six listed the five others {found:.1f} s after the first start")
    time.sleep(3)  # let the first reconciliations finish: "once discovered" means linked

    arrivals = []
    for round_ in range(posts_per_node):
        for node in nodes:
            timing = publish_and_time(node, "ch", watches, f"six-{node.name}-{round_}")
            arrivals.append(timing)
            log(
                f"six: post from {node.name}: on the author {timing['command_to_author']:.3f} s after `post`"
                f" started, on all six {timing['author_to_all'] * 1000:.0f} ms later"
            )
            time.sleep(0.5)

    discoveries = []
    for i in range(newcomers):
        newcomer = lab.node(lan, f"new{i}")
        t0 = time.monotonic()
        newcomer.start("--lan")
        ready = time.monotonic() - t0
        listed = until(
            lambda n=newcomer: all(n.url in w.peer_urls() for w in watches), 60, f"{newcomer.name} listed", 0.02
        )
        discoveries.append({"ready": ready, "listed_after_ready": listed, "listed_after_start": ready + listed})
        stopping = time.monotonic()
        newcomer.stop()
        stop = time.monotonic() - stopping
        discoveries[-1]["stop_s"] = stop
        log(
            f"six: newcomer {i}: serving {ready:.2f} s after start; listed by all six {listed:.2f} s later;"
            f" SIGTERM to exit {stop:.2f} s"
        )
    check = {p["url"] for p in nodes[0].peers()}  # the command itself agrees with the table
    assert {n.url for n in nodes[1:]} <= check, check
    for w in watches:
        w.close()
    author_to_all = [a["author_to_all"] for a in arrivals]
    command_to_all = [a["command_to_all"] for a in arrivals]
    listed_after_ready = [d["listed_after_ready"] for d in discoveries]
    return {
        "nodes": 6,
        "all_started_s": started_all,
        "all_found_s": found,
        "posts": len(arrivals),
        "arrival_author_to_all_s": {"median": statistics.median(author_to_all), "max": max(author_to_all)},
        "arrival_command_to_all_s": {"median": statistics.median(command_to_all), "max": max(command_to_all)},
        "post_command_s": statistics.median(a["post_command"] for a in arrivals),
        "newcomers": discoveries,
        "discovery_after_ready_s": {"median": statistics.median(listed_after_ready), "max": max(listed_after_ready)},
    }


# -- 2. twenty nodes -------------------------------------------------------------------------------------------


def bench_twenty(lab: Lab, count: int = 20) -> dict[str, Any]:
    lan = lab.lan()
    nodes = [lab.node(lan, f"tw{i}") for i in range(count)]
    nodes[0].json("channel", "create", "ch", "--name", "District")
    watches = [Watch(n) for n in nodes]
    bytes0 = tx_bytes(nodes)
    started = time.monotonic()
    for node in nodes:
        node.start("--lan", wait=False)
    for node in nodes:
        node.wait_ready(120)
    started_all = time.monotonic() - started
    found = until(lambda: all_listed(watches), 300, f"{count} nodes finding each other", 0.1) + started_all
    found_bytes = tx_bytes(nodes) - bytes0
    log(
        f"twenty: all started in {started_all:.1f} s, all listed all {found:.1f} s after the first start,"
        f" {found_bytes / 1e3:.0f} kB sent by all nodes meanwhile"
    )
    time.sleep(10)  # links settle (first reconciliations)
    idle0, t_idle = tx_bytes(nodes), time.monotonic()
    time.sleep(10)
    idle_rate = (tx_bytes(nodes) - idle0) / (time.monotonic() - t_idle)
    log(f"twenty: idle traffic {idle_rate / 1e3:.1f} kB/s from all nodes together")

    before = tx_bytes(nodes)
    timing = publish_and_time(nodes[0], "ch", watches, "twenty")
    at_all = tx_bytes(nodes) - before
    time.sleep(3)  # duplicates still in flight, and their acknowledgements
    settled = tx_bytes(nodes) - before
    log(
        f"twenty: the post was on all {count} nodes {timing['author_to_all'] * 1000:.0f} ms after the author stored"
        f" it; {at_all / 1e3:.0f} kB sent by then, {settled / 1e3:.0f} kB within 3 s more"
    )
    for w in watches:
        w.close()
    return {
        "nodes": count,
        "all_started_s": started_all,
        "all_found_s": found,
        "found_bytes": found_bytes,
        "idle_bytes_per_s": idle_rate,
        "post": timing,
        "post_bytes_until_all": at_all,
        "post_bytes_3s_later": settled,
    }


# -- 3. two nodes meet again -----------------------------------------------------------------------------------


def shared_store(n: int) -> Path:
    """A store file with the benchmark data set's ``n`` events (cached in bench/out/)."""
    path = OUT / f"lan-store-{n}.sqlite"
    if path.exists():
        return path
    lines = dataset.read_lines(dataset.ensure("store", n))
    events = [parse_event(orjson.loads(line), verify=False) for line in lines]
    tmp = path.with_suffix(".tmp")

    async def fill() -> None:
        store = await SqliteStore.open(tmp)
        try:
            for start in range(0, len(events), 5000):
                await store.add_many(events[start : start + 5000])
        finally:
            await store.close()

    asyncio.run(fill())
    tmp.rename(path)
    return path


def bench_meet(lab: Lab, shared: int = 100_000, new: int = 100) -> dict[str, Any]:
    template = shared_store(shared)
    lan1, lan2 = lab.lan(), lab.lan()
    a, b = lab.node(lan1, "meet-a", init=False), lab.node(lan2, "meet-b", init=False)
    fresh: dict[str, list[bytes]] = {}
    for node in (a, b):
        node.ok("init", "--no-passphrase")  # plain: the shared template store is a plain file
        shutil.copyfile(template, node.store_path)
        _, events = channel_posts(new - 1, now=int(time.time()), name=f"news{node.name[-1]}")
        add_to_store(node.store_path, events)
        fresh[node.name] = [bytes.fromhex(e.id) for e in events]
    for node in (a, b):
        node.start("--lan")
    watches = {n.name: Watch(n) for n in (a, b)}
    time.sleep(5)  # both idle, each alone on its LAN
    before = tx_bytes([a, b])
    lab.move(b, lan1)
    took = until(
        lambda: (
            watches["meet-a"].count_of(fresh["meet-b"]) == new and watches["meet-b"].count_of(fresh["meet-a"]) == new
        ),
        300,
        "the two nodes exchanging their new posts",
        0.01,
    )
    sent = tx_bytes([a, b]) - before
    time.sleep(2)
    settled = tx_bytes([a, b]) - before
    link = [p for node in (a, b) for p in node.peers() if p["url"] in (a.url, b.url)]
    app_bytes = sum(p["bytes_in"] + p["bytes_out"] for p in link if p["state"] != "passive")
    log(
        f"meet: {shared:,} shared + {new} new each: exchanged in {took:.2f} s after the plug-in (noticing the"
        f" network change and mDNS included); {sent / 1e3:.0f} kB on the wire by then, {settled / 1e3:.0f} kB"
        f" 2 s later; the link counted {app_bytes / 1e3:.0f} kB"
    )
    for w in watches.values():
        w.close()
    return {
        "shared": shared,
        "new_each": new,
        "seconds": took,
        "wire_bytes": sent,
        "wire_bytes_2s_later": settled,
        "link_bytes": app_bytes,
        "ids_alone_bytes": 32 * (shared + 2 * new),
    }


# -- report ----------------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = cpu_name()
    mem = 0.0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) / 1024 / 1024
    python = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores, {mem:.1f} GiB RAM, Linux {platform.release()}, Python {python}"


def section(results: dict[str, Any], command: str, date: str) -> list[str]:
    lines = [
        "## LAN (issue 4)",
        "",
        "Real `samizdat serve --lan` processes, each in a network namespace of its own, on a Linux bridge with no"
        " route out (`bench/lan.py`; the harness is `tests/lan/lan_netns.py`). Bytes are the nodes' veth counters:"
        " everything on the wire, mDNS included. Times are polled from outside every 5-10 ms.",
        "",
        f"- date: {date}",
        f"- command: `{command}`",
        f"- machine: {machine()}; nodes, harness and other engineers' work share the cores",
        "",
    ]
    six = results.get("six")
    if six:
        arr, disc = six["arrival_author_to_all_s"], six["discovery_after_ready_s"]
        lines += [
            "| six nodes | measured | target | meets |",
            "|---|---|---|---|",
            f"| publish-to-arrival on all six, median / max of {six['posts']} posts | {arr['median'] * 1000:.0f} /"
            f" {arr['max'] * 1000:.0f} ms | ≤ 2 s | {'yes' if arr['max'] <= ARRIVAL_TARGET else 'no'} |",
            f"| discovery of a newly started node by all six, median / max of {len(six['newcomers'])} |"
            f" {disc['median']:.2f} / {disc['max']:.2f} s | ≤ 5 s |"
            f" {'yes' if disc['max'] <= DISCOVERY_TARGET else 'no'} |",
            "",
            f"- arrival is from the moment the author's store has the post until the last of the six has it; from"
            f" the start of the `samizdat post` command it is {six['arrival_command_to_all_s']['median']:.2f} s median"
            f" (the command itself takes {six['post_command_s']:.2f} s: Python start-up, signing, handing the post"
            f" to the running node)",
            "- discovery is from the moment the new node serves (its `serve.json` is written) until all six list it"
            " in `samizdat peers`; from the start of its process: "
            + ", ".join(f"{d['listed_after_start']:.2f}" for d in six["newcomers"])
            + " s",
            f"- six nodes started together listed each other {six['all_found_s']:.1f} s after the first start"
            f" (starting six Python processes took {six['all_started_s']:.1f} s of that)",
            "",
        ]
    tw = results.get("twenty")
    if tw:
        lines += [
            f"**{tw['nodes']} nodes on one LAN**: all started in {tw['all_started_s']:.1f} s and every node listed"
            f" the {tw['nodes'] - 1} others {tw['all_found_s']:.1f} s after the first start;"
            f" {tw['found_bytes'] / 1e3:,.0f} kB sent by all nodes meanwhile (mDNS and the first reconciliations)."
            f" Idle, the LAN carries {tw['idle_bytes_per_s'] / 1e3:.1f} kB/s from all nodes together. One post"
            f" reached all {tw['nodes']} nodes {tw['post']['author_to_all'] * 1000:.0f} ms after the author stored"
            f" it ({tw['post']['command_to_all']:.2f} s from the start of `post`); all nodes together sent"
            f" {tw['post_bytes_until_all'] / 1e3:,.0f} kB by then and {tw['post_bytes_3s_later'] / 1e3:,.0f} kB"
            " counting the next 3 s: every node passes a new post on to each of its live links but the one it came"
            " by, so on a LAN of n nodes one post crosses the wire up to n(n-1) times (duplicates are acknowledged"
            " and dropped).",
            "",
        ]
    meet = results.get("meet")
    if meet:
        lines += [
            f"**Two nodes meet again**: both hold the same {meet['shared']:,} posts and {meet['new_each']} new ones"
            f" each, on two separate LANs; one is plugged into the other's LAN. Each had the other's"
            f" {meet['new_each']} {meet['seconds']:.2f} s later (noticing the network change, mDNS, connecting and"
            f" reconciling included); {meet['wire_bytes'] / 1e3:,.0f} kB crossed the wire by then"
            f" ({meet['wire_bytes_2s_later'] / 1e3:,.0f} kB counting 2 s more), the link itself counted"
            f" {meet['link_bytes'] / 1e3:,.0f} kB; sending the ids alone would take"
            f" {meet['ids_alone_bytes'] / 1e6:.1f} MB.",
            "",
        ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="six,twenty,meet", help="comma-separated: six, twenty, meet")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--from-json", type=Path, help="write the section from a saved bench/out/lan-*.json, no run")
    args = parser.parse_args()
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        lines = section(saved["results"], saved["command"], saved["date"])
        print("\n".join(lines))
        if not args.no_write:
            write_section(args.output, "## LAN (issue 4)", lines)
        return 0
    reason = missing_requirement()
    if reason is not None:
        print(f"bench/lan.py: {reason}", file=sys.stderr)
        return 2
    remove_leftovers()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    benches = {"six": bench_six, "twenty": bench_twenty, "meet": bench_meet}
    unknown = set(wanted) - set(benches)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    results: dict[str, Any] = {}
    for name in wanted:
        root = Path(tempfile.mkdtemp(prefix=f"smzl-bench-{name}-"))
        try:
            with Lab(root) as lab:
                results[name] = benches[name](lab)
        except Exception:
            log(f"{name} failed; the nodes' data and serve logs are in {root}")
            raise
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results, indent=2))
    OUT.mkdir(exist_ok=True)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    only = f" --only {args.only}" if args.only != parser.get_default("only") else ""
    command = f".venv/bin/python bench/lan.py{only}"
    saved = {"date": date, "command": command, "results": results}
    (OUT / f"lan-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(saved, indent=2))
    lines = section(results, command, date)
    print("\n".join(lines))
    if not args.no_write:
        write_section(args.output, "## LAN (issue 4)", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
