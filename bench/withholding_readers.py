"""What asking a mirror again through another route costs (services/withholding.py, ``_from_readers``): the same
check as bench/withholding.py on a mirror in step, once on the sync's connection only (no other route) and once
with another route configured (Debian's ``microsocks`` on loopback: a proxy's or Tor's place), bytes both ways of
both connections. Prints a table; the figures go to docs/benchmarks.md ("A mirror that withholds") by hand.

    .venv/bin/python bench/withholding_readers.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from withholding import SCOPE, fill

from samizdat.net.client import RelayClient
from samizdat.net.failover import Routing
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import withholding
from samizdat.testing import FakeClock, free_port, running_relay, test_node


async def one(channels_count: int, retractions: int, proxy: str | None) -> tuple[int, int, bool, int]:
    """(channels, requests, asked another way, bytes) of one check of an honest mirror."""
    now = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(float(now))
        async with (
            running_relay(Path(tmp) / "relay", negentropy=NegentropyService()) as relay,
            test_node(Path(tmp) / "node", clock=clock, sleep=clock.sleep) as node,
        ):
            if proxy:
                node.ctx = dataclasses.replace(node.ctx, routing=Routing(per_relay={relay.url: ("direct", proxy)}))
            ctx = node.ctx
            addresses = await fill(ctx.store, relay.store, now, channels_count, retractions, withheld=False)
            async with await RelayClient.connect(relay.url, timeout=10) as client:
                client.route = "direct"  # as failover.connect names it
                found = await withholding.check(ctx, client, addresses, SCOPE)
            return len(addresses), found.requests, found.readers_asked, found.bytes


async def table(proxy: str) -> None:
    print("| channels | retractions each | other route | requests | bytes |")
    print("|---:|---:|---|---:|---:|")
    for count, retractions in ((1, 0), (1, 2), (20, 5)):
        for route in (None, proxy):
            n, requests, asked, size = await one(count, retractions, route)
            print(f"| {n} | {retractions} | {'asked' if asked else 'none'} | {requests} | {size:,} |")


def main() -> None:
    port = free_port()
    process = subprocess.Popen(["microsocks", "-i", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        asyncio.run(table(f"socks5h://127.0.0.1:{port}"))
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
