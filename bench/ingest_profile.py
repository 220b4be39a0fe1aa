"""Where a relay worker's CPU goes during durable ingest: ``samizdat serve --workers N`` under the same load as
``bench/workers.py`` (``bench/loadgen.py ingest``, 8 connections x 200 in flight), with

* the CPU µs per acknowledged event of every thread of every relay process (the event loop's thread, the store's
  writer thread, reader threads), from ``/proc``: this needs no profiler and is what to compare before and after;
* with ``--cprofile``, a cProfile of each process's main thread (the event loop), printed as the functions with
  the most own time and the most time under them (cProfile slows Python code down about twice, so read the
  shares, not the µs).

    .venv/bin/python bench/ingest_profile.py [--workers 2] [--events 50000] [--cprofile] [--top 30]

``KEEP_PROFILES=1`` with ``--cprofile`` keeps the profiles (``/tmp/bench-cprofile-*``) for pstats.

Prints only; writes nothing to docs/.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pstats
import shutil
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import dataset  # noqa: E402
from workers import Relay, run_loadgen, watch_connections  # noqa: E402


def thread_cpu(pids: list[int]) -> dict[tuple[int, int], float]:
    """CPU seconds (user + system) of every thread of ``pids``, by (pid, tid)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[tuple[int, int], float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                    found[(pid, int(task.name))] = (int(fields[11]) + int(fields[12])) / tick
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    path = dataset.ensure("ingest", args.events)
    profiles = Path(tempfile.mkdtemp(prefix="bench-cprofile-"))
    saved = dict(os.environ)
    if args.cprofile:
        os.environ["SAMIZDAT_BENCH_CPROFILE"] = str(profiles)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH / "cprofile_hook"),
                                                                 os.environ.get("PYTHONPATH")]))  # fmt: skip
    try:
        relay = Relay("samizdat", args.workers)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        pids = relay.pids()
        before = thread_cpu(pids)
        load = os.getloadavg()
        stop, seen = threading.Event(), []
        watcher = threading.Thread(target=watch_connections, args=(relay.port, stop, seen))
        watcher.start()
        try:
            res = run_loadgen(relay.url, path, args.events)
        finally:
            stop.set()
            watcher.join()
        after = thread_cpu(pids)
    finally:
        relay.stop()
    ok = max(1, res["ok"])
    print(f"--workers {args.workers}: {res['ok']:,} of {args.events:,} OK at {res['rate']:,.0f} events/s; "
          f"load average before {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, after {os.getloadavg()[0]:.1f}; "
          f"load generator CPU {res['cpu_share']:.0%} of a core")  # fmt: skip
    total = 0.0
    for pid in pids:
        rows = sorted(((tid, after[(p, tid)] - before.get((p, tid), 0.0)) for p, tid in after if p == pid),
                      key=lambda x: -x[1])  # fmt: skip
        used = sum(x for _, x in rows)
        total += used
        if used <= 0:
            continue
        parts = ", ".join(f"{'main' if tid == pid else tid}: {x / ok * 1e6:.0f}" for tid, x in rows if x > 0)
        print(f"  process {pid}: {used / ok * 1e6:.0f} µs/event ({parts})")
    print(f"  relay in all: {total / ok * 1e6:.0f} µs/event")
    shares = Counter(" / ".join(str(n) for _, n in sorted(c.items())) for c in seen if sum(c.values()) == 8)
    print(f"  connections per worker (every 0.5 s, by how often): {dict(shares.most_common())}")
    if args.cprofile:
        for prof in sorted(profiles.glob("*.prof")):
            if int(prof.stem) not in pids or prof.stat().st_size == 0:
                continue
            stats = pstats.Stats(str(prof))
            if stats.total_tt < 1.0:  # the parent of the workers: idle
                continue
            print(f"\n== process {prof.stem}: {stats.total_tt:.1f} s profiled (main thread)")
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
    if args.cprofile and os.environ.get("KEEP_PROFILES"):
        print(f"\nprofiles kept in {profiles} (pstats: print_callers / print_callees)")
    else:
        shutil.rmtree(profiles, ignore_errors=True)


if __name__ == "__main__":
    main()
