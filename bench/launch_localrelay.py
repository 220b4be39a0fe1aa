"""Start nostr-sdk's LocalRelay (Rust, in memory) on a loopback port until SIGTERM.

Rate limits are raised far beyond anything the benchmarks send (the default is 60 events per connection), and
the connection cap is lifted, so that the relay's own speed is what gets measured.

Its default in-memory database keeps only about the newest 50,000 events (older ones are evicted; measured
here with 0.45.1). The wheel's ``NostrLmdb`` cannot stand in: ``LocalRelayBuilder.database()`` reaches it
through a Python callback that has no event loop in the relay's threads, so every query fails.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal

import nostr_sdk


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    relay = (
        nostr_sdk.LocalRelayBuilder()
        .addr(args.host)
        .port(args.port)
        .rate_limit(nostr_sdk.RateLimit(max_reqs=10**6, notes_per_minute=10**9))
        .max_connections(100_000)
        .build()
    )
    await relay.run()
    print(f"READY {args.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    relay.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
