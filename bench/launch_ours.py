"""Start our relay (RelayServer over SqliteStore) on a loopback port until SIGTERM, or pre-fill its store.

    launch_ours.py --db FILE --port P            serve; prints ``READY <port>`` once accepting
    launch_ours.py --db FILE --prefill JSONL     store every event of JSONL through the store API, then exit

Rate limits are raised far beyond anything the benchmarks send and the connection cap is lifted, as for the
peers, so that the relay's own speed is what gets measured; every other limit keeps its default.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import sys
import time
from pathlib import Path

BENCH_LIMITS = {
    "events_per_second": 1e9,
    "events_burst": 10**9,
    "reqs_per_second": 1e9,
    "reqs_burst": 10**9,
    "max_connections": 100_000,
}


async def prefill(db: Path, jsonl: Path, batch: int) -> None:
    from samizdat.core.event import parse_event_json
    from samizdat.store.sqlite import SqliteStore

    store = await SqliteStore.open(db)
    t0 = time.perf_counter()
    n = 0
    lines = (await asyncio.to_thread(jsonl.read_bytes)).splitlines()
    try:
        for i in range(0, len(lines), batch):
            # verify=False: these are our own freshly signed events (dataset.py), checked when generated.
            await store.add_many([parse_event_json(x, verify=False) for x in lines[i : i + batch]])
            n += len(lines[i : i + batch])
    finally:
        await store.close()
    print(f"PREFILLED {n} {time.perf_counter() - t0:.1f}", flush=True)


async def serve(db: Path, host: str, port: int) -> None:
    from samizdat.relay.limits import RelayLimits
    from samizdat.relay.server import RelayServer
    from samizdat.store.sqlite import SqliteStore

    store = await SqliteStore.open(db)
    server = RelayServer(store, limits=RelayLimits(**BENCH_LIMITS))  # type: ignore[arg-type]
    await server.start(host, port)
    print(f"READY {server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--prefill", type=Path)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.prefill:
        asyncio.run(prefill(args.db, args.prefill, args.batch))
    else:
        asyncio.run(serve(args.db, args.host, args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
