"""The photo pass's catch-up (services/blob_travel.py ``catch_up``) over a store of relay traffic: CPU per stored
event. The pass runs every 30 s in ``serve`` (worker 0) and after each sync, and notes the photos and retractions
of the posts stored since the last pass.

    .venv/bin/python bench/photo_pass.py [--events 50000] [--rounds 2]
    PYTHONPATH=<other src> .venv/bin/python bench/photo_pass.py   # the same on another version of the code

The events are the bench data set's (bench/dataset.py: kinds 1 and 7, what a public relay stores), added in
batches of 1,000 to a fresh node; the CPU is the process's (the reader threads included). Prints; the figures are
copied into docs/benchmarks.md by hand with the machine and the date.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import dataset  # noqa: E402

from samizdat.core.event import parse_event_json  # noqa: E402
from samizdat.services import blob_travel  # noqa: E402
from samizdat.testing import test_node  # noqa: E402


async def one_round(lines: list[bytes]) -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-photo-pass-") as tmp:
        async with test_node(Path(tmp) / "node") as node:
            events = [parse_event_json(line) for line in lines]
            for start in range(0, len(events), 1000):
                await node.ctx.store.add_many(events[start : start + 1000])
            cpu, wall = time.process_time(), time.perf_counter()
            noted = await blob_travel.catch_up(node.ctx)
            return noted, (time.process_time() - cpu) / len(events) * 1e6, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    lines = dataset.read_lines(dataset.ensure("ingest", args.events), args.events)
    for i in range(args.rounds):
        noted, cpu, wall = asyncio.run(one_round(lines))
        print(f"round {i + 1}: catch-up over {len(lines):,} events noted {noted:,}: ", end="")
        print(f"{cpu:.2f} µs of CPU an event, {wall:.2f} s")


if __name__ == "__main__":
    main()
