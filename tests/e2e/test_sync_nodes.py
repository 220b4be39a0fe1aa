"""Two real nodes (``samizdat serve`` processes, each with its own store) reconcile 100,000 shared events with
``samizdat sync`` and move exactly what differs; a sync killed part-way resumes where it stopped.

The stores are filled directly (``SqliteStore.add_many``) with pre-signed events before the nodes start: signing
runs in worker processes, and the 100,000 shared events go into one template store that each node's home gets a
copy of. The numbers of each sync (have, need, bytes, round trips, seconds) are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, parse_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import open_database

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

pytestmark = pytest.mark.slow

SHARED = 100_000
EXTRA = 20_000  # what B has and A lacks in the interrupted sync
BASE = 1_700_000_000  # events spread over about 70 days before this
KEYS = 5
KILL_DEADLINE = 60.0
SYNC_TIMEOUT = 120.0

# Signs notes ``start .. start + count - 1`` of one label, round-robin over a handful of deterministic keys, and
# writes them as JSON lines. Run in worker processes: signing is the slow part of preparing the stores.
SIGNER = """
import hashlib, sys
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey

label, out = sys.argv[1], sys.argv[2]
start, count, spread, base, n_keys = (int(a) for a in sys.argv[3:8])
keys = [SecretKey.from_hex(hashlib.sha256(f"sync-nodes key {k}".encode()).hexdigest()) for k in range(n_keys)]
with open(out, "wb") as handle:
    for i in range(start, start + count):
        created_at = base - spread + (i * 7919) % spread
        event = sign_event(keys[i % n_keys], 1, f"{label} {i}", [["t", label]], created_at=created_at)
        handle.write(event.to_json() + b"\\n")
