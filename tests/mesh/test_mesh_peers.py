"""The peer manager: which side of a pair connects, the passive side's one-off pull, and how little of a peer that
was only announced outlives its announcement."""

from __future__ import annotations

import asyncio
import contextlib

from mesh_helpers import WAIT, Side, note

from samizdat.core.event import Event
from samizdat.mesh.announcements import MAX_ANNOUNCED, MAX_PEER_ADDRESSES
from samizdat.mesh.discovery import Sighting
from samizdat.mesh.peers import Mesh, MeshOptions
from samizdat.testing import wait_until


async def test_the_passive_side_pulls_once_instead_of_waiting_for_the_paced_upload(pair: tuple[Side, Side]) -> None:
    a, b = pair
    theirs = [note(f"b{i}") for i in range(300)]
    await b.store.add_many(theirs)
    # We announce too and our instance id is larger, so the peer will connect to us: we stay passive...
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=True, instance="ffff"))
    mesh._found(Sighting("0000", b.url, "", hub=False))
    row = a.local.peer(b.url)
    assert row is not None
    assert row.state == "passive"
    assert mesh._wanted() == set(), "the passive side must not open a link of its own"
    # ...but fetches what the peer has, by id, at once.
    await wait_until(lambda: _has_all(a, theirs), timeout=WAIT, what="the pull")
    await wait_until(lambda: (a.local.peer(b.url) or row).events_in == 300, timeout=WAIT, what="the counters")
    await wait_until(lambda: all(t.done() for t in mesh._pulls.values()), timeout=WAIT, what="the pull's end")
    # Seen again soon after: no second pull.
    mesh._found(Sighting("0000", b.url, "", hub=False))
    assert not any(not t.done() for t in mesh._pulls.values())


async def _has_all(side: Side, events: list[Event]) -> bool:
    return len(await side.store.has([e.id for e in events])) == len(events)


async def test_a_node_that_does_not_announce_always_connects(pair: tuple[Side, Side]) -> None:
    a, b = pair
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False, instance="ffff"))
    mesh._found(Sighting("0000", b.url, "", hub=False))
    assert mesh._wanted() == {b.url}
    assert mesh._pulls == {}


# -- peers that were only announced --------------------------------------------------------------------------------


def announced(instance: str, url: str, name: str = "") -> Sighting:
    return Sighting(instance, url, name, hub=bool(name))


async def test_a_linked_peer_that_stops_announcing_is_unlinked_and_forgotten(pair: tuple[Side, Side]) -> None:
    a, b = pair
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False))
    running = asyncio.create_task(mesh.run())
    await asyncio.sleep(0)  # running: what discovery finds comes after this
    try:
        mesh._found(announced("b0", b.url, "Block 7 hub"))
        await wait_until(lambda: [p["state"] for p in mesh.snapshot()] == ["live"], timeout=WAIT, what="the link")
        (shown,) = mesh.snapshot()
        assert (shown["name"], shown["name_verified"]) == ("Block 7 hub", False)
        mesh._lost("b0")
        await wait_until(lambda: not mesh.links, timeout=WAIT, what="the link stopping")
        assert mesh.snapshot() == []
        assert a.local.peers() == []
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_peer_added_by_hand_stays_but_loses_the_name_it_announced(pair: tuple[Side, Side]) -> None:
    a, b = pair
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False))
    a.local.add_peer(b.url, "manual", 1.0)
    mesh._found(announced("b0", b.url, "Totally the real hub"))
    assert [(p["source"], p["name"], p["name_verified"]) for p in mesh.snapshot()] == [
        ("manual", "Totally the real hub", False)
    ]
    mesh._lost("b0")
    assert [(p["url"], p["source"], p["name"]) for p in mesh.snapshot()] == [(b.url, "manual", "")]


async def test_an_announcement_that_moves_leaves_a_bounded_trail_and_nothing_once_lost(pair: tuple[Side, Side]) -> None:
    """A new address is linked as well as the old, never instead (anyone can claim a node's host name), so an
    instance id announced at a new address every time keeps its first and at most MAX_PEER_ADDRESSES in all."""
    a, _ = pair
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False))
    for port in range(5000, 5100):  # one instance id, a new address every time
        mesh._found(announced("mover", f"ws://10.42.0.9:{port}"))
    kept = [f"ws://10.42.0.9:{port}" for port in range(5000, 5000 + MAX_PEER_ADDRESSES)]
    assert sorted(p.url for p in a.local.peers()) == kept
    assert mesh._wanted() == set(kept)
    mesh._lost("mover")
    assert a.local.peers() == []
    assert mesh._wanted() == set()


async def test_one_address_announced_twice_stays_while_either_announces(pair: tuple[Side, Side]) -> None:
    a, b = pair
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=True, instance="5555"))
    mesh._found(announced("9999", b.url))  # we connect to this one
    mesh._found(announced("1111", b.url))  # and would wait for this one: any reason to connect wins
    assert mesh._wanted() == {b.url}
    row = a.local.peer(b.url)
    assert row is not None
    assert row.state != "passive"
    mesh._lost("9999")
    assert a.local.peer(b.url) is not None
    assert mesh._wanted() == set()
    mesh._lost("1111")
    assert a.local.peer(b.url) is None


async def test_the_number_of_announced_peers_kept_is_bounded(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False))
    for n in range(MAX_ANNOUNCED + 50):
        mesh._found(announced(f"i{n}", f"ws://10.42.{n // 200}.{n % 200 + 2}:4848"))
    assert len(a.local.peers()) == MAX_ANNOUNCED
    assert len(mesh._wanted()) == MAX_ANNOUNCED
    mesh._lost("i0")
    mesh._found(announced("late", "ws://10.42.9.9:4848"))
    assert a.local.peer("ws://10.42.9.9:4848") is not None


async def test_announced_peers_of_an_earlier_run_are_forgotten(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    a.local.add_peer("ws://10.42.0.5:4848", "mdns", 1.0, name="seen yesterday")  # the node crashed with these
    a.local.add_peer("ws://10.42.0.6:4848", "manual", 1.0)
    a.local.update_peer("ws://10.42.0.6:4848", state="live")
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False))
    running = asyncio.create_task(mesh.run())
    try:
        await wait_until(lambda: len(a.local.peers()) == 1, timeout=WAIT, what="forgetting yesterday's announcements")
        mesh._found(announced("today", "ws://10.42.0.7:4848"))
        assert len(a.local.peers()) == 2
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    # Stopped: nobody is heard any more. What was added by hand stays.
    assert [(p.url, p.source) for p in a.local.peers()] == [("ws://10.42.0.6:4848", "manual")]


async def test_what_a_peer_says_about_itself_is_stored_cut(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    url = "ws://10.42.0.5:4848"
    a.local.add_peer(url, "mdns", 1.0, name="n" * 200_000)
    a.local.update_peer(url, last_error="e" * 200_000, name="m" * 200_000)
    row = a.local.peer(url)
    assert row is not None
    assert (len(row.name), len(row.last_error)) == (60, 300)
    assert row.name_verified is False
