"""A hostile device on the node's Wi-Fi: goodbyes forged in other nodes' names (the roster's side; real mDNS
between namespaces is ``tests/lan/test_lan_adversary.py``); fake peers on real sockets on 127.0.0.1 that accept
the node's link and then flood its live subscription with events that never verify, drop every link at once, or
answer nothing; and a device announcing a new address for itself as often as the roster lets it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from mesh_helpers import KEY, WAIT, Discovered, Side, note, running
from websockets.asyncio.server import ServerConnection, serve

import samizdat.mesh.link
from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.kinds import PEER_SUBSCRIPTION
from samizdat.errors import BrokenTransport
from samizdat.mesh.announcements import FAILING_FOR, MAX_ANNOUNCED, RESOLVE_RATE, Roster, Sighting
from samizdat.mesh.link import PeerLink
from samizdat.mesh.peers import LINK_RATE, Mesh, MeshOptions
from samizdat.net.client import RelayClient
from samizdat.testing import wait_until

# -- goodbyes are claims: only a service that stops answering is forgotten -------------------------------------------


def kept(roster: Roster, name: str, instance: str, now: float) -> None:
    assert roster.wanted(name, now)
    found, _ = roster.resolved(name, Sighting(instance, f"ws://10.42.0.7:{4848 + len(name)}", "", False), now)
    assert found is not None


def test_a_forged_goodbye_for_a_service_that_still_answers_is_not_believed() -> None:
    roster = Roster(doubt_for=4, ask_soon=1, ask_every=10)
    kept(roster, "neighbour", "n1", 0.0)
    for second in range(100):  # a goodbye in its name every second for 100 s; it answers every question
        now = float(second)
        roster.goodbye("neighbour", now)
        tick = roster.tick(now + 0.5)
        assert tick.lost == [], f"dropped after a forged goodbye at {now} s"
        if tick.ask:
            assert roster.heard("neighbour", now + 0.6), "its answer shows the goodbye was not its own"
    assert set(roster.kept) == {"neighbour"}


def test_a_goodbye_from_a_service_that_is_really_gone_is_believed_soon() -> None:
    roster = Roster(doubt_for=4, ask_soon=1, ask_every=10)
    kept(roster, "gone", "g1", 0.0)
    kept(roster, "stays", "s1", 0.0)
    roster.goodbye("gone", 1.0)
    asks = [t for t in range(1, 6) if roster.tick(float(t)).ask]
    assert asks[:1] == [1], "asked at once who is there"
    assert len(asks) <= 5, "not more often than once a second"
    roster.heard("stays", 3.0)  # another service answering does not save the one that left
    assert roster.tick(5.5).lost == ["g1"]
    assert set(roster.kept) == {"stays"}
    assert not roster.heard("gone", 6.0), "a late record of a forgotten service is a newcomer, not an answer"


def test_goodbyes_for_services_not_kept_cost_nothing() -> None:
    roster = Roster()
    for n in range(10_000):
        roster.goodbye(f"stranger{n}", float(n))
    assert roster.tick(10_000.0).ask is False
    assert roster._doubted == {}


# -- a fake peer that floods the live subscription with events that never verify ------------------------------------


def forged(event: Event) -> dict[str, Any]:
    """``event`` with another event's signature: its id checks out, so only the signature check refuses it, the
    most expensive way for it to fail."""
    raw: dict[str, Any] = json.loads(event.to_json())
    raw["sig"] = note("someone else's").sig
    return raw


Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def fake_peer(handler: Handler) -> AsyncIterator[str]:
    """A WebSocket server on 127.0.0.1 that answers the peer link as ``handler`` does."""
    async with serve(handler, "127.0.0.1", 0, max_size=2**20) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


def flooder(flood: int) -> Handler:
    """Answers the link's live subscription with ``flood`` forged events, then hangs up; answers nothing else."""
    garbage = forged(note("forged"))

    async def handler(connection: ServerConnection) -> None:
        async for raw in connection:
            message = orjson.loads(raw)
            if message[0] == "REQ" and str(message[1]).startswith(PEER_SUBSCRIPTION):
                frame = orjson.dumps(["EVENT", message[1], garbage]).decode()
                for _ in range(flood):
                    await connection.send(frame)
                await connection.close()
                return

    return handler


