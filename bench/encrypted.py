"""Encrypted store (issue 12): what SQLCipher costs, side by side with the plain store in the same run.

    .venv/bin/python bench/encrypted.py                 # the issue's sizes, 3 rounds; writes docs/benchmarks.md
    .venv/bin/python bench/encrypted.py --events 20000 --query-events 50000 --sync-events 10000 --rounds 1 --no-write
    .venv/bin/python bench/encrypted.py --before 2      # also both stores at schema 2, in the same rounds

Two stores, interleaved round by round (plain, encrypted, plain, encrypted, ...) so that other load on the machine
falls on both alike:

* **plain**: :class:`~samizdat.store.sqlite.SqliteStore` without a key (Python's ``sqlite3``): a node made with
  ``--no-passphrase``, and every node before encryption;
* **encrypted**: the same with a key (SQLCipher: every page of the database and its WAL AES-256-CBC +
  HMAC-SHA256).

Each round and store: **ingest** of ``--events`` pre-signed events into an empty store (``add_many`` in batches of
200, the path of sync and of a busy relay's writer; events/s); **queries** on a store of ``--query-events``
(filled once per store before the rounds, untimed), a mix of the relay's usual REQs (an admin's posts, a topic
tag, recent events, each ``limit 50``; p50 and p99 over ``--queries``, after 200 untimed ones); **sync** of two
stores of ``--sync-events`` each that share 90 % of their events (filled untimed): both Negentropy item lists
read from the stores, reconciled in the process (the relay and the network are left out: they cost the same for
both), then each side's missing events read by id from the other store and added, 500 at a time (seconds);
and **bundle import** of a bundle of the ``--events`` events (exported once) into another empty store
(events/s). The process's CPU time for ingest and import is recorded too (every thread of the process: the
writer, the checkpointer). With ``--before N`` both stores also run at schema ``N`` (the migrations up to that
number; its stores are made and opened without the later ones), in the same rounds, so the schema's effect is
measured under the same load. Writes the ``## Encrypted store (issue 12)`` section of docs/benchmarks.md and
the raw figures to bench/out/encrypted-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset
from report import machine, write_section

from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.core.negentropy import Negentropy
from samizdat.core.negentropy_storage import VectorStorage
from samizdat.store import aegis, dbapi
from samizdat.store import sqlite as sqlite_store
from samizdat.store.bundles import export_bundle, import_bundles
from samizdat.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TITLE = "## Encrypted store (issue 12)"
MODES = ("plain", "encrypted")
LATEST = sqlite_store.migrations
KEY = bytes(range(32))
BATCH = 200
WARMUP = 200  # untimed queries first: the caches of a store that has just been opened
FILL = 5000  # events per transaction when filling a store before the timed part
SHARED = 0.9  # of each sync store's events, those the other has too
FRAME = 60_000  # Negentropy frame limit, as samizdat.net.sync
ID_BATCH = 500  # ids fetched per query, as samizdat.net.sync
GOAL = 0.15  # the encrypted store may cost at most 15 % on each figure


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def key_of(mode: str) -> bytes | None:
    """The key of a mode ("plain", "encrypted", or either at an older schema: "plain@2"), and its schema set for
    the stores opened next (SqliteStore.open migrates to the last migration it is given)."""
    store, _, schema = mode.partition("@")
    dbapi.connect = _ROUTES.get(store, _CONNECT)  # type: ignore[assignment]
    if schema:
        sqlite_store.migrations = lambda: [m for m in LATEST() if m[0] <= int(schema)]  # type: ignore[assignment]
    else:
        sqlite_store.migrations = LATEST  # type: ignore[assignment]
    return KEY if store in ("encrypted", "sqlcipher") else None


_CONNECT = dbapi.connect


def _sqlcipher_only(target: str, key: bytes | None, **options: Any) -> Any:
    """``dbapi.connect`` as it was before AEGIS: every encrypted file, new ones too, made and opened by SQLCipher."""
    if key is None:
        return _CONNECT(target, key, **options)
    return _CONNECT(target, key, legacy=True, **options)


def _unkeyed(target: str, key: bytes | None, **options: Any) -> Any:
    """The encrypting library (SQLite3 Multiple Ciphers through apsw) without a key: what the cipher alone costs."""
    return aegis.connect(target, None, **options)


_ROUTES = {"sqlcipher": _sqlcipher_only, "unkeyed": _unkeyed}


async def ingest(path: Path, mode: str, events: list[Event]) -> tuple[float, float]:
    """Events per second, and per second of the process's CPU time."""
    store = await SqliteStore.open(path, key=key_of(mode))
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(events), BATCH):
            await store.add_many(events[start : start + BATCH])
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await store.close()
    return len(events) / took, len(events) / cpu


