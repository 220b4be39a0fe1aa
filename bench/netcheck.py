"""netcheck benchmark: ``samizdat netcheck`` over the relays of the censorship matrix, timed, and how many
classes it got right; and what the data step (64 KB each way after the WebSocket upgrade) costs per relay: its
seconds and the bytes it moved, directly and through the control path. Needs root (network namespaces); writes
the ``## Blocked relays`` section of docs/benchmarks.md with bench/failover.py's figures.

    .venv/bin/python bench/netcheck.py [--runs 3] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from blocking_report import save
from netlab import BY_NAME, CASES, CONTROL_DNS, PROXY, Lab, missing_requirements


def data_costs(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per relay whose upgrade went through: the data step's seconds and bytes (down + up), direct and control."""
    costs = []
    for r in results:
        data, control = r["steps"]["data"], r["steps"]["control_data"] or {}
        if data is None or data["outcome"] == "skipped":
            continue
        costs.append({"url": r["url"], "class": r["class"], "outcome": data["outcome"], "seconds": data["seconds"],
                      "bytes": data["down"] + data["up"],
                      "control_bytes": control.get("down", 0) + control.get("up", 0)})  # fmt: skip
    return costs


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
                       "total": len(results), "wrong": wrong, "data": data_costs(results)}  # fmt: skip
                runs.append(run)
                print(f"netcheck over {len(results)} relays: {wall:.2f} s (slowest relay {run['slowest']:.2f} s), "
                      f"{run['right']}/{run['total']} right {wrong or ''}", flush=True)  # fmt: skip
                for cost in run["data"]:
                    print(f"  data step {cost['url']:<22} {cost['class']:<15} {cost['outcome']:<8} "
                          f"{cost['seconds']:5.2f} s  {cost['bytes'] / 1024:4.0f} KB direct, "
                          f"{cost['control_bytes'] / 1024:4.0f} KB through the control path", flush=True)  # fmt: skip
        finally:
            lab.close()
    if not args.no_write:
        save("netcheck", {"command": "bench/netcheck.py " + " ".join(sys.argv[1:]), "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
