"""netcheck benchmark: ``samizdat netcheck`` over the ten relays of the censorship matrix, timed, and how many
classes it got right. Needs root (network namespaces); writes the ``## Blocked relays`` section of
docs/benchmarks.md with bench/failover.py's figures.

    .venv/bin/python bench/netcheck.py [--runs 3] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from blocking_report import save
from netlab import BY_NAME, CASES, CONTROL_DNS, PROXY, Lab, missing_requirements


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    why = missing_requirements()
    if why:
        print(f"netcheck benchmark skipped: {why}", file=sys.stderr)
        return 1
    runs = []
    with tempfile.TemporaryDirectory(prefix="smzb-bench-") as tmp:
        lab = Lab(Path(tmp)).start()
        try:
            home = Path(tmp) / "checker"
            lab.samizdat(home, "init")
            for _ in range(args.runs):
                started = time.monotonic()
                done = lab.samizdat(home, "netcheck", *(c.url for c in CASES), "--control-proxy", PROXY,
                                    "--control-dns", CONTROL_DNS, "--ca-file", str(lab.ca), "--json")  # fmt: skip
                wall = time.monotonic() - started
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return 1
                results = json.loads(done.stdout)["results"]
                wrong = [
                    f"{r['url']} as {r['class']} (is {BY_NAME[r['url'].split('//')[1]].expected})"
                    for r in results
                    if r["class"] != BY_NAME[r["url"].split("//")[1]].expected
                ]
                run = {"wall": wall, "slowest": max(r["seconds"] for r in results), "right": len(results) - len(wrong),
                       "total": len(results), "wrong": wrong}  # fmt: skip
                runs.append(run)
                print(f"netcheck over {len(results)} relays: {wall:.2f} s (slowest relay {run['slowest']:.2f} s), "
                      f"{run['right']}/{run['total']} right {wrong or ''}", flush=True)  # fmt: skip
        finally:
            lab.close()
    if not args.no_write:
        save("netcheck", {"command": "bench/netcheck.py " + " ".join(sys.argv[1:]), "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