def query_mix(newest: int, count: int, seed: int) -> list[Filter]:
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
            filters.append(Filter(until=newest - rng.randrange(0, 30 * 86400), limit=50))
    return filters


def parsed(lines: list[bytes]) -> list[Event]:
    return [parse_event(orjson.loads(line), verify=False) for line in lines]


async def fill(path: Path, mode: str, lines: list[bytes]) -> None:
    """A store of these events, parsed a transaction at a time (a million parsed events would take gigabytes)."""
    store = await SqliteStore.open(path, key=key_of(mode))
    try:
        for start in range(0, len(lines), FILL):
            await store.add_many(parsed(lines[start : start + FILL]))
    finally:
        await store.close()


async def queries(path: Path, mode: str, filters: list[Filter]) -> dict[str, float]:
    store = await SqliteStore.open(path, key=key_of(mode))
    try:
        for flt in filters[:WARMUP]:
            await store.query([flt])
        times = []
        for flt in filters[WARMUP:]:
            started = time.perf_counter()
            await store.query([flt])
            times.append(time.perf_counter() - started)
    finally:
        await store.close()
    q = statistics.quantiles(times, n=100)
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


async def item_list(store: SqliteStore) -> VectorStorage:
    storage = VectorStorage()
    async for created_at, event_id in store.negentropy_items([Filter()]):
        storage.insert(created_at, event_id)
    storage.seal()
    return storage


async def sync(a_path: Path, b_path: Path, mode: str, expected: int) -> float:
    """Seconds to bring two stores to the same events: reconcile, then each side fetches what it lacks by id."""
    a = await SqliteStore.open(a_path, key=key_of(mode))
    b = await SqliteStore.open(b_path, key=key_of(mode))
    try:
        started = time.perf_counter()
        client, server = Negentropy(await item_list(a), FRAME), Negentropy(await item_list(b), FRAME)
        have: list[bytes] = []
        need: list[bytes] = []
        message: bytes | None = client.initiate()
        while message is not None:
            message, new_have, new_need = client.reconcile_client(server.reconcile(message))
            have += new_have
            need += new_need
        for ids, source, target in ((dict.fromkeys(need), b, a), (dict.fromkeys(have), a, b)):
            batch = [i.hex() for i in ids]
            for start in range(0, len(batch), ID_BATCH):
                chunk = frozenset(batch[start : start + ID_BATCH])
                await target.add_many(await source.query([Filter(ids=chunk, limit=len(chunk))]))
        took = time.perf_counter() - started
        counts = (await a.count([Filter()]), await b.count([Filter()]))
    finally:
        await a.close()
        await b.close()
    assert counts == (expected, expected), counts
    return took


async def bundle_import(path: Path, mode: str, bundle: Path, count: int) -> tuple[float, float]:
    store = await SqliteStore.open(path, key=key_of(mode))
    try:
        started, cpu = time.perf_counter(), time.process_time()
        report = await import_bundles([bundle], store.add_many)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await store.close()
    assert report.new == count, report
    return count / took, count / cpu


async def make_bundle(events: list[Event], work: Path) -> Path:
    store = await SqliteStore.open(work / "bundle-source.sqlite", key=key_of("plain"))
    try:
        for start in range(0, len(events), 5000):
            await store.add_many(events[start : start + 5000])
        out = work / "all.smz"
        await export_bundle(store, out, created_at=int(time.time()))
    finally:
        await store.close()
    return out


