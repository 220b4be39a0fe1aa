"""The composition root (node.py) in a cluster of workers: the hooks that feed the loops (carry, photos, forwarding,
LAN links) run on worker 0 alone, for every event any worker stored, once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
from websockets.asyncio.client import connect

from samizdat.core import kinds
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.node import Node
from samizdat.relay.bus import LocalBus
from samizdat.relay.cluster import Cluster
from samizdat.relay.server import RelayServer
from samizdat.testing import test_node, wait_until

KEY = SecretKey(bytes([9]) * 32)


@contextlib.asynccontextmanager
async def serving(node: Node, cluster: Cluster) -> AsyncIterator[RelayServer]:
    """``node`` serving on a free port as one worker of ``cluster``; its relay server once it listens."""
    ready = asyncio.Event()
    task = asyncio.create_task(node.serve("127.0.0.1", 0, ready=lambda host, port: ready.set(), cluster=cluster))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        assert node.server is not None
        yield node.server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


Hook = Callable[[Event], None]


def counting(seen: Counter[tuple[str, str]], name: str, hook: Hook | None) -> Hook:
    assert hook is not None

    def counted(event: Event) -> None:
        seen[(name, event.id)] += 1
        hook(event)

    return counted


async def publish(port: int, event: Event) -> None:
    async with connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send(orjson.dumps(["EVENT", orjson.loads(event.to_json())]))
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == ["OK", event.id, True, ""]


async def test_worker_0_alone_runs_the_hooks_for_what_every_worker_stores(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with test_node(home) as first, test_node(home) as second:
        buses = [LocalBus(tmp_path / "bus", f"w{i}") for i in range(2)]
        try:
            async with (
                serving(first, Cluster(buses[0], index=0, workers=2)) as primary,
                serving(second, Cluster(buses[1], index=1, workers=2)) as other,
            ):
                # The other worker runs no loops: nothing of its own is fed events (a forwarding queue there was
                # filled and never emptied).
                assert other.on_event is None
                assert other.on_client_event is None
                seen: Counter[tuple[str, str]] = Counter()
                primary.on_event = counting(seen, "stored", primary.on_event)
                primary.on_client_event = counting(seen, "from client", primary.on_client_event)
                now = int(first.ctx.now())
                # Channel posts: what worker 0's loops use of the others' events (forwarding, the photos' travel)
                # while it has no subscriber and no LAN link; the rest it counts by size (relay/cluster.py).
                to_other = sign_event(KEY, kinds.POST, "sent to worker 1", [["t", "x"]], created_at=now)
                to_primary = sign_event(KEY, kinds.POST, "sent to worker 0", [["t", "x"]], created_at=now)
                await publish(other.port, to_other)
                await publish(primary.port, to_primary)
                expected = {(hook, event.id) for hook in ("stored", "from client") for event in (to_other, to_primary)}
                await wait_until(lambda: set(seen) == expected, what="both events at worker 0's hooks")
                # Once each: worker 0 fans its own out when stored, and the other's when its follower reads them.
                sent = await first.ctx.store.last_seq()
                await wait_until(lambda: primary.follower is not None and primary.follower.cursor >= sent,
                                 what="worker 0's follower past both")  # fmt: skip
                assert set(seen.values()) == {1}
        finally:
            for bus in buses:
                await bus.close()
