"""The store's turns go round-robin by address, then by connection; one connection holds one turn at a time; a
task that gives up waiting, or is cancelled while holding a turn, never leaks it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from relay_helpers import make_event
from relay_netns import AddressLab, missing
from websockets.asyncio.client import connect

from samizdat.core.keys import SecretKey
from samizdat.relay.fair import FairScheduler
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
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


async def test_one_address_never_holds_every_slot() -> None:
    """An address with many connections, alone on the relay, holds one slot fewer than there are; a light read
    from another address then gets the free one at once, not after one of the heavy turns ends."""
    scheduler = FairScheduler(2)
    release = asyncio.Event()
    got: list[str] = []

    async def hold(address: str, connection: str) -> None:
        async with scheduler.turn(address, connection):
            got.append(f"{address}/{connection}")
            await release.wait()

    heavy = [asyncio.create_task(hold("flood", f"c{i}")) for i in range(4)]
    await wait_until(lambda: scheduler.busy == 1 and scheduler.waiting == 3)
    assert got == ["flood/c0"]  # the second slot stays free although three of its connections wait
    light = asyncio.create_task(hold("light", "x"))
    await wait_until(lambda: "light/x" in got)
    assert scheduler.busy == 2
    release.set()
    await asyncio.gather(*heavy, light)
    assert scheduler.busy == 0
    assert scheduler.waiting == 0
    assert sorted(got) == ["flood/c0", "flood/c1", "flood/c2", "flood/c3", "light/x"]


async def test_a_single_slot_is_shared_round_robin() -> None:
    """With one slot, the bound is one turn per address: every address still gets its turn."""
    scheduler = FairScheduler(1)
    assert scheduler.per_address == 1
    order = await run_in_order(scheduler, [("a", "1"), ("a", "2"), ("b", "1")])
    assert order == [("a", "1"), ("b", "1"), ("a", "2")]


async def test_the_relay_shares_store_turns_by_remote_address(tmp_path: Path, key: SecretKey) -> None:
    """On a real relay, the turns of a COUNT flood from one remote address (four connections, many COUNTs each)
    never take both of the store's slots; a reader from another address gets its answer meanwhile."""
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    lab = AddressLab()
    store = await SqliteStore.open(tmp_path / "events.sqlite")
    # Room for all 32 of the flood's COUNTs to wait (the default bound per address is lower): the turns are tested.
    relay = RelayServer(store, limits=RelayLimits(reqs_burst=1000, max_pending_counts_per_ip=32))
    try:
        await store.add_many([make_event(key, 1, f"post {i}", created_at=1_700_000_000 + i) for i in range(2000)])
        await relay.start(sock=lab.listener())
        attacker, reader = lab.addresses[20], lab.addresses[21]
        held: list[int] = []
        taken = relay.turns._take

        def logged(address: object, connection: object) -> None:
            taken(address, connection)
            held.append(relay.turns._held[attacker])

        relay.turns._take = logged  # type: ignore[method-assign]
        url = f"ws://{lab.relay_address}:{relay.port}/"
        flood = []
        for _ in range(4):
            sock = await asyncio.to_thread(lab.connect, attacker, relay.port)
            flood.append(await connect(url, sock=sock, open_timeout=5, close_timeout=1))
        counts = [f'["COUNT","c{i}",{{"since":{i}}},{{"kinds":[1,{i}]}}]' for i in range(8)]
        for ws in flood:
            for message in counts:
                await ws.send(message)
        await wait_until(lambda: relay.turns.waiting >= 2, what="the flood's COUNTs to queue up")
        sock = await asyncio.to_thread(lab.connect, reader, relay.port)
        async with connect(url, sock=sock, open_timeout=5, close_timeout=1) as ws:
            await ws.send('["REQ","r",{"kinds":[1],"limit":3}]')
            answers = [orjson.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in range(4)]
        assert [a[0] for a in answers] == ["EVENT", "EVENT", "EVENT", "EOSE"]
        for ws in flood:  # every COUNT of the flood is answered in the end
            got = [orjson.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in counts]
            assert sorted(g[1] for g in got if g[0] == "COUNT") == sorted(f"c{i}" for i in range(8))
            await ws.close()
        assert held
        assert max(held) == 1  # the flood's address never held both slots
    finally:
        await relay.stop()
        await store.close()
        lab.close()
