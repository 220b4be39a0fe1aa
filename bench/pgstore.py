"""PostgreSQL store (issue 15): durable ingest, REQ latency on a large store, and NIP-77 against SQLite.

    .venv/bin/python bench/pgstore.py                  # the issue's sizes; writes docs/benchmarks.md
    .venv/bin/python bench/pgstore.py --query-events 50000 --sync-events 10000 --queries 500 --no-write

A throwaway PostgreSQL cluster (Debian's initdb and pg_ctl, samizdat.testing_postgres) is started in a temporary
directory with fsync on and ``synchronous_commit = on`` (the defaults): every acknowledged add is on disk.
Measured in one run, side by side with the SQLite store where the issue asks for it:

* **ingest**: ``--events`` pre-signed events into an empty store, two ways: ``add_many`` in batches of 200 (sync,
  bundles) and ``add`` from ``--concurrency`` concurrent tasks, one event each at a time (a relay's connections:
  the writer's group commit gathers them); events/s, both stores.
* **REQ**: a store of ``--query-events`` events (filled untimed), then ``--queries`` REQs (after 200 untimed)
  through ``query_pages``, the relay's REQ path: an admin's posts, a topic tag, a time window, each ``limit 50``;
  p50 and p99 in ms, both stores.
* **NIP-77**: two stores of ``--sync-events`` events each, 10 of them different (5 on each side; filled untimed),
  brought to the same events: both Negentropy item lists read from the stores, reconciled in the process, the
  missing events read by id from the other store and added; seconds, both stores. The goal: PostgreSQL within
  ±25 % of SQLite.

* **photos** (``--parts blobs``): ``--blobs`` blobs of 200 KB stored (``put``, durable) and then read back
  (``get``, hash checked), at random, ``--blob-reads`` times, in the PostgreSQL photo store
  (store/pgblobs.py) and the file store (store/blobs.py, encrypted); puts/s, get p50 and p99 in ms.

Writes the ``## PostgreSQL store (issue 15)`` section of docs/benchmarks.md and the raw figures to
bench/out/pgstore-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset
from report import machine, write_section

from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.core.negentropy import Negentropy
from samizdat.core.negentropy_storage import VectorStorage
from samizdat.store.blobs import Blobs, BlobStore
from samizdat.store.pgblobs import PgBlobStore
from samizdat.store.postgres import PostgresStore
from samizdat.store.sqlite import SqliteStore
from samizdat.testing_postgres import Cluster, start_cluster

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
TITLE = "## PostgreSQL store (issue 15)"
BATCH = 200
WARMUP = 200
FILL = 5000
DIFFERENCES = 10
FRAME = 60_000
ID_BATCH = 500
INGEST_GOAL = 5000.0
P99_GOAL_MS = 10.0
SYNC_GOAL = 0.25

Store = SqliteStore | PostgresStore


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parsed(lines: list[bytes]) -> list[Event]:
    return [parse_event(orjson.loads(line), verify=False) for line in lines]


class Stores:
    """Opens stores by name: a SQLite file in the work directory, or a new database of the cluster."""

    def __init__(self, work: Path, cluster: Cluster) -> None:
        self.work = work
        self.cluster = cluster

    async def open(self, kind: str, name: str) -> Store:
        if kind == "sqlite":
            return await SqliteStore.open(self.work / f"{name}.sqlite")
        url = self.cluster.url(name)
        with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            self.cluster.create_database(name)
        return await PostgresStore.open(url)

    def analyze(self, name: str) -> None:
        with psycopg.connect(self.cluster.url(name), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


async def fill(store: Store, lines: list[bytes]) -> None:
    for start in range(0, len(lines), FILL):
        await store.add_many(parsed(lines[start : start + FILL]))


async def timed(store_open: Callable[[], Awaitable[Store]], work: Callable[[Store], Awaitable[None]]) -> float:
    store = await store_open()
    try:
        started = time.perf_counter()
        await work(store)
        return time.perf_counter() - started
    finally:
        await store.close()


async def ingest_batches(store: Store, events: list[Event]) -> None:
    for start in range(0, len(events), BATCH):
        await store.add_many(events[start : start + BATCH])


async def ingest_concurrent(store: Store, events: list[Event], concurrency: int) -> None:
    queue = iter(events)

    async def one_connection() -> None:
        for event in queue:
            await store.add(event)

    await asyncio.gather(*(one_connection() for _ in range(concurrency)))


def query_mix(oldest: int, newest: int, count: int, seed: int) -> list[Filter]:
    rng = random.Random(seed)
    admins = dataset.admin_pubkeys()
    filters = []
    for i in range(count):
        which = i % 3
        if which == 0:
            filters.append(Filter(authors=frozenset([rng.choice(admins)]), kinds=frozenset([1]), limit=50))
        elif which == 1:
            filters.append(Filter(tags=(("t", frozenset([rng.choice(dataset.TOPICS)])),), limit=50))
        else:
            filters.append(Filter(until=newest - rng.randrange(0, newest - oldest), limit=50))
    return filters


async def requests(store: Store, filters: list[Filter]) -> dict[str, float]:
    async def req(flt: Filter) -> int:
        return sum([len(page) async for page in store.query_pages([flt])])

    for flt in filters[:WARMUP]:
        await req(flt)
    times = []
    for flt in filters[WARMUP:]:
        started = time.perf_counter()
        got = await req(flt)
        times.append(time.perf_counter() - started)
        assert got > 0, flt
    q = statistics.quantiles(times, n=100)
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


async def item_list(store: Store) -> VectorStorage:
    storage = VectorStorage()
    async for created_at, event_id in store.negentropy_items([Filter()]):
        storage.insert(created_at, event_id)
    storage.seal()
    return storage


async def reconcile(a: Store, b: Store, expected: int) -> tuple[float, float]:
    """Seconds to reconcile (both item lists read and reconciled), and in all (the missing events stored too:
    on PostgreSQL two durable commits, each waiting for the server's WAL flush; SQLite's do not wait for the disk)."""
    started = time.perf_counter()
    client, server = Negentropy(await item_list(a), FRAME), Negentropy(await item_list(b), FRAME)
    have: list[bytes] = []
    need: list[bytes] = []
    message: bytes | None = client.initiate()
    while message is not None:
        message, new_have, new_need = client.reconcile_client(server.reconcile(message))
        have += new_have
        need += new_need
    reconciled = time.perf_counter() - started
    for ids, source, target in ((dict.fromkeys(need), b, a), (dict.fromkeys(have), a, b)):
        batch = [i.hex() for i in ids]
        for start in range(0, len(batch), ID_BATCH):
            chunk = frozenset(batch[start : start + ID_BATCH])
            await target.add_many(await source.query([Filter(ids=chunk, limit=len(chunk))]))
    took = time.perf_counter() - started
    counts = (await a.count([Filter()]), await b.count([Filter()]))
    assert counts == (expected, expected), counts
    assert len(have) + len(need) == DIFFERENCES, (len(have), len(need))
    return reconciled, took


BLOB_BYTES = 200_000


def blob_round(store: Blobs, count: int, reads: int) -> dict[str, float]:
    """Puts per second of ``count`` random blobs, then p50/p99 ms of ``reads`` gets at random."""
    rng = random.Random(7)
    blobs = [rng.randbytes(BLOB_BYTES) for _ in range(count)]
    hashes = [hashlib.sha256(b).hexdigest() for b in blobs]
    started = time.perf_counter()
    for sha256, data in zip(hashes, blobs, strict=True):
        store.put(sha256, data, "image/webp", thumb=False, now=1, owner="ab" * 32)
    puts = count / (time.perf_counter() - started)
    times = []
    for _ in range(reads):
        sha256 = rng.choice(hashes)
        started = time.perf_counter()
        assert store.get(sha256) is not None
        times.append(time.perf_counter() - started)
    q = statistics.quantiles(times, n=100)
    return {"puts": puts, "get_p50_ms": q[49] * 1000, "get_p99_ms": q[98] * 1000}


def lines_of(name: str, count: int) -> list[bytes]:
    """The first ``count`` events of the data set ``name``, from the smallest cached file that has them."""
    cached = sorted(
        (int(path.stem.rsplit("-", 1)[1]), path)
        for path in dataset.OUT.glob(f"{name}-*.jsonl")
        if path.stem.rsplit("-", 1)[1].isdigit()
    )
    path = next((p for n, p in cached if n >= count), None) or dataset.ensure(name, count)
    return dataset.read_lines(path, count)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    needed = [args.sync_events + DIFFERENCES if "sync" in args.parts else 0]
    needed.append(args.query_events if "req" in args.parts else 0)
    store_lines = lines_of("store", max(needed)) if max(needed) else []
    ingest_events = parsed(lines_of("ingest", args.events)) if "ingest" in args.parts else []
    half = DIFFERENCES // 2
    shared = store_lines[: args.sync_events - half]
    extra = store_lines[args.sync_events - half : args.sync_events + half]
    sync_a, sync_b = shared + extra[:half], shared + extra[half:]
    results: dict[str, dict[str, Any]] = {"sqlite": {}, "postgres": {}}
    with tempfile.TemporaryDirectory(prefix="bench-pgstore-", dir=args.workdir) as tmp:
        work = Path(tmp)
        with start_cluster(fsync=True, parent=args.workdir) as cluster:
            version = psycopg.connect(cluster.url()).execute("SHOW server_version").fetchone()
            stores = Stores(work, cluster)
            both = ("sqlite", "postgres")
            for kind in both if "ingest" in args.parts else ():
                r = results[kind]
                took = await timed(
                    lambda k=kind: stores.open(k, "ingest_batches"), lambda s: ingest_batches(s, ingest_events)
                )
                r["ingest_batches"] = len(ingest_events) / took
                took = await timed(
                    lambda k=kind: stores.open(k, "ingest_concurrent"),
                    lambda s: ingest_concurrent(s, ingest_events, args.concurrency),
                )
                r["ingest_concurrent"] = len(ingest_events) / took
                log(f"{kind}: ingest {r['ingest_batches']:,.0f}/s in batches, {r['ingest_concurrent']:,.0f}/s at once")
            # NIP-77, interleaved round by round so that other load on the machine falls on both alike.
            synced = both if "sync" in args.parts else ()
            for kind in synced:
                for name, lines in (("sync_a", sync_a), ("sync_b", sync_b)):
                    store = await stores.open(kind, name)
                    try:
                        await fill(store, lines)
                    finally:
                        await store.close()
                    if kind == "postgres":
                        stores.analyze(name)
            for kind in synced:
                results[kind]["sync"] = []
            for round_number in range(args.rounds if synced else 0):
                for kind in synced:
                    names = (f"sync_a_{round_number}", f"sync_b_{round_number}")
                    if kind == "sqlite":
                        for source, name in zip(("sync_a", "sync_b"), names, strict=True):
                            (work / f"{name}.sqlite").write_bytes((work / f"{source}.sqlite").read_bytes())
                    else:
                        for source, name in zip(("sync_a", "sync_b"), names, strict=True):
                            cluster.create_database(name, template=source)
                        # Copying a database writes it all to the WAL: flush that now, not during the timed part.
                        cluster.sql("CHECKPOINT")
                    a, b = await stores.open(kind, names[0]), await stores.open(kind, names[1])
                    try:
                        reconciled, took = await reconcile(a, b, args.sync_events + half)
                    finally:
                        await a.close()
                        await b.close()
                    results[kind]["sync"].append(took)
                    results[kind].setdefault("reconcile", []).append(reconciled)
                    log(
                        f"round {round_number + 1} {kind}: NIP-77 {args.sync_events:,} each: reconciled in"
                        f" {reconciled:.2f} s, {took:.2f} s with the missing events stored"
                    )
            for kind in both if "blobs" in args.parts else ():
                cluster.create_database(f"blobs_{kind}")
                photos: Blobs = (
                    PgBlobStore(cluster.url(f"blobs_{kind}"))
                    if kind == "postgres"
                    else BlobStore(work / "blobs", os.urandom(32))
                )
                try:
                    r = results[kind]["blobs"] = blob_round(photos, args.blobs, args.blob_reads)
                finally:
                    photos.close()
                p50, p99 = r["get_p50_ms"], r["get_p99_ms"]
                log(f"{kind}: photos {r['puts']:,.0f} puts/s, get p50 {p50:.2f} ms, p99 {p99:.2f} ms")
            # REQs on a large store.
            filters: list[Filter] = []
            if "req" in args.parts:
                times = [orjson.loads(line)["created_at"] for line in store_lines[: args.query_events]]
                filters = query_mix(min(times), max(times), args.queries + WARMUP, 1)
            for kind in args.query_stores if "req" in args.parts else ():
                started = time.perf_counter()
                store = await stores.open(kind, "large")
                try:
                    await fill(store, store_lines[: args.query_events])
                finally:
                    await store.close()
                if kind == "postgres":
                    stores.analyze("large")
                results[kind]["fill_rate"] = args.query_events / (time.perf_counter() - started)
                log(f"{kind}: {args.query_events:,} events filled in {time.perf_counter() - started:.0f} s")
                store = await stores.open(kind, "large")
                try:
                    latency = await requests(store, filters)
                    size = (await store.stats())["file_bytes"]
                finally:
                    await store.close()
                results[kind]["req"] = latency
                results[kind]["size_mb"] = size / 1e6
                log(f"{kind}: REQ p50 {latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms")
    for r in results.values():
        if r.get("sync"):
            r["sync_median"] = statistics.median(r["sync"])
            r["reconcile_median"] = statistics.median(r["reconcile"])
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/pgstore.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "postgresql": version[0] if version else "?",
        "events": len(ingest_events),
        "concurrency": args.concurrency,
        "query_events": args.query_events,
        "queries": args.queries,
        "sync_events": args.sync_events,
        "rounds": args.rounds,
        "blobs": args.blobs,
        "blob_reads": args.blob_reads,
        "results": results,
    }


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def _req_rows(run: dict[str, Any]) -> list[str]:
    s, p, n = run["results"]["sqlite"], run["results"]["postgres"], run["query_events"]
    rows = []
    if "fill_rate" in p:
        rows.append(
            f"| filling {n:,} events, `add_many` of {FILL:,}, events/s | {s.get('fill_rate', 0):,.0f} |"
            f" {p['fill_rate']:,.0f} | ≥ {INGEST_GOAL:,.0f} | {_met(p['fill_rate'] >= INGEST_GOAL)} |"
        )
    if "req" in p:
        sq = s.get("req", {"p50_ms": float("nan"), "p99_ms": float("nan")})
        rows += [
            f"| REQ p50, {n:,} events | {sq['p50_ms']:.2f} ms | {p['req']['p50_ms']:.2f} ms | | |",
            f"| REQ p99, {n:,} events | {sq['p99_ms']:.2f} ms | {p['req']['p99_ms']:.2f} ms |"
            f" ≤ {P99_GOAL_MS:.0f} ms{'' if n >= 1_000_000 else ' on 1,000,000'} |"
            f" {_met(p['req']['p99_ms'] <= P99_GOAL_MS) if n >= 1_000_000 else '(smaller store)'} |",
        ]
    return rows


def section(saved: dict[str, Any]) -> list[str]:
    """The docs/benchmarks.md section of a run, with the REQ runs of ``saved["more"]`` (other runs) added."""
    s, p = saved["results"]["sqlite"], saved["results"]["postgres"]
    runs = [saved, *saved.get("more", [])]
    lines = [
        TITLE,
        "",
        "`bench/pgstore.py`: the PostgreSQL store (`PostgresStore`, psycopg 3) on a throwaway cluster made by the"
        " script (Debian's PostgreSQL, default settings but `shared_buffers = 128MB`; `fsync` and `synchronous_commit`"
        " on: every acknowledged event is on disk), beside the SQLite store in the same run. Ingest: pre-signed events"
        f" into an empty store, `add_many` in batches of {BATCH}, and `add` from {saved['concurrency']} concurrent"
        " tasks, one event each at a time (a relay's connections; the writer's group commit gathers them); filling the"
        f" large store: `add_many` of {FILL:,}. REQ: {saved['queries']:,} REQs (after {WARMUP} untimed) through"
        " `query_pages`, the relay's REQ path: an admin's posts, a topic tag, a time window, each `limit 50`. NIP-77:"
        f" two stores of {saved['sync_events']:,} events, {DIFFERENCES} different, brought to the same events (both"
        " item lists read from the stores and reconciled in the process, then the missing events read by id and"
        f" added); median of {saved['rounds']} rounds, interleaved.",
        "",
    ]
    for run in runs:
        lines.append(f"- {run['date']}: `{run['command']}`")
    lines += [
        f"- machine: {saved['machine']}; {saved['postgresql']}; the server, the benchmark and six other engineers'"
        " tests and benchmarks shared the two cores (load average between 5 and 18 during these runs), so compare"
        " the two columns of a row, not rows of different runs",
        "",
        "| | SQLite | PostgreSQL | goal | met |",
        "|---|---|---|---|---|",
    ]
    if "ingest_batches" in p:
        lines += [
            f"| ingest, batches of {BATCH}, events/s | {s['ingest_batches']:,.0f} | {p['ingest_batches']:,.0f} |"
            f" ≥ {INGEST_GOAL:,.0f} | {_met(p['ingest_batches'] >= INGEST_GOAL)} |",
            f"| ingest, {saved['concurrency']} concurrent adds, events/s | {s['ingest_concurrent']:,.0f} |"
            f" {p['ingest_concurrent']:,.0f} | ≥ {INGEST_GOAL:,.0f} | {_met(p['ingest_concurrent'] >= INGEST_GOAL)} |",
        ]
    for run in runs:
        lines += _req_rows(run)
    if "blobs" in p:
        sb, pb, kb = s.get("blobs", {}), p["blobs"], BLOB_BYTES // 1000
        lines += [
            f"| photos of {kb} KB (SQLite column: the encrypted files), `put` per second |"
            f" {sb.get('puts', 0):,.0f} | {pb['puts']:,.0f} | | |",
            f"| photos of {kb} KB (SQLite column: the encrypted files), `get` p50 / p99, ms |"
            f" {sb.get('get_p50_ms', 0):.2f} / {sb.get('get_p99_ms', 0):.2f} |"
            f" {pb['get_p50_ms']:.2f} / {pb['get_p99_ms']:.2f} | | |",
        ]
    n = f"{saved['sync_events']:,}"
    if "reconcile_median" in p:
        ratio = p["reconcile_median"] / s["reconcile_median"] - 1
        lines.append(
            f"| NIP-77 {n} vs {n}, {DIFFERENCES} differences: reconciled (item lists read, Negentropy), s |"
            f" {s['reconcile_median']:.2f} | {p['reconcile_median']:.2f} ({ratio * 100:+.0f} %) |"
            f" ±{SYNC_GOAL * 100:.0f} % | {_met(abs(ratio) <= SYNC_GOAL)} |"
        )
    if "sync_median" in p:
        ratio = p["sync_median"] / s["sync_median"] - 1
        lines.append(
            f"| NIP-77 {n} vs {n}, {DIFFERENCES} differences: and the missing events stored, s |"
            f" {s['sync_median']:.2f} | {p['sync_median']:.2f} ({ratio * 100:+.0f} %) | ±{SYNC_GOAL * 100:.0f} % |"
            f" {_met(abs(ratio) <= SYNC_GOAL)} |"
        )
    return [*lines, "", *CHOICES]


#: How the store is built for these figures (no numbers: the table above is what this run measured).
CHOICES = [
    "How the PostgreSQL store spends its time, and what was chosen:",
    "",
    "- **Writes**: one writer thread per store commits everything queued in one transaction (the SQLite store's"
    " group commit), so the commit's WAL flush is paid once per batch, not per event. A batch is four round trips:"
    " `BEGIN` with the advisory lock that keeps insertion numbers in commit order across processes, one lookup of"
    " the batch's ids (stored, evicted, deleted), one statement that inserts the events, their tags and sends the"
    " NOTIFY, and `COMMIT`. Most of the server's time per event goes to its eight indexes (as on SQLite) and to"
    " `to_tsvector` for NIP-50.",
    "- **Sequential batches** (one caller, `add_many` of 200, waiting for each) get one commit each, so each waits"
    " for its own WAL flush on the server's disk; many callers at once (a relay's connections) share commits, which"
    " is why the concurrent row is the faster one here and the SQLite store (which does not wait for the disk at"
    " each commit: docs/operating.md) is faster in sequence. Parameters and rows go in PostgreSQL's binary format:"
    " as text, every byte of an event's JSON went as two hex digits (about a third slower).",
    "- **REQs**: one statement per filter and page, in autocommit (no `BEGIN`/`ROLLBACK` round trips). A filter led"
    " by a `#x` tag reads the tag index newest first once per value and merges (otherwise PostgreSQL collects every"
    " event of a common tag and sorts them); a single author, kind or id is written as `=` so that the index is read"
    " in order.",
    "- **NIP-77**: the item list is streamed from a server-side cursor in one REPEATABLE READ snapshot of the"
    " primary, read backwards off the `(created_at DESC, id) INCLUDE (expiration)` index as an index-only scan (ties"
    " put in id order in Python, as on SQLite); without `expiration` in the index, the unexpired test read every"
    " event's row. The stream's connections are pooled, so a sync does not open a new one. Tried and left: the list"
    " as one `string_agg` of 40-byte items unpacked with `struct` (the server's work, not psycopg's rows, was the"
    " cost).",
    "- **Tags** are removed with their event by one trigger per `DELETE` statement rather than a foreign key, whose"
    " check on every inserted tag row took about a tenth of an ingest batch's server time. Pipeline mode (the"
    " batch's four round trips in two) made no measurable difference on loopback.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events ingested")
    parser.add_argument("--concurrency", type=int, default=256, help="concurrent adding tasks")
    parser.add_argument("--query-events", type=int, default=1_000_000, help="events in the store that is queried")
    parser.add_argument("--queries", type=int, default=3000, help="timed REQs")
    parser.add_argument("--sync-events", type=int, default=100_000, help="events in each of the two synced stores")
    parser.add_argument("--rounds", type=int, default=3, help="NIP-77 rounds per store")
    parser.add_argument(
        "--query-stores", nargs="+", default=["postgres", "sqlite"], choices=["postgres", "sqlite"],
        help="stores whose REQ latency is measured on the large store",
    )  # fmt: skip
    parser.add_argument(
        "--parts", nargs="+", default=["ingest", "sync", "req"], choices=["ingest", "sync", "req", "blobs"],
        help="what to measure",
    )  # fmt: skip
    parser.add_argument("--blobs", type=int, default=200, help="photos stored (--parts blobs)")
    parser.add_argument("--blob-reads", type=int, default=1000, help="photos read back at random (--parts blobs)")
    parser.add_argument("--workdir", default=None, help="where the stores and the cluster live (default: /tmp)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    # A SIGTERM (timeout, kill) ends the run through the finally blocks: the cluster is stopped and removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    saved = asyncio.run(main_async(args))
    OUT.mkdir(exist_ok=True)
    out = OUT / f"pgstore-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(saved, indent=2))
    lines = section(saved)
    print("\n".join(lines))
    if not args.no_write:
        write_section(DOC, TITLE, lines)
        log(f"wrote {DOC.relative_to(ROOT)} and {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
