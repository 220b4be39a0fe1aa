"""The store's turns go round-robin by address, then by connection; one connection holds one turn at a time; a
task that gives up waiting, or is cancelled while holding a turn, never leaks it."""

from __future__ import annotations

import asyncio

import pytest

from samizdat.relay.fair import FairScheduler
from samizdat.testing import wait_until


async def run_in_order(scheduler: FairScheduler, requests: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Queue ``requests`` (address, connection) behind a held slot; return the order in which they got turns."""
    order: list[tuple[str, str]] = []

    async def one(address: str, connection: str) -> None:
        async with scheduler.turn(address, connection):
            order.append((address, connection))
            await asyncio.sleep(0)

    async with scheduler.turn("holder", "holder"):
        tasks = [asyncio.create_task(one(a, c)) for a, c in requests]
        await wait_until(lambda: scheduler.waiting == len(requests))
    await asyncio.gather(*tasks)
    return order


async def test_turns_go_round_robin_by_address_then_connection() -> None:
    scheduler = FairScheduler(1)
    # A flood from one address (two connections, many reads each), then one read from another address.
    requests = [("flood", "c1")] * 5 + [("flood", "c2")] * 5 + [("light", "x")]
    order = await run_in_order(scheduler, requests)
    assert order[:3] == [("flood", "c1"), ("light", "x"), ("flood", "c2")]
    assert order[3:] == [("flood", "c1"), ("flood", "c2")] * 4
    assert scheduler.busy == 0


async def test_one_connection_holds_one_turn_at_a_time() -> None:
    scheduler = FairScheduler(3)
    inside = 0
    most = 0

    async def read() -> None:
        nonlocal inside, most
        async with scheduler.turn("a", "c"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(read() for _ in range(10)))
    assert most == 1
    assert scheduler.granted == 10


async def test_cancelled_waiters_and_holders_leak_nothing() -> None:
    scheduler = FairScheduler(1)
    release = asyncio.Event()

    async def hold(address: str) -> None:
        async with scheduler.turn(address, address):
            await release.wait()

    holder = asyncio.create_task(hold("a"))
    await wait_until(lambda: scheduler.busy == 1)
    waiters = [asyncio.create_task(hold(f"w{i}")) for i in range(3)]
    await wait_until(lambda: scheduler.waiting == 3)
    waiters[1].cancel()  # gives up waiting
    await wait_until(lambda: scheduler.waiting == 2)
    holder.cancel()  # cancelled while holding: the turn passes on
    await wait_until(lambda: scheduler.busy == 1 and scheduler.waiting == 1)
    release.set()
    await asyncio.gather(waiters[0], waiters[2])
    assert scheduler.busy == 0
    assert scheduler.waiting == 0
    for task in (holder, waiters[1]):
        with pytest.raises(asyncio.CancelledError):
            await task


def test_a_scheduler_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FairScheduler(0)