"""


@dataclass
class Corpus:
    template: Path  # a store file with the shared events and a channel definition
    channel: str  # the channel's address (30333:<owner>:<id>)
    a_only: list[Event]
    b_only: list[Event]
    channel_a: list[Event]  # the channel's posts only A has
    channel_b: list[Event]
    extra: list[Event]


def sign_in_workers(jobs: Sequence[tuple[str, int, int, int]], workdir: Path) -> dict[str, list[Event]]:
    """Sign (label, start, count, spread) jobs, split over up to two worker processes each."""
    workers = max(1, min(2, os.cpu_count() or 1))
    processes: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    try:
        for label, start, count, spread in jobs:
            share = -(-count // workers)
            for part, first in enumerate(range(start, start + count, share)):
                out = workdir / f"{label}-{part}.jsonl"
                size = min(share, start + count - first)
                numbers = (first, size, spread, BASE, KEYS)
                args = [sys.executable, "-c", SIGNER, label, str(out), *map(str, numbers)]
                processes.append((label, out, subprocess.Popen(args, stdin=subprocess.DEVNULL)))
        signed: dict[str, list[Event]] = {label: [] for label, *_ in jobs}
        for label, out, process in processes:
            assert process.wait(timeout=300) == 0, f"signing {label} failed"
            with out.open("rb") as handle:
                signed[label] += [parse_event(orjson.loads(line), verify=False) for line in handle]
        return signed
    finally:
        for _, _, process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    workdir = tmp_path_factory.mktemp("sync-corpus")
    signed = sign_in_workers(
        [
            ("shared", 0, SHARED, 6_000_000),
            ("a", 0, 7, 6_000_000),
            ("b", 0, 5, 6_000_000),
            ("extra", 0, EXTRA, 6_000_000),
        ],
        workdir,
    )
    owner = SecretKey.generate()
    definition = build_channel_event(owner, "minsk-frunzenski", "Frunzenski", created_at=BASE - 7_000_000)
    channel = parse_channel(definition)
    posts = [
        build_post(owner, channel, "news", f"channel post {i}", created_at=BASE - 5_000_000 + i * 3_600)
        for i in range(10)
    ]
    template = workdir / "template.sqlite"

    async def fill() -> None:
        store = await SqliteStore.open(template)
        try:
            await store.add_many([definition, *signed["shared"]])
        finally:
            await store.close()

    asyncio.run(fill())
    return Corpus(template, channel.address, signed["a"], signed["b"], posts[:4], posts[4:], signed["extra"])


def make_node_home(cli: Cli, corpus: Corpus, events: Iterable[Event]) -> Path:
    """``samizdat init``, then the template store plus ``events``, before any node process opens it (a plain node:
    the template is a plain store)."""
    cli.ok("init", "--no-passphrase")
    store_path = cli.home / "events.sqlite"
    shutil.copyfile(corpus.template, store_path)

    async def add() -> None:
        store = await SqliteStore.open(store_path)
        try:
            await store.add_many(list(events))
        finally:
            await store.close()

    asyncio.run(add())
    return store_path


def read_only(path: Path) -> sqlite3.Connection:
    return open_database(path)  # type: ignore[no-any-return]


def stored_ids(path: Path) -> set[bytes]:
    with read_only(path) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM events")}


def stored_count(path: Path) -> int:
    conn = read_only(path)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def raw_ids(events: Iterable[Event]) -> set[bytes]:
    return {bytes.fromhex(e.id) for e in events}


def summary(report: dict[str, Any]) -> str:
    keys = ("direction", "have", "need", "sent", "received", "rejected", "bytes_in", "bytes_out", "round_trips")
    return ", ".join(f"{k}={report[k]}" for k in (*keys, "seconds"))


def moved(report: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return report["have"], report["need"], report["sent"], report["received"], report["rejected"]


def test_two_nodes_sync_exactly_the_differences(
    make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess], corpus: Corpus
) -> None:
    cli_a, cli_b = make_cli("a"), make_cli("b")
    store_a = make_node_home(cli_a, corpus, corpus.a_only + corpus.channel_a)
    store_b = make_node_home(cli_b, corpus, corpus.b_only + corpus.channel_b)
    node_a, node_b = serve(cli_a.home), serve(cli_b.home)

    # 1. One channel only, both ways: its posts move, nothing else does.
    channel = cli_a.json("sync", node_b.url, "--channel", corpus.channel, timeout=SYNC_TIMEOUT)
    print(f"\nchannel sync A->B: {summary(channel)}")
    assert moved(channel) == (4, 6, 4, 6, 0)
    assert raw_ids(corpus.channel_a + corpus.channel_b) <= stored_ids(store_a) & stored_ids(store_b)
    assert not raw_ids(corpus.b_only) & stored_ids(store_a)

    # 2. Everything, A fetching from B: 100,000+ events reconciled, B's own events come over.
    started = time.monotonic()
    down = cli_a.json("sync", node_b.url, "--direction", "down", timeout=SYNC_TIMEOUT)
    print(f"full sync A<-B: {summary(down)}; the command took {time.monotonic() - started:.2f} s")
    assert moved(down) == (len(corpus.a_only), len(corpus.b_only), 0, len(corpus.b_only), 0)

    # 3. And the other way round: B fetches what only A had.
    back = cli_b.json("sync", node_a.url, "--direction", "down", timeout=SYNC_TIMEOUT)
    print(f"full sync B<-A: {summary(back)}")
    assert moved(back) == (0, len(corpus.a_only), 0, len(corpus.a_only), 0)

    everything = stored_ids(corpus.template) | raw_ids(corpus.a_only + corpus.b_only)
    everything |= raw_ids(corpus.channel_a + corpus.channel_b)
    assert stored_ids(store_a) == everything
    assert stored_ids(store_b) == everything
    assert stored_count(store_a) == stored_count(store_b) == len(everything) == SHARED + 1 + 12 + 10
    # Reconciling 100,000 shared events costs far less than sending their ids (3.2 MB).
    assert down["bytes_in"] + down["bytes_out"] < 1_000_000
    node_a.stop()
    node_b.stop()


def test_an_interrupted_sync_resumes_with_the_remainder(
    make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess], corpus: Corpus
) -> None:
    cli_a, cli_b = make_cli("a"), make_cli("b")
    store_a = make_node_home(cli_a, corpus, [])
    store_b = make_node_home(cli_b, corpus, corpus.extra)
    node_b = serve(cli_b.home)
    before = stored_count(store_a)

    env = {k: v for k, v in os.environ.items() if k not in ("SAMIZDAT_HOME", "SAMIZDAT_PROXY", "SAMIZDAT_DEBUG")}
    argv = [sys.executable, "-m", "samizdat", "--home", str(cli_a.home), "sync", node_b.url, "--direction", "down"]
    process = subprocess.Popen(
        [*argv, "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        deadline = time.monotonic() + KILL_DEADLINE
        grown = 0
        while time.monotonic() < deadline and process.poll() is None:
            grown = stored_count(store_a) - before
            if grown > 0:
                break
            time.sleep(0.02)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)  # as soon as some, but not all, of the events are stored
    finally:
        if process.poll() is None:
            process.kill()
        out, err = process.communicate(timeout=30)
    assert grown > 0, f"the sync stored nothing within {KILL_DEADLINE:.0f} s: {err.decode(errors='replace')}"
    assert process.returncode == -signal.SIGKILL, f"the sync ended before it was interrupted: {out!r} {err!r}"

    got = stored_count(store_a) - before  # what was committed before the kill
    print(f"\nkilled after {got} of {EXTRA} events were stored")
    assert 0 < got < EXTRA
    assert stored_ids(store_a) - stored_ids(corpus.template) <= raw_ids(corpus.extra)

    resumed = cli_a.json("sync", node_b.url, "--direction", "down", timeout=SYNC_TIMEOUT)
    print(f"resumed sync A<-B: {summary(resumed)}")
    assert moved(resumed) == (0, EXTRA - got, 0, EXTRA - got, 0)
    assert stored_ids(store_a) == stored_ids(store_b)
    assert stored_count(store_a) == SHARED + 1 + EXTRA  # nothing lost, nothing twice
    node_b.stop()


def test_sync_of_a_channel_known_only_by_its_naddr(
    make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess]
) -> None:
    """``sync --channel naddr`` for a channel this node has never seen fetches its definition and posts."""
    owner, reader = make_cli("owner"), make_cli("reader")
    owner.ok("init")
    reader.ok("init")
    node = serve(owner.home)
    naddr = owner.json("channel", "create", "news", "--name", "News", "--mirror", node.url)["naddr"]
    owner.ok("post", "news", "first")
    owner.ok("post", "news", "second")
    owner.ok("post", "news", "third")
    # Noise on the same relay: another person's channel and post.
    stranger = make_cli("stranger")
    stranger.ok("init")
    stranger.ok("channel", "create", "other", "--name", "Other", "--mirror", node.url)
    stranger.ok("post", "other", "not in the news channel")

    report = reader.json("sync", node.url, "--channel", naddr, "--direction", "down")

    assert report["received"] == report["need"] == 4  # the definition and three posts
    assert {item["text"] for item in reader.json("feed", naddr)} == {"first", "second", "third"}
    again = reader.json("sync", node.url, "--channel", naddr, "--direction", "down")
    assert (again["need"], again["received"]) == (0, 0)
