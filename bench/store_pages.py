"""Pages a commit writes, per B-tree of the event store: what the encrypted store pays for (issue 12).

    .venv/bin/python bench/store_pages.py                       # 300,000 events, then 20 commits of 200
    .venv/bin/python bench/store_pages.py --schema 2 --schema 3 # the schema before and after migration 0003

The encrypted store encrypts and authenticates every page a commit writes (and decrypts every page it reads that
is not in the connection's cache), so its cost over the plain store grows with the pages each event dirties. This counts
them without guessing: a plain store (the pages are the same with a key) at each ``--schema`` version (the
migrations up to that number) is filled with ``--events`` events of the benchmark data set, checkpointed, and
then ``--batches`` commits of ``--batch`` further events are added the way the writer adds them
(:func:`samizdat.store.queries.add_events`, one transaction each). Every commit appends one WAL frame per page it
changed; the frames' page numbers, mapped to their B-tree with SQLite's ``dbstat`` table, give the pages each
table and index dirtied per event. Prints a table and writes it to the ``## Pages written per event (issue 12)``
section of docs/benchmarks.md (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset
from report import DOC, write_section

from samizdat.core.event import parse_event
from samizdat.store import queries
from samizdat.store.sqlite import migrations

TITLE = "## Pages written per event (issue 12)"
FILL = 5000
WAL_HEADER = 32
FRAME_HEADER = 24


def build(path: Path, version: int, lines: list[bytes]) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -32000")
    for number, script in migrations():
        if number <= version:
            conn.executescript(f"BEGIN;\n{script}\n;PRAGMA user_version = {number};\nCOMMIT;")
    for start in range(0, len(lines), FILL):
        events = [parse_event(orjson.loads(line), verify=False) for line in lines[start : start + FILL]]
        conn.execute("BEGIN IMMEDIATE")
        queries.add_events(conn, events, now=int(time.time()))
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return conn


def frames(wal: Path, offset: int, page_size: int) -> tuple[list[int], int]:
    """Page numbers of the WAL frames from ``offset`` on, and the offset after them."""
    data = wal.read_bytes()
    offset = max(offset, WAL_HEADER)
    pages = []
    while offset + FRAME_HEADER + page_size <= len(data):
        pages.append(struct.unpack(">I", data[offset : offset + 4])[0])
        offset += FRAME_HEADER + page_size
    return pages, offset


def measure(version: int, lines: list[bytes], extra: list[bytes], batch: int, work: Path) -> dict[str, float]:
    path = work / f"pages-{version}.sqlite"
    conn = build(path, version, lines)
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    wal = Path(f"{path}-wal")
    offset = 0
    written: list[set[int]] = []
    added = 0
    for start in range(0, len(extra), batch):
        events = [parse_event(orjson.loads(line), verify=False) for line in extra[start : start + batch]]
        conn.execute("BEGIN IMMEDIATE")
        queries.add_events(conn, events, now=int(time.time()))
        conn.execute("COMMIT")
        pages, offset = frames(wal, offset, page_size)
        written.append(set(pages))
        added += len(events)
    owner = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    per_tree: collections.Counter[str] = collections.Counter()
    for pages in written:
        for page in pages:
            per_tree[owner.get(page, "(free list, header)")] += 1
    size = path.stat().st_size
    conn.close()
    result = {name: count / added for name, count in per_tree.items()}
    result["total"] = sum(len(p) for p in written) / added
    result["file MB"] = size / 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="events in the store before the commits")
    parser.add_argument("--batch", type=int, default=200, help="events per commit (the bench's add_many batch)")
    parser.add_argument("--batches", type=int, default=20, help="commits measured")
    parser.add_argument("--schema", type=int, action="append", help="schema version(s) to measure (default: latest)")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    versions = args.schema or [migrations()[-1][0]]
    total = args.events + args.batch * args.batches
    # A slice of the benchmark's set of a million events (made once for bench/encrypted.py) when it is enough.
    lines = dataset.read_lines(dataset.ensure("store", max(total, 1_000_000)), total)
    # The measured commits take the events that follow (newer ones), as a relay receives them.
    base, extra = lines[: args.events], lines[args.events : total]
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-pages-", dir=args.workdir) as tmp:
        for version in versions:
            started = time.perf_counter()
            results[version] = measure(version, base, extra, args.batch, Path(tmp))
            print(f"schema {version}: measured in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    names = sorted({n for r in results.values() for n in r if n not in ("total", "file MB")})
    lines = [
        TITLE,
        "",
        "`bench/store_pages.py`: what each event costs the event store in pages written, per B-tree (table or index),"
        " which is what the encrypted store pays for: it encrypts and authenticates every page a commit writes."
        f" A plain store (the pages are the same with a key) of {args.events:,} events of the benchmark data set, then"
        f" {args.batches} commits of {args.batch} newer events (`queries.add_events`, as the writer adds them); each"
        " commit's WAL frames, mapped to their B-tree with SQLite's `dbstat`, divided by the events added."
        " Counted, not timed: the load on the machine does not change it.",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `bench/store_pages.py {' '.join(sys.argv[1:])}`",
        "",
        "| B-tree | " + " | ".join(f"schema {v}" for v in versions) + " |",
        "|---|" + "---|" * len(versions),
    ]
    for name in [*names, "total", "file MB"]:
        cells = " | ".join(f"{results[v].get(name, 0):.2f}" for v in versions)
        label = "**pages per event**" if name == "total" else ("file size, MB" if name == "file MB" else f"`{name}`")
        lines.append(f"| {label} | {cells} |")
    print("\n".join(lines))
    if not args.no_write:
        write_section(DOC, TITLE, lines)


if __name__ == "__main__":
    main()
