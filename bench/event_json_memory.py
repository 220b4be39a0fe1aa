"""What an event's cached JSON costs in memory: an earlier revision's ``Event.to_json`` against the working tree's.

    .venv/bin/python bench/event_json_memory.py --rev cb3429e          # writes docs/benchmarks.md
    .venv/bin/python bench/event_json_memory.py --rev cb3429e --events 20000 --no-write

Each revision runs in a process of its own (the old one's ``src/`` from ``git archive``, first on ``PYTHONPATH``):
it signs ``--events`` events of 1,000 characters, forgets any JSON signing cached, then asks every event for its
JSON (what fan-out, push queues and caches keep for as long as the event lives) and reports how much its resident
memory grew. orjson 3.13 returns its output in a buffer about 8 times as large as the output; the working tree
keeps a copy of the output's own size. Writes the ``## Cached event JSON`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from report import DOC, write_section

ROOT = Path(__file__).resolve().parent.parent
TITLE = "## Cached event JSON"
#: Run in the measured revision's process: prints {"json_mb": ..., "grew_mb": ...}.
PROBE = """
import gc, json, sys, time
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
key = SecretKey(bytes([3]) * 32)
count = int(sys.argv[1])
events = [sign_event(key, 1, "x" * 1000, [["t", str(i)]], created_at=1_700_000_000 + i) for i in range(count)]
for event in events:
    object.__setattr__(event, "_json", b"")
gc.collect()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
before = rss()
started = time.perf_counter()
total = sum(len(event.to_json()) for event in events)
took = time.perf_counter() - started
print(json.dumps({"json_mb": total / 2**20, "grew_mb": rss() - before, "us": took / len(events) * 1e6}))
"""


def measure(src: Path, events: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(events)], env=env, capture_output=True, text=True,
                          check=True, timeout=600)  # fmt: skip
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", required=True, help="the earlier revision to compare with the working tree")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    archive = subprocess.run(["git", "archive", args.rev, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        for _ in range(args.rounds):  # interleaved: old, new, old, new, ...
            for name, src in (("old", Path(tmp) / "src"), ("new", ROOT / "src")):
                figures = measure(src, args.events)
                rows.append((name, figures))
                print(f"{name}: JSON {figures['json_mb']:.0f} MB, resident memory grew {figures['grew_mb']:.0f} MB, "
                      f"{figures['us']:.2f} µs an event")  # fmt: skip
    old = sorted(f["grew_mb"] for n, f in rows if n == "old")
    new = sorted(f["grew_mb"] for n, f in rows if n == "new")
    old_us = sorted(f["us"] for n, f in rows if n == "old")
    new_us = sorted(f["us"] for n, f in rows if n == "new")
    json_mb = rows[0][1]["json_mb"]
    commit = subprocess.run(["git", "log", "-1", "--format=%h %s", args.rev], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()[:80]  # fmt: skip
    lines = [
        TITLE,
        "",
        f"Memory an event's cached JSON takes (`Event.to_json`, kept as long as the event lives: fan-out, push "
        f"queues, caches), {args.events:,} events of 1,000 characters, each revision in a process of its own, "
        "interleaved (`bench/event_json_memory.py`).",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `.venv/bin/python bench/event_json_memory.py --rev {args.rev}`",
        f"- machine: {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}",
        f"- old: `{commit}`; new: the working tree",
        "",
        f"| | JSON, MB | resident memory grew, MB (median of {args.rounds}) | per event, bytes "
        "| `to_json`, µs an event |",
        "|---|---|---|---|---|",
        f"| old | {json_mb:.0f} | {old[len(old) // 2]:.0f} | {old[len(old) // 2] * 2**20 / args.events:,.0f} "
        f"| {old_us[len(old_us) // 2]:.2f} |",
        f"| new | {json_mb:.0f} | {new[len(new) // 2]:.0f} | {new[len(new) // 2] * 2**20 / args.events:,.0f} "
        f"| {new_us[len(new_us) // 2]:.2f} |",
        "",
        "orjson 3.13 returns its output in a buffer about 8 times as large as the output; the new code caches a copy "
        "of the output's own size.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(DOC, TITLE, lines)


if __name__ == "__main__":
    main()
