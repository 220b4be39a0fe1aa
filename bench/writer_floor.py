"""What the store's writer costs per event, and what is left of it without each of its indexes: the floor under
the part of a relay's CPU per event that a second worker could save.

One worker is held by its event loop's thread (parsing, the signature check, the `OK`), while its store writer
runs beside it on the other core (docs/benchmarks.md, "Workers"). Making the event loop cheaper makes one worker
faster by as much as two, so of everything one worker spends per event, only the writer's share can shrink for
two workers and not for one. This measures that share on its own, in one thread, with nothing else running: the
store's fast path (store/fastadd.py, the relay's own writer code) writing the ingest benchmark's events in batches
of 500 into a new file with the relay's settings, as shipped, then without the search index, without the tag rows,
and with only the events row and its unique id (every secondary index dropped), interleaved round by round.

    .venv/bin/python bench/writer_floor.py [--events 50000] [--rounds 3]
        [--one-worker EVENTS_PER_S,RELAY_US,LOADGEN_US,LOOP_US] [--cores 2]

With ``--one-worker`` (one worker's events/s, relay and load generator CPU µs per event from ``bench/workers.py``,
and its event loop thread's µs per event from ``bench/ingest_profile.py``) it also prints what two workers could
spend per event on everything but the event loop, on every cycle of ``--cores``, to carry 1.4x one worker.

Prints only; writes nothing to docs/.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))
import dataset  # noqa: E402

from samizdat.core.event import Event, parse_event  # noqa: E402
from samizdat.store import fastadd  # noqa: E402
from samizdat.store.sqlite import PLAIN_WRITER_PRAGMAS, WRITER_PRAGMAS, SqliteStore  # noqa: E402
from samizdat.store.writer import LOCK_WAIT  # noqa: E402

BATCH = 500
SECONDARY = ("events_created", "events_kind", "events_pubkey_kind", "events_slot", "events_expiration")


def _none(_event: Event) -> Any:
    return None


def _no_tags(_event: Event) -> list[Any]:
    return []


#: name -> (label, drop the secondary indexes, the tag rows, the search text)
VARIANTS: dict[str, tuple[str, bool, Callable[[Event], Any] | None, Callable[[Event], Any] | None]] = {
    "shipped": ("as shipped (events row, 4 indexes, tag rows, search index)", False, None, None),
    "nosearch": ("without the search index", False, None, _none),
    "notags": ("without the search index and the tag rows", False, _no_tags, _none),
    "bare": ("the events row and its unique id only", True, _no_tags, _none),
}


async def _new_store(path: Path) -> None:
    store = await SqliteStore.open(path)
    await store.close()


def write_once(events: list[Event], variant: str, work: Path) -> float:
    """CPU µs per event of the writer thread's fast path writing ``events`` into a new store."""
    _, bare, tags, text = VARIANTS[variant]
    path = work / f"{variant}-{time.monotonic_ns()}.sqlite"
    asyncio.run(_new_store(path))
    if bare:
        import sqlite3

        with sqlite3.connect(path) as conn:
            for index in SECONDARY:
                conn.execute(f"DROP INDEX IF EXISTS {index}")
    saved = fastadd.indexed_tags, fastadd.searchable_text
    fast = fastadd.FastAdd(str(path), (*WRITER_PRAGMAS, *PLAIN_WRITER_PRAGMAS, "PRAGMA busy_timeout = 0"), LOCK_WAIT)
    try:
        fastadd.indexed_tags = tags or saved[0]  # type: ignore[assignment]
        fastadd.searchable_text = text or saved[1]  # type: ignore[assignment]
        now = int(time.time())
        cpu = time.thread_time()
        for start in range(0, len(events), BATCH):
            if fast.add(events[start : start + BATCH], now) is None:
                raise RuntimeError("the fast path refused a batch")
        used = time.thread_time() - cpu
    finally:
        fastadd.indexed_tags, fastadd.searchable_text = saved
        fast.close()
    for leftover in work.glob(f"{path.name}*"):
        leftover.unlink()
    return used / len(events) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one-worker", default="")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if not fastadd.enabled():
        sys.exit("the store's fast path is not built here (setup.py): nothing to measure")
    lines = dataset.read_lines(dataset.ensure("ingest", args.events))
    events = [parse_event(orjson.loads(line), verify=False) for line in lines]
    found: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="writer-floor-") as work:
        for round_ in range(args.rounds):
            for name in VARIANTS:
                found[name].append(write_once(events, name, Path(work)))
                print(f"  round {round_ + 1} {name}: {found[name][-1]:.1f} µs/event", flush=True)
    print(f"\nthe writer's CPU per event, {args.events:,} events in batches of {BATCH}, median of {args.rounds}:")
    for name, (label, *_) in VARIANTS.items():
        print(f"  {label}: {statistics.median(found[name]):.1f} µs")
    if args.one_worker:
        rate, relay, loadgen, loop = (float(x) for x in args.one_worker.split(","))
        budget = args.cores * 1e6 / (1.4 * rate) - loadgen - loop
        print(f"\n1.4x one worker ({rate:,.0f} events/s) is {1.4 * rate:,.0f} events/s: on every cycle of "
              f"{args.cores} cores, {args.cores * 1e6 / (1.4 * rate):.1f} µs of CPU an event, of which the load "
              f"generator takes {loadgen:.0f} and the event loop {loop:.0f} (one worker's, {relay:.0f} µs in all): "
              f"{budget:.1f} µs left for the store's writer and everything a second worker adds")  # fmt: skip


if __name__ == "__main__":
    main()