def sync_sets(lines: list[bytes], size: int) -> tuple[list[bytes], list[bytes]]:
    """Two sets of ``size`` events each, sharing ``SHARED`` of them, picked at random (seeded) from ``lines``."""
    own = size - int(size * SHARED)
    picked = random.Random(12).sample(lines, size + own)
    shared, only_a, only_b = picked[: size - own], picked[size - own : size], picked[size:]
    return [*shared, *only_a], [*shared, *only_b]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    pool = max(args.events, args.query_events, args.sync_events + args.sync_events // 10 + 1)
    lines = dataset.read_lines(dataset.ensure("store", pool))
    events = parsed(lines[: args.events])
    sync_a, sync_b = sync_sets(lines, args.sync_events)
    sync_total = len(set(sync_a) | set(sync_b))
    modes = [*(f"{m}@{args.before}" for m in MODES if args.before is not None), *MODES]
    if args.sqlcipher:
        modes.insert(modes.index("encrypted"), "sqlcipher")
    if args.unkeyed:
        modes.insert(modes.index("encrypted"), "unkeyed")
    results: dict[str, dict[str, list[float]]] = {
        m: {"ingest": [], "ingest_cpu": [], "p50": [], "p99": [], "sync": [], "import": [], "import_cpu": []}
        for m in modes
    }
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-encrypted-", dir=args.workdir) as tmp:
        work = Path(tmp)
        bundle = await make_bundle(events, work)
        log(f"{len(events):,} events; bundle {bundle.stat().st_size / 1e6:.0f} MB")
        for mode in modes:
            started = time.perf_counter()
            await fill(work / f"{mode}-query.sqlite", mode, lines[: args.query_events])
            await fill(work / f"{mode}-a.sqlite", mode, sync_a)
            await fill(work / f"{mode}-b.sqlite", mode, sync_b)
            log(f"{mode}: query and sync stores filled in {time.perf_counter() - started:.0f} s")
        newest = max(orjson.loads(line)["created_at"] for line in lines[: args.query_events])
        del lines
        for round_number in range(args.rounds):
            filters = query_mix(newest, args.queries + WARMUP, round_number)
            for mode in modes:
                directory = work / f"{mode}-{round_number}"
                directory.mkdir()
                rate, rate_cpu = await ingest(directory / "events.sqlite", mode, events)
                latency = await queries(work / f"{mode}-query.sqlite", mode, filters)
                for name in ("a.sqlite", "b.sqlite"):  # closed stores: the whole database is in the one file
                    shutil.copyfile(work / f"{mode}-{name}", directory / name)
                synced = await sync(directory / "a.sqlite", directory / "b.sqlite", mode, sync_total)
                imported, imported_cpu = await bundle_import(directory / "imported.sqlite", mode, bundle, len(events))
                size = (directory / "events.sqlite").stat().st_size
                for name in ("events.sqlite", "imported.sqlite", "a.sqlite", "b.sqlite"):
                    for suffix in ("", "-wal", "-shm"):
                        (directory / (name + suffix)).unlink(missing_ok=True)
                results[mode]["ingest"].append(rate)
                results[mode]["ingest_cpu"].append(rate_cpu)
                loads.append(os.getloadavg()[0])
                results[mode]["import_cpu"].append(imported_cpu)
                results[mode]["p50"].append(latency["p50_ms"])
                results[mode]["p99"].append(latency["p99_ms"])
                results[mode]["sync"].append(synced)
                results[mode]["import"].append(imported)
                log(
                    f"round {round_number + 1} {mode:11}: ingest {rate:,.0f}/s, query p50 {latency['p50_ms']:.2f} ms"
                    f" p99 {latency['p99_ms']:.2f} ms, sync {synced:.1f} s, import {imported:,.0f}/s,"
                    f" file {size / 1e6:.0f} MB; per CPU-s: ingest {rate_cpu:,.0f}, import {imported_cpu:,.0f}; load"
                    f" {os.getloadavg()[0]:.1f}"
                )
    medians = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in results.items()}
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/encrypted.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "events": len(events),
        "query_events": args.query_events,
        "sync_events": args.sync_events,
        "queries": args.queries,
        "rounds": args.rounds,
        "before": args.before,
        "sqlcipher": args.sqlcipher,
        "unkeyed": args.unkeyed,
        "schema": LATEST()[-1][0],
        "load": [min(loads), max(loads)],
        "cipher": dbapi.cipher_version(),
        "sqlite": sqlite3.sqlite_version,
        "results": results,
        "medians": medians,
    }


