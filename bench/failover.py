"""Failover benchmark: from the moment the main relay is blocked to the next post stored by the mirror and,
through the outside SOCKS proxy, by the main relay. Needs root (network namespaces); writes the
``## Blocked relays`` section of docs/benchmarks.md with bench/netcheck.py's figures.

    .venv/bin/python bench/failover.py [--runs 3] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from blocking_report import save
from netlab import MAIN_PORT, MIRROR, MIRROR_PORT, PROXY, Lab, missing_requirements

WATCH = """
import asyncio, json, sys, time
from samizdat.net.client import RelayClient
from samizdat.core.filters import Filter

async def watch(name, port):
    async with await RelayClient.connect(f"ws://127.0.0.1:{port}", timeout=10) as client:
        async for event in client.stream([Filter(kinds=frozenset({2333}))], live=True):
            print(json.dumps([name, event.id, time.time()]), flush=True)

async def main():
    await asyncio.gather(watch("main", int(sys.argv[1])), watch("mirror", int(sys.argv[2])))

asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    why = missing_requirements()
    if why:
        print(f"failover benchmark skipped: {why}", file=sys.stderr)
        return 1
    runs = []
    with tempfile.TemporaryDirectory(prefix="smzb-bench-") as tmp:
        lab = Lab(Path(tmp)).start()
        try:
            watcher = subprocess.Popen(
                ["ip", "netns", "exec", lab.net, sys.executable, "-c", WATCH, str(MAIN_PORT), str(MIRROR_PORT)],
                stdout=subprocess.PIPE, text=True, env=lab.env(),
            )  # fmt: skip
            lab.processes.append(("watcher", watcher))  # type: ignore[arg-type]
            seen: dict[tuple[str, str], float] = {}

            def wait_for(event_id: str, timeout: float = 60) -> tuple[float, float]:
                deadline = time.time() + timeout
                assert watcher.stdout is not None
                while time.time() < deadline and not all((n, event_id) in seen for n in ("main", "mirror")):
                    line = watcher.stdout.readline()
                    if line:
                        name, got, when = json.loads(line)
                        seen.setdefault((name, got), when)
                return seen.get(("mirror", event_id), float("nan")), seen.get(("main", event_id), float("nan"))

            for run in range(args.runs):
                home = Path(tmp) / f"publisher-{run}"
                subprocess.run(lab.samizdat_command(home, "init"), check=True, capture_output=True, env=lab.env())
                (home / "config.toml").write_text(f'[sync]\nfallback = ["{PROXY}"]\n')
                lab.samizdat(home, "channel", "create", "news", "--name", "News", "--mirror", "wss://ok.test",
                             "--mirror", MIRROR.url)  # fmt: skip
                port = 4900 + run
                node = lab.spawn(
                    lab.client,
                    f"publisher-{run}",
                    *lab.samizdat_args(home, "serve", "--port", str(port)),
                    env=lab.env(),
                )
                lab.wait_port(lab.client, "127.0.0.1", port, f"publisher-{run}")
                # Before: the main relay works directly, and the node has learnt so.
                before = json.loads(lab.samizdat(home, "post", "news", "before", "--json").stdout)["ids"][0]
                wait_for(before)
                blocked_at = time.time()
                lab.block("10.88.2.10")
                after = json.loads(lab.samizdat(home, "post", "news", "after", "--json").stdout)["ids"][0]
                mirror, main_relay = wait_for(after)
                runs.append({"memory": "direct worked before", "mirror": mirror - blocked_at,
                             "proxy": main_relay - blocked_at})  # fmt: skip
                # Once more while still blocked: the node now starts with the proxy.
                blocked_at = time.time()
                again = json.loads(lab.samizdat(home, "post", "news", "again", "--json").stdout)["ids"][0]
                mirror, main_relay = wait_for(again)
                runs.append({"memory": "proxy worked before", "mirror": mirror - blocked_at,
                             "proxy": main_relay - blocked_at})  # fmt: skip
                node.terminate()
                node.wait(15)
                lab.unblock_all()
                print(json.dumps(runs[-2:]), flush=True)
        finally:
            lab.close()
    for i, run in enumerate(runs, 1):
        print(f"run {i} ({run['memory']}): mirror {run['mirror']:.2f} s, main relay via proxy {run['proxy']:.2f} s")
    if not args.no_write:
        save("failover", {"command": "bench/failover.py " + " ".join(sys.argv[1:]), "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
