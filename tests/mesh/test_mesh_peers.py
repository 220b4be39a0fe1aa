"""The peer manager: which side of a pair connects, and the passive side's one-off pull."""

from __future__ import annotations

from mesh_helpers import WAIT, Side, note

from samizdat.core.event import Event
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