def cost(plain: float, encrypted: float, higher_is_better: bool) -> float:
    """The encrypted store's cost over the plain one, as a fraction (0.10 = 10 % worse)."""
    return (plain / encrypted - 1) if higher_is_better else (encrypted / plain - 1)


ROWS = [
    # label, key, higher is better, format, counts toward the goal
    ("ingest, events/s", "ingest", True, "{:,.0f}", True),
    ("query p50", "p50", False, "{:.2f} ms", True),
    ("query p99", "p99", False, "{:.2f} ms", True),
    ("sync, {n:,} vs {n:,}, s", "sync", False, "{:.1f}", True),
    ("bundle import, events/s", "import", True, "{:,.0f}", True),
    ("ingest, events per CPU-second", "ingest_cpu", True, "{:,.0f}", False),
    ("bundle import, events per CPU-second", "import_cpu", True, "{:,.0f}", False),
]


def section(saved: dict[str, Any]) -> list[str]:
    m = saved["medians"]
    before, schema = saved.get("before"), saved.get("schema")
    pairs = [(f"plain@{before}", f"encrypted@{before}")] if before is not None else []
    if saved.get("sqlcipher"):
        pairs.append(("plain", "sqlcipher"))
    if saved.get("unkeyed"):
        pairs.append(("unkeyed", "encrypted"))
    pairs.append(("plain", "encrypted"))
    lines = [
        TITLE,
        "",
        "`bench/encrypted.py`: the event store (`SqliteStore`) plain (Python's sqlite3, as every node before"
        " encryption and every `--no-passphrase` node now) and encrypted (AEGIS-256 through SQLite3 Multiple Ciphers;"
        " with `--sqlcipher` also SQLCipher 4, which encrypted nodes made before it; with `--unkeyed` also the"
        " encrypting library without a key, which says what the cipher alone costs) side by side in one run,"
        " interleaved round by round, on the benchmark data set (`bench/dataset.py`). Ingest: `add_many` in batches of"
        f" {BATCH} into an empty store. Queries: {saved['queries']:,} per round (after {WARMUP} untimed) on a store of"
        f" {saved['query_events']:,} events, a mix of an admin's posts, a topic tag and a time window, each `limit"
        f" 50`. Sync: two stores of {saved['sync_events']:,} events sharing {SHARED * 100:.0f} % of them are brought to"
        " the same events: both Negentropy item lists read from the stores and reconciled in the process (no relay, no"
        f" network: those cost the same either way), then what each lacks read by id from the other, {ID_BATCH} at a"
        " time, and added. Bundle import: one bundle of the ingested events into an empty store. Medians of the"
        " rounds; the CPU figures count every thread of the process (the writer's, the checkpointer's)."
        + (
            f" The same rounds also ran both stores at schema {before} (before migration 0003), interleaved with the"
            f" others, so the schema's effect is measured under the same load."
            if before is not None
            else ""
        )
        + " Goal: the encrypted store costs at most 15 % on each.",
        "",
        f"- date: {saved['date']}",
        f"- command: `{saved['command']}`",
        f"- machine: {saved['machine']}; other engineers' work shares the cores (load average"
        f" {saved['load'][0]:.1f}-{saved['load'][1]:.1f} during the rounds)",
        f"- {saved['events']:,} events ingested and imported, {saved['query_events']:,} queried,"
        f" {saved['sync_events']:,} vs {saved['sync_events']:,} synced, {saved['rounds']} rounds; {saved['cipher']};"
        f" Python's sqlite3: SQLite {saved['sqlite']}",
        "",
    ]
    head = "| |"
    rule = "|---|"
    for plain_mode, encrypted_mode in pairs:
        at = plain_mode.partition("@")[2]
        label = f"schema {at or schema}, " if before is not None else ""
        kind = "SQLCipher (before)" if encrypted_mode == "sqlcipher" else "AEGIS-256" if len(pairs) > 1 else ""
        base = "same library, no key" if plain_mode == "unkeyed" else "plain"
        head += f" {label}{base} | {label}{kind or 'encrypted'} | cost |"
        rule += "---|---|---|"
    lines += [head + " goal met |", rule + "---|"]
    over = []
    for label, key, higher, fmt, goal in ROWS:
        row = f"| {label.format(n=saved['sync_events'])} |"
        c = 0.0
        for plain_mode, encrypted_mode in pairs:
            plain, encrypted = m[plain_mode][key], m[encrypted_mode][key]
            c = cost(plain, encrypted, higher)
            row += f" {fmt.format(plain)} | {fmt.format(encrypted)} | {c * 100:+.0f} % |"
        met = ("yes" if c <= GOAL else "no") if goal else "-"
        lines.append(f"{row} {met} |")
        if goal and c > GOAL:
            over.append(f"{label.split(',')[0]} ({c * 100:+.0f} %)")
    verdict = "Over the goal: " + ", ".join(over) + "; why, below." if over else "Every figure meets the goal."
    spread = []
    for label, key, _, fmt, goal in ROWS:
        if goal:
            ranges = ", ".join(
                f"{mode} {fmt.format(min(saved['results'][mode][key]))}-{fmt.format(max(saved['results'][mode][key]))}"
                for mode in pairs[-1]
            )
            spread.append(f"{label.split(',')[0]}: {ranges}")
    note = (
        "The rounds' spread (lowest-highest), which says how far the load on the machine moved the wall-clock"
        " figures (the CPU figures and the pages written per event move much less): " + "; ".join(spread) + "."
    )
    return [*lines, "", verdict, "", note, "", *CHOICES]


