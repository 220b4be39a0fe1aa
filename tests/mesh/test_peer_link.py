"""A peer link between two real relays on loopback: reconcile both ways, then live both ways, no echo, resume."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from mesh_helpers import WAIT, Side, note, running

from samizdat.mesh.link import PeerLink
from samizdat.net.client import RelayClient
from samizdat.store.local import PeerRow
from samizdat.testing import wait_until


@contextlib.asynccontextmanager
async def linked(a: Side, b: Side, **options: object) -> AsyncIterator[PeerLink]:
    """A's link to B, wired as the node wires it: A's stored events are offered to the link."""
    a.local.add_peer(b.url, "manual", now=0)
    link = PeerLink(b.url, a.store, a.local, a.server.ingest_many, **options)  # type: ignore[arg-type]
    a.server.on_event = link.offer
    async with running(link):
        yield link


async def has(side: Side, *ids: str) -> bool:
    return len(await side.store.has(list(ids))) == len(ids)


async def test_link_reconciles_both_ways_then_carries_new_events_live(pair: tuple[Side, Side]) -> None:
    a, b = pair
    only_a = [note(f"a{i}") for i in range(30)]
    only_b = [note(f"b{i}") for i in range(20)]
    await a.store.add_many(only_a)
    await b.store.add_many(only_b)

    async with linked(a, b) as link:
        everything = [e.id for e in only_a + only_b]
        await wait_until(lambda: has(a, *everything), timeout=WAIT, what="A to receive B's events")
        await wait_until(lambda: has(b, *everything), timeout=WAIT, what="B to receive A's events")
        await wait_until(lambda: link.state == "live", timeout=WAIT, what="the link to go live")

        fresh_a = note("new on A")
        await a.server.ingest(fresh_a)  # what a post on A does
        await wait_until(lambda: has(b, fresh_a.id), timeout=WAIT, what="a new post on A to reach B")

        fresh_b = note("new on B")
        async with await RelayClient.connect(b.url) as client:  # someone posts to B
            assert (await client.publish(fresh_b)).accepted
        await wait_until(lambda: has(a, fresh_b.id), timeout=WAIT, what="a new post on B to reach A")

        def counted() -> PeerRow | None:  # the counters are written just after the events are stored
            row = a.local.peer(b.url)
            done = row is not None and row.last_sync is not None and row.events_in >= 21 and row.events_out >= 31
            return row if done else None

        row = await wait_until(counted, timeout=WAIT, what="the link's counters")
        assert row.events_in == 21, "20 by reconciliation and 1 live"
        assert row.events_out == 31, "what came from B is never pushed back to B"


async def test_link_resumes_after_the_peer_restarts_and_catches_up(pair: tuple[Side, Side]) -> None:
    a, b = pair
    port = b.server.port
    async with linked(a, b) as link:
        await wait_until(lambda: link.state == "live", timeout=WAIT, what="the link to go live")
        await b.server.stop()
        missed = [note(f"while apart {i}") for i in range(10)]
        for event in missed:
            await a.server.ingest(event)
        await wait_until(lambda: link.state == "backoff", timeout=WAIT, what="the link to notice")
        await b.server.start("127.0.0.1", port)
        link.wake.set()
        await wait_until(lambda: has(b, *(e.id for e in missed)), timeout=20, what="B to catch up after restart")


async def test_link_does_not_fetch_what_was_dropped_for_the_carry_quota(pair: tuple[Side, Side]) -> None:
    a, b = pair
    wanted, dropped = note("keep me"), note("dropped before")
    await b.store.add_many([wanted, dropped])

    async def unwanted(ids: object) -> set[bytes]:
        return {bytes.fromhex(dropped.id)}

    async with linked(a, b, unwanted=unwanted) as link:
        await wait_until(lambda: has(a, wanted.id), timeout=WAIT, what="the wanted event")
        await wait_until(lambda: link.last_report is not None, timeout=WAIT, what="a sync report")
        assert link.last_report is not None
        assert link.last_report.skipped == 1
        assert not await has(a, dropped.id)


@pytest.mark.parametrize("rate", [50.0])
async def test_a_peer_cannot_push_faster_than_its_rate(pair: tuple[Side, Side], rate: float) -> None:
    a, b = pair
    async with linked(a, b, events_per_second=rate, events_burst=rate) as link:
        await wait_until(lambda: link.state == "live", timeout=WAIT, what="the link to go live")
        flood = [note(f"flood {i}", created_at=1_700_000_100 + i) for i in range(150)]
        async with await RelayClient.connect(b.url) as client:
            await client.publish_many(flood)

        async def first_burst() -> int:
            got = len(await a.store.has([e.id for e in flood]))
            return got if got >= rate else 0

        got = await wait_until(first_burst, timeout=WAIT, what="the first burst")
        assert got < 150, "the whole flood went through at once"
        await wait_until(lambda: has(a, *(e.id for e in flood)), timeout=15, what="the rest, at the peer's rate")


async def test_link_reconciles_again_soon_after_a_stale_snapshot(pair: tuple[Side, Side]) -> None:
    """B's relay answers from a snapshot up to 5 s old; X stored in B just before the link started was missing
    from it and is older than the live subscription: the follow-up reconciliation must still bring it."""
    from samizdat.core.filters import Filter
    from samizdat.net.sync import reconcile

    a, b = pair
    async with await RelayClient.connect(b.url) as client:  # someone else's sync primes B's snapshot
        await reconcile(client, a.store, Filter())
    missed = note("stored just before the link")
    await b.store.add(missed)
    async with linked(a, b) as link:
        await wait_until(lambda: link.last_report is not None, timeout=WAIT, what="the first reconciliation")
        assert link.last_report is not None
        first_need = link.last_report.need
        await wait_until(lambda: has(a, missed.id), timeout=20, what="the follow-up reconciliation to fetch it")
    assert first_need == 0, "the first reconciliation was expected to see the stale snapshot"
