"""What asking a mirror for the newest definitions and retractions costs after each sync
(services/withholding.py): bytes and messages of one check, against our relay on loopback, in step (the usual
case: one ``REQ``) and withholding (the events pushed once, then asked again). Prints a table; the figures go
to docs/benchmarks.md ("A mirror that withholds") by hand.

    .venv/bin/python bench/withholding.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post, build_retraction
from samizdat.net.client import RelayClient
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import channels, withholding
from samizdat.store.base import Store
from samizdat.testing import FakeClock, running_relay, test_node

#: What the check asks the mirror for: as wide as an area's filter.
SCOPE = [Filter(kinds=frozenset({30333, 2333, 5}))]


async def fill(
    mine: Store, mirror: Store, now: int, channels_count: int, retractions: int, *, withheld: bool
) -> list[str]:
    """Store ``channels_count`` channels, each with ``retractions`` retracted posts, in the node's store and the
    mirror's (without the retractions when ``withheld``); returns the channels' addresses."""
    addresses = []
    for c in range(channels_count):
        owner = SecretKey.generate()
        definition = build_channel_event(owner, f"c{c}", f"Channel {c}", created_at=now - 3600)
        channel = parse_channel(definition)
        events = [definition]
        for r in range(retractions):
            post = build_post(owner, channel, "news", f"post {r}", created_at=now - 3000 + r)
            retraction, deletion = build_retraction(owner, channel, post, "wrong", created_at=now - 2000 + r)
            events += [post, retraction] + ([deletion] if deletion else [])
        await mine.add_many(events)
        await mirror.add_many([e for e in events if not (withheld and e.content == "wrong")])
        addresses.append(channels.address_of(definition))
    return addresses


async def one(channels_count: int, retractions: int, *, withheld: bool) -> tuple[int, int, int, int]:
    """(ids asked, requests, pushed, bytes) of one check of a unit of ``channels_count`` channels."""
    now = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(float(now))
        async with (
            running_relay(Path(tmp) / "relay", negentropy=NegentropyService()) as relay,
            test_node(Path(tmp) / "node", clock=clock, sleep=clock.sleep) as node,
        ):
            ctx = node.ctx
            addresses = await fill(ctx.store, relay.store, now, channels_count, retractions, withheld=withheld)
            async with await RelayClient.connect(relay.url, timeout=10) as client:
                found = await withholding.check(ctx, client, addresses, SCOPE)
            return len(addresses), found.requests, found.pushed, found.bytes


async def main() -> None:
    print("| channels | retractions each | mirror | requests | pushed | bytes |")
    print("|---:|---:|---|---:|---:|---:|")
    for count, retractions in ((1, 0), (1, 2), (20, 5)):
        for withheld in (False, True):
            if withheld and not retractions:
                continue
            n, requests, pushed, size = await one(count, retractions, withheld=withheld)
            state = "lacks the retractions" if withheld else "in step"
            print(f"| {n} | {retractions} | {state} | {requests} | {pushed} | {size:,} |")


if __name__ == "__main__":
    asyncio.run(main())