#: Why the store is set up as it is (no figures of this run: the table above is what it measured; the pages are
#: bench/store_pages.py's, which do not depend on the load).
CHOICES = [
    "Why it costs what it costs, and what was chosen:",
    "",
    "- **The encryption stays page by page.** The events a node stores are public posts that also sit on public"
    " relays. Encrypting each event in the application (its JSON, or some columns) would leave timestamps, sizes,"
    " which rows share an author and the order of the rows readable, and that is enough for the police to match a"
    " seized store against the relays and learn which channels its owner followed. So every page of the database"
    " and of its WAL, the indexes and free pages included, is encrypted and authenticated, and no column is left"
    " plain.",
    "- **The cipher: AEGIS-256 (SQLite3 Multiple Ciphers, PyPI `apsw-sqlite3mc`), in place of SQLCipher 4.** With"
    " SQLCipher (AES-256-CBC and an HMAC-SHA256 on every page) an encrypted ingest cost +64 % and a sync +47 %."
    ' The cost followed the pages a commit writes (4.9 per event, section "Pages written per event"): in a'
    " profile of a SQLCipher ingest (`perf`, 100,000 events), `aesni_cbc_encrypt` took 12.8 % of the samples and"
    " SHA-256 7.4 %. CBC encryption is serial (each 16-byte block waits for the one before: about 1 GB/s here)."
    " Tried first and not enough: smaller pages (1 KiB and 2 KiB: 114-122 and 96-98 µs of CPU per event against"
    " 105 at 4 KiB, as the pages per event grow when they shrink) and commits of 1,000 events instead of 200 (still"
    " +45-70 % of CPU). AEGIS-256 is an authenticated cipher built on the AES round instruction that works on many"
    " blocks at once, and its tag replaces the HMAC: inserting 100,000 events of our schema in commits of"
    " 200 through one library cost 50-65 µs of CPU per event without encryption, 59-71 with AEGIS-256, 92-96 with"
    " ChaCha20-Poly1305 or AES-256-CBC, 183-186 with SQLCipher's scheme in that library.",
    '- **What the columns compare.** "plain" is Python\'s own sqlite3 (SQLite 3.40), which plain nodes keep;'
    ' "AEGIS-256" is the encrypting library (apsw with SQLite 3.54); "same library, no key" is that library'
    " without encryption, so the middle pair is what the cipher alone costs, and the last pair is what a user sees"
    " between a `--no-passphrase` node and an encrypted one. Part of why the encrypted store keeps up with the plain"
    " one is the newer SQLite and apsw's shorter path per statement.",
    "- **Nodes made before keep SQLCipher.** A file the AEGIS key does not open is tried with SQLCipher and served by"
    " it as before (store/dbapi.py); a node keeps one format for all its files, so the decoy store a duress unlock"
    " makes anew on such a node is SQLCipher too (`tests/services/test_decoy.py`). `samizdat encrypt` writes AEGIS"
    " files (SQLite's `VACUUM INTO`).",
    "- **Fewer pages per event: schema 3 (`migrations/0003_fewer_pages.sql`).** At 300,000 events each event wrote"
    " 6.4 pages, nearly all in the four B-trees every event enters at a random place (the id index, the two author"
    " indexes, the tag rows); `events_pubkey` went (`events_pubkey_kind` serves every filter with authors, a filter"
    " with authors alone reading one arm per kind found by a skip scan, `queries.author_kinds`): 4.9 pages per"
    " event, for both stores. Each filter shape the relay serves was checked with EXPLAIN QUERY PLAN.",
    "- **Sync reads an index, not the events.** The Negentropy item list of a whole store asks for (created_at, id)"
    " of every unexpired event; `events_created` holds `expiration` as well, so that list is read from the index"
    " alone (a tenth of the pages) instead of every row with its JSON.",
    "- **Memory security stays off** (SQLCipher's default since 4.5, and SQLite3 Multiple Ciphers' default; a test"
    " checks SQLCipher's, since it is global and, once on, cannot be turned off in the process). It zeroes every"
    " allocation SQLite makes and halves an encrypted store's ingest, yet protects little in a Python program: every"
    " decrypted row becomes Python objects, and the key a `bytes`, that Python frees without wiping. What protects a"
    " seized device is that nothing on the disk is readable and the key is not on the disk; `samizdat lock` ends the"
    " process that holds it.",
    "- **No real key derivation when opening.** The store's key is already a random 256-bit key derived from the"
    " data key, so the Argon2id that SQLite3 Multiple Ciphers runs on every key is set to its least (one pass over"
    " 8 KiB, part of the file format: store/aegis.py): opening a connection takes a fraction of a millisecond.",
    "- **Readers** of an encrypted store keep up to 64 MiB of decrypted pages each (taken only as pages are read),"
    " and every store hands a read to the connection used last, whose cache is warm. An encrypted file cannot be"
    " mapped into memory, so a page a query needs that is not in that cache is read and decrypted.",
    "- **Deleted rows are overwritten** (`secure_delete`): evictions and purges write a little more, so that free"
    " pages do not keep what was deleted.",
    "- **What the file shows without the key:** a random 16-byte salt, then bytes 16-23 of SQLite's header (page"
    " size 4,096, format versions, 64 reserved bytes per page for the nonce and tag): that it is an encrypted"
    " SQLite database, as its name says anyway. Every other byte, of the database and of its WAL, is ciphertext.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events ingested and imported from a bundle")
    parser.add_argument("--query-events", type=int, default=1_000_000, help="events in the store that is queried")
    parser.add_argument("--sync-events", type=int, default=100_000, help="events in each of the two synced stores")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=int, default=None, help="also run both stores at this older schema")
    parser.add_argument(
        "--sqlcipher", action="store_true", help="also run the store as SQLCipher encrypted it before AEGIS"
    )
    parser.add_argument(
        "--unkeyed", action="store_true", help="also run the encrypting library without a key (the cipher's own cost)"
    )
    parser.add_argument("--workdir", default=None, help="where the stores are made (default: the temp directory)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--report", metavar="JSON", help="write the section from a saved run instead of running")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(Path(args.report).read_text())
    else:
        saved = asyncio.run(main_async(args))
        OUT.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        (OUT / f"encrypted-{stamp}.json").write_text(json.dumps(saved, indent=2))
    lines = section(saved)
    print("\n".join(lines))
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", TITLE, lines)


if __name__ == "__main__":
    main()