async def test_a_peer_flooding_events_that_never_verify_gets_no_more_checks_than_its_rate(
    pair: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = pair
    checked = 0

    def counting(raw: object, **options: Any) -> Event:
        nonlocal checked
        checked += 1
        return parse_event(raw, **options)

    monkeypatch.setattr(samizdat.mesh.link, "parse_event", counting)
    caplog.set_level(logging.INFO, logger="samizdat.mesh.link")
    burst = 50
    async with fake_peer(flooder(3000)) as url:
        a.local.add_peer(url, "manual", now=0)
        # A rate so low that after its burst no more events are due while the test runs.
        link = PeerLink(url, a.store, a.local, a.server.ingest_many, events_per_second=1e-6, events_burst=burst)
        async with running(link):
            await wait_until(lambda: link.failures >= 1, timeout=WAIT, what="the link to end with the peer")
    assert 0 < checked <= burst, f"{checked} forged events checked for a peer allowed {burst}"
    assert "invalid events from peer" in caplog.text
    assert await a.store.count([Filter()]) == 0


# -- a fake peer that takes every link and drops it at once ---------------------------------------------------------


async def test_a_peer_that_drops_every_link_at_once_is_retried_ever_less_often(
    pair: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each try costs a Negentropy set of the whole store (built before the first message): a peer that accepts
    the link and hangs up must not make the node build it every second for ever. Its failures add up (and show in
    `samizdat peers`), so the waits between tries grow to the cap."""
    a, _ = pair
    monkeypatch.setattr(samizdat.mesh.link, "BACKOFF_BASE", 0.01)  # the growth, not the waiting, is under test
    accepted = 0

    async def hang_up(connection: ServerConnection) -> None:
        nonlocal accepted
        accepted += 1
        await connection.recv()  # the live subscription's REQ: the link is up
        await connection.close()

    async with fake_peer(hang_up) as url:
        a.local.add_peer(url, "manual", now=0)
        async with running(PeerLink(url, a.store, a.local, a.server.ingest_many)) as link:
            await wait_until(lambda: accepted >= 5, timeout=WAIT, what="five tries")
            failures = link.failures
    row = a.local.peer(url)
    assert row is not None
    assert failures >= 4, "every try counted as a new first failure: the node retries at the shortest wait"
    assert row.failures >= 4
    assert row.last_error


# -- a fake peer that takes the link and then answers nothing --------------------------------------------------------


def trimmed(event: Event) -> Event:
    """``event`` with its cached JSON in a buffer of its own size. orjson 3.13 returns its bytes in the buffer it
    wrote them to, about 8 times larger (``Event.to_json`` caches that: reported to the core's owner); this test
    measures what the link keeps, not that."""
    object.__setattr__(event, "_json", bytes(memoryview(event.to_json())))
    return event


async def test_what_waits_for_a_peer_that_answers_nothing_is_bounded_in_bytes(pair: tuple[Side, Side]) -> None:
    """While a peer that took the link lets the reconciliation hang (up to SYNC_TIMEOUT), every event the node
    stores waits to be pushed to it. Large posts (a hostile neighbour can push them at its rate) must not all stay
    in memory: past a bound the link gives up queueing and reconciles later instead."""
    a, _ = pair

    async def silent(connection: ServerConnection) -> None:
        async for _ in connection:
            pass  # reads everything, answers nothing

    big = "я" * 60_000  # 120 kB of JSON each (and as much of text), within what the door admits
    offered = 400  # 96 MB
    async with fake_peer(silent) as url:
        a.local.add_peer(url, "manual", now=0)
        async with running(PeerLink(url, a.store, a.local, a.server.ingest_many)) as link:
            await wait_until(lambda: link.state == "syncing", timeout=WAIT, what="the link to be up")
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                for n in range(offered):
                    link.offer(trimmed(sign_event(KEY, 1, f"{n} {big}", [], created_at=1_700_000_000 + n)))
                held = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
            assert held < 32 * 2**20, f"{held / 2**20:.0f} MB held for a peer that answers nothing"
            assert link.state == "syncing", "the peer still holds the link"
            assert link.overflowed, "a reconciliation catches up on what did not fit"


# -- a device announcing a new address for itself whenever it may ---------------------------------------------------


async def test_a_device_that_keeps_moving_is_linked_with_at_a_bounded_rate(
    pair: tuple[Side, Side], caplog: pytest.LogCaptureFixture
) -> None:
    """Every new address is a new link whose first try reconciles (a Negentropy set of the whole store). The
    roster lets a device change its announcement twice a second; the node links with at most MAX_ANNOUNCED such
    peers at once, then one every 1 / LINK_RATE seconds, while a peer added by hand is linked at once."""
    a, _ = pair
    now = [1_000.0]
    tries: list[str] = []

    async def refused(url: str) -> RelayClient:
        tries.append(url)
        raise BrokenTransport(f"cannot connect to {url}: refused")

    caplog.set_level(logging.INFO, logger="samizdat.mesh.peers")
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(), clock=lambda: now[0], connect=refused)
    moves = 300
    async with running_mesh(mesh):
        for n in range(moves):  # 150 s of moving, as fast as the roster lets it
            now[0] += 1 / RESOLVE_RATE
            mesh._found(Sighting("mover", f"ws://10.42.0.9:{5000 + n}", "", hub=False))
            await wait_until(lambda: not mesh._changed.is_set(), timeout=WAIT, what="the peers looked at")
        linked = caplog.text.count("linking with peer ws://10.42.0.9")
        allowed = MAX_ANNOUNCED + moves / RESOLVE_RATE * LINK_RATE + 1
        assert linked <= allowed, f"{linked} links started for one device that moved {moves} times"
        assert "too many new peers announced lately" in caplog.text
        # A neighbour that arrives now waits its turn, but the device moving on cannot keep it waiting.
        neighbour = "ws://10.42.1.7:4848"
        mesh._found(Sighting("neighbour", neighbour, "", hub=False))
        for n in range(moves, moves + 4 * int(RESOLVE_RATE / LINK_RATE)):  # 20 s: 4 turns
            now[0] += 1 / RESOLVE_RATE
            mesh._found(Sighting("mover", f"ws://10.42.0.9:{5000 + n}", "", hub=False))
            await wait_until(lambda: not mesh._changed.is_set(), timeout=WAIT, what="the peers looked at")
        assert neighbour in mesh.links, "a neighbour was kept waiting by a device that moves"
        manual = "ws://10.42.0.200:4848"
        a.local.add_peer(manual, "manual", now[0])
        mesh._changed.set()
        await wait_until(lambda: manual in mesh.links, timeout=WAIT, what="the manual peer's link")


# -- a device claiming a linked neighbour's address ------------------------------------------------------------------


async def test_an_address_claimed_for_a_linked_neighbour_adds_a_link_and_the_real_one_stays(
    pair: tuple[Side, Side], caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone on the Wi-Fi can send an address record in a neighbour's host name; the neighbour's next resolve
    then gives the device's address. The node links there as well, never instead: posts keep crossing."""
    a, b = pair
    caplog.set_level(logging.INFO, logger="samizdat.mesh.peers")
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False))
    async with running_mesh(mesh):
        mesh._found(Sighting("neighbour", b.url, "", hub=False))
        await wait_until(lambda: b.url in mesh.links and mesh.links[b.url].state == "live", timeout=WAIT, what="link")
        claimed = "ws://127.0.0.1:9"  # the device's address: nothing answers there
        for _ in range(3):  # claimed again and again, as the device does after each real answer
            mesh._found(Sighting("neighbour", claimed, "", hub=False))
            await wait_until(lambda: claimed in mesh.links, timeout=WAIT, what="a link to the claimed address")
            mesh._found(Sighting("neighbour", b.url, "", hub=False))
        assert b.url in mesh.links, "the link to the real neighbour was never cut"
        assert mesh.links[b.url].state == "live"
        post = note("Water is off in blocks 3 to 9")
        await b.server.ingest_many([post])
        await wait_until(lambda: _stored(a, post), timeout=WAIT, what="the neighbour's post on the node")
        assert {p["url"] for p in mesh.snapshot()} == {b.url, claimed}
        assert "is also announced at ws://127.0.0.1:9" in caplog.text


async def _stored(side: Side, event: Event) -> bool:
    return bool(await side.store.has([event.id]))


@contextlib.asynccontextmanager
async def running_mesh(mesh: Mesh) -> AsyncIterator[Mesh]:
    task = asyncio.create_task(mesh.run())
    await asyncio.sleep(0)  # running: what discovery finds comes after this
    try:
        yield mesh
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- a device announcing as many made-up peers as there is room for -------------------------------------------------


async def test_a_neighbour_is_linked_and_its_posts_cross_despite_a_device_filling_the_room_with_fakes(
    pair: tuple[Side, Side],
) -> None:
    """One device announces MAX_ANNOUNCED made-up peers, each at an address of its own: at most of them nothing
    answers, at the others something takes the link and hangs up, and it announces them again and again. A
    neighbour that comes later used to wait for ever (first come, first served, and none of them ever went
    silent). Now it takes the place of the longest-failing fake once they have failed for FAILING_FOR seconds,
    is linked, its post crosses, and the device announcing its fakes again never pushes it out."""
    a, b = pair
    discovered = Discovered(a)
    now, mesh, roster = discovered.now, discovered.mesh, discovered.roster
    resolve, announce = discovered.resolve, discovered.announce

    def tick(sightings: dict[str, Sighting]) -> None:
        for name in roster.tick(now[0]).resolve:
            resolve(name, sightings[name])

    async def hang_up(connection: ServerConnection) -> None:
        await connection.recv()  # the live subscription's REQ: the link is up
        await connection.close()

    async with contextlib.AsyncExitStack() as stack:
        fakes: dict[str, Sighting] = {}
        for n in range(MAX_ANNOUNCED):
            if n % 4 == 0:  # something answers and hangs up, each at a loopback address of its own
                server = await stack.enter_async_context(serve(hang_up, f"127.0.1.{n + 1}", 0))
                url = f"ws://127.0.1.{n + 1}:{next(iter(server.sockets)).getsockname()[1]}"
            else:
                url = f"ws://127.0.2.{n + 1}:9"  # nothing answers
            fakes[f"samizdat-fake{n}"] = Sighting(f"fake{n}", url, "", False)
        neighbour = {"samizdat-neighbour": Sighting("neighbour", b.url, "", False)}
        everyone = fakes | neighbour
        await stack.enter_async_context(running_mesh(mesh))
        for name, sighting in fakes.items():
            announce(name, sighting)
        await wait_until(
            lambda: len(mesh.links) == MAX_ANNOUNCED and all(link.failures for link in mesh.links.values()),
            timeout=WAIT,
            what="every fake's link to fail",
        )
        announce("samizdat-neighbour", neighbour["samizdat-neighbour"])
        assert "neighbour" not in mesh.addresses.seen, "the fakes have not failed for long yet"

        for _ in range(12):  # 12 rounds of 10 s: the device announces its fakes (again) in each
            now[0] += 10.0
            for name, sighting in fakes.items():
                announce(name, sighting)
            roster.heard("samizdat-neighbour", now[0])  # it answers questions
            tick(everyone)
            await wait_until(lambda: not mesh._changed.is_set(), timeout=WAIT, what="the peers looked at")
            if b.url in mesh.links:
                break
        assert "neighbour" in mesh.addresses.seen, "the neighbour took the place of a fake that does not work"
        await wait_until(lambda: mesh.links[b.url].state == "live", timeout=WAIT, what="the neighbour's link")
        post = note("Bread at the school at 4")
        await b.server.ingest_many([post])
        await wait_until(lambda: _stored(a, post), timeout=WAIT, what="the neighbour's post on the node")

        for _ in range(30):  # five more minutes of the device announcing every fake, pushed out or not
            now[0] += 10.0
            for name, sighting in fakes.items():
                announce(name, sighting)
            roster.heard("samizdat-neighbour", now[0])
            tick(everyone)
            await wait_until(lambda: not mesh._changed.is_set(), timeout=WAIT, what="the peers looked at")
            assert b.url in mesh.links, "a fake pushed out the neighbour, whose link works"
            assert len(roster.kept) <= MAX_ANNOUNCED
            assert len(mesh.addresses.seen) <= MAX_ANNOUNCED
        assert mesh.links[b.url].state == "live"
        later = note("Water at the mosque", created_at=1_700_000_100)
        await b.server.ingest_many([later])
        await wait_until(lambda: _stored(a, later), timeout=WAIT, what="a later post on the node")


async def test_peers_that_never_worked_make_room_in_both_tables(pair: tuple[Side, Side]) -> None:
    """The addresses table lets a peer that does not work go when a newcomer needs its room; the roster, which may
    still keep that peer's announcement, is then told to let it go first, so the two tables agree again."""
    a, _ = pair
    now = [time.time()]

    async def refused(url: str) -> RelayClient:
        raise BrokenTransport(f"cannot connect to {url}: refused")

    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(), clock=lambda: now[0], connect=refused)
    async with running_mesh(mesh):
        for n in range(MAX_ANNOUNCED):
            mesh._found(Sighting(f"fake{n}", f"ws://10.42.2.{n + 2}:4848", "", hub=False))
        await wait_until(
            lambda: len(mesh.links) == MAX_ANNOUNCED and all(link.failures for link in mesh.links.values()),
            timeout=WAIT,
            what="every fake's link to fail",
        )
        assert mesh.replaceable() == [], "failing, but not for long yet"
        newcomer = Sighting("neighbour", "ws://10.42.0.7:4848", "", hub=False)
        mesh._found(newcomer)
        assert "neighbour" not in mesh.addresses.seen
        now[0] += FAILING_FOR
        assert len(mesh.replaceable()) == MAX_ANNOUNCED
        mesh._found(newcomer)
        assert "neighbour" in mesh.addresses.seen
        gone = next(i for i in (f"fake{n}" for n in range(MAX_ANNOUNCED)) if i not in mesh.addresses.seen)
        assert mesh.replaceable()[0] == gone, "the roster lets it go first"
        assert "neighbour" not in mesh.replaceable()
        mesh._lost(gone)
        assert gone not in mesh.replaceable()
