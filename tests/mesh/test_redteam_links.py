"""Red team, round 4, on loopback: a device on the Wi-Fi whose made-up node answers a peer link with a real relay
that says ``OK`` to everything and keeps nothing, so that at every reconciliation it lacks the whole store."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from mesh_helpers import WAIT, Side, note, running

from samizdat.core.event import Event
from samizdat.mesh.link import PeerLink
from samizdat.net.sync import LOSING_UPLOAD
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.store.base import AddOutcome
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock, wait_until

STORE = 300  # events on the node


class KeepsNothing(SqliteStore):
    """The device's store: every event is "stored" and none is kept; counts what it was sent."""

    received = 0

    async def add_many(self, events: Sequence[Event]) -> list[AddOutcome]:
        type(self).received += len(events)
        return [AddOutcome.STORED] * len(events)


@contextlib.asynccontextmanager
async def device(path: Path) -> AsyncIterator[str]:
    """The device's made-up node: a real relay on loopback over a store that keeps nothing; yields its URL."""
    path.mkdir()  # noqa: ASYNC240 - a test directory, before anything runs
    KeepsNothing.received = 0
    store = await KeepsNothing.open(path / "events.sqlite")
    try:
        server = RelayServer(store, negentropy=NegentropyService())
        await server.start("127.0.0.1", 0)
        try:
            yield f"ws://127.0.0.1:{server.port}"
        finally:
            await server.stop()
    finally:
        await store.close()


async def reconciled(link: PeerLink, clock: FakeClock, minutes: float) -> None:
    """Let ``minutes`` pass and the link reconcile once more (as it does every ten minutes, or on reconnecting)."""
    before = link.last_report
    clock.advance(minutes * 60)
    link.resync.set()
    await wait_until(lambda: link.last_report is not before, timeout=WAIT, what="one more reconciliation")


async def test_a_peer_that_keeps_nothing_is_not_sent_the_whole_store_at_every_reconciliation(
    pair: tuple[Side, Side], tmp_path: Path
) -> None:
    node, neighbour = pair
    await node.store.add_many([note(f"carried post {i}") for i in range(STORE)])
    clock = FakeClock(time.time())
    async with device(tmp_path / "device") as url:
        node.local.add_peer(url, "mdns", now=clock())
        link = PeerLink(url, node.store, node.local, node.server.ingest_many, clock=clock,
                        follow_up=3600, resync_interval=3600)  # fmt: skip
        async with running(link):
            await wait_until(lambda: link.last_report is not None, timeout=WAIT, what="the first reconciliation")
            assert KeepsNothing.received == STORE, "a new peer gets everything it lacks"
            sent = []
            for _ in range(4):
                before = KeepsNothing.received
                await reconciled(link, clock, minutes=10)
                sent.append(KeepsNothing.received - before)
    # Before: 300 events (the whole store) at every reconciliation, for as long as the device kept its node up.
    print(f"\nsent to the device at four later reconciliations: {sent}")
    assert all(n <= LOSING_UPLOAD for n in sent), f"the whole store again and again: {sent}"
    assert sum(sent) >= LOSING_UPLOAD, "the newest it lacks still go"

    # A neighbour that keeps what it takes still gets everything new, by reconciliation as before.
    async with running(PeerLink(neighbour.url, node.store, node.local, node.server.ingest_many)) as honest:
        await wait_until(lambda: honest.last_report is not None, timeout=WAIT, what="the neighbour's reconciliation")
    assert len(await neighbour.store.has([note(f"carried post {i}").id for i in range(STORE)])) == STORE


def test_a_peer_that_keeps_only_the_newest_it_took_is_found_losing() -> None:
    """A sample of the newest acknowledgements only would miss it: it keeps exactly those and loses the rest."""
    from samizdat.mesh.uploads import PeerUploads

    rng = random.Random(4)
    uploads = PeerUploads(random=rng.random)
    url = "ws://10.0.0.9:4848"
    took = [note(f"post {i}").id for i in range(5000)]
    uploads.acknowledged(url, took, now=1000.0)
    assert uploads.limit(url, 1000.0) is None, "a peer that lost nothing gets everything it lacks"
    kept_newest = set(took[-1000:])
    assert uploads.lost(url, [i for i in took if i not in kept_newest], began=1020.0)
    assert uploads.limit(url, 1021.0) == LOSING_UPLOAD
    assert uploads.limit(url, 1021.0 + 3600) is None, "after an hour it may show again that it keeps what it takes"
