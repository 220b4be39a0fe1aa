"""A device on the Wi-Fi fills the room with made-up nodes that really answer (a relay with an empty store
finishes every reconciliation), so none of them fails. The roster's side with an injected clock, then the mesh
on real sockets: 64 addresses on 127.0.1.x, each forwarded to one empty relay."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from mesh_helpers import WAIT, Discovered, Side, note, running
from test_hostile_lan import running_mesh

from samizdat.mesh.announcements import MAX_ANNOUNCED, Roster, Sighting
from samizdat.mesh.link import PeerLink
from samizdat.mesh.peers import Mesh, MeshOptions
from samizdat.mesh.room import QUIET_FOR, RESERVED, USEFUL_FOR, Track, replaceable
from samizdat.relay.negentropy import NegentropyService
from samizdat.testing import running_relay, wait_until

# -- the roster's side, with an injected clock --------------------------------------------------------------------


class Links:
    """The mesh's side as the roster sees it: every kept node's link finishes its first reconciliation when the
    node is kept (whoever answers), and brings something new only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.tracks: dict[str, Track] = {}

    def replaceable(self) -> list[str]:
        return replaceable({i: [t] for i, t in self.tracks.items()}, self.now)

    def keep(self, roster: Roster) -> None:
        """Links to newly kept nodes work now; links to nodes let go are gone."""
        kept = {s.instance for s in roster.kept.values()}
        self.tracks = {i: t for i, t in self.tracks.items() if i in kept}
        for instance in kept - self.tracks.keys():
            self.tracks[instance] = Track(None, self.now, None)

    def brought(self, instance: str) -> None:
        track = self.tracks[instance]
        self.tracks[instance] = Track(track.failing_since, track.worked_since, self.now)


def fake(name: str, n: int) -> Sighting:
    """A made-up node: 4 at each address (as many as one address may hold), 16 addresses and more."""
    return Sighting(name, f"ws://10.42.{1 + n // 1000}.{(n // 4) % 250 + 2}:{4848 + n % 4}", "", False)


NEIGHBOUR = Sighting("neighbour", "ws://10.42.0.7:4848", "", False)


def announce(roster: Roster, name: str, found: Sighting, now: float) -> None:
    roster.heard(name, now)
    if roster.wanted(name, now):
        roster.resolved(name, found, now)


def step(roster: Roster, links: Links, everyone: dict[str, Sighting]) -> None:
    for name in roster.tick(links.now).resolve:
        roster.resolved(name, everyone[name], links.now)
    links.keep(roster)


def full_of_answering_fakes(links: Links) -> tuple[Roster, dict[str, Sighting]]:
    roster = Roster(replaceable=links.replaceable)
    fakes = {f"fake{n}": fake(f"fake{n}", n) for n in range(MAX_ANNOUNCED)}
    for name, sighting in fakes.items():
        announce(roster, name, sighting, links.now)
    links.keep(roster)
    assert len(roster.kept) == MAX_ANNOUNCED
    return roster, fakes


def test_made_up_nodes_that_answer_and_bring_nothing_make_room_for_a_neighbour_within_quiet_for() -> None:
    links = Links()
    roster, fakes = full_of_answering_fakes(links)
    everyone = {**fakes, "neighbour": NEIGHBOUR}
    links.now = 60.0
    announce(roster, "neighbour", NEIGHBOUR, links.now)
    assert "neighbour" not in roster.kept, "every link works: no room yet"
    arrived = None
    while links.now < 3 * QUIET_FOR and arrived is None:
        links.now += 10.0
        for name, sighting in fakes.items():  # the device announces every one of them, pushed out or not
            announce(roster, name, sighting, links.now)
        roster.heard("neighbour", links.now)  # it answers questions
        step(roster, links, everyone)
        if "neighbour" in roster.kept:
            arrived = links.now
        else:
            assert set(roster.kept) == set(fakes), "nothing churns before a node has been quiet for QUIET_FOR"
    assert arrived is not None, "the neighbour was never let in"
    assert QUIET_FOR <= arrived <= QUIET_FOR + 60.0, "let in within a minute of the made-up nodes being quiet"
    assert len(roster.kept) == MAX_ANNOUNCED


def test_a_neighbour_that_brought_news_keeps_its_place_against_newcomers_for_hours() -> None:
    links = Links()
    roster = Roster(replaceable=links.replaceable)
    announce(roster, "neighbour", NEIGHBOUR, links.now)
    links.keep(roster)
    links.now = 1.0
    links.brought("neighbour")  # its posts were new here; nothing since
    fakes = {f"fake{n}": fake(f"fake{n}", n) for n in range(MAX_ANNOUNCED - 1)}
    for name, sighting in fakes.items():
        announce(roster, name, sighting, links.now)
    links.keep(roster)
    everyone = {**fakes, "neighbour": NEIGHBOUR}
    let_in = 0
    for minute in range(1, 5 * 60):  # five hours, 64 new made-up nodes every minute
        links.now = 60.0 * minute
        batch = {f"new{minute}-{n}": fake(f"new{minute}-{n}", 64 * minute + n) for n in range(MAX_ANNOUNCED)}
        everyone.update(batch)
        for name, sighting in batch.items():
            announce(roster, name, sighting, links.now)
        roster.heard("neighbour", links.now)
        for name in roster.kept:
            roster.heard(name, links.now)
        step(roster, links, everyone)
        let_in += sum(1 for name in batch if name in roster.kept)
        assert "neighbour" in roster.kept, f"pushed out at minute {minute}"
        assert len(roster.kept) <= MAX_ANNOUNCED
    assert USEFUL_FOR > links.now, "within the hours its news keeps its place"
    assert let_in > MAX_ANNOUNCED, "the rest of the room turned over all along"


def test_two_quiet_neighbours_are_never_named_while_there_is_room() -> None:
    links = Links()
    roster = Roster(replaceable=links.replaceable)
    announce(roster, "neighbour", NEIGHBOUR, 0.0)
    links.keep(roster)
    for hour in range(1, 25):
        links.now = 3600.0 * hour
        roster.heard("neighbour", links.now)
        roster.tick(links.now)
        assert links.replaceable() == ["neighbour"], "quiet for long: it would make room if there were none"
        assert "neighbour" in roster.kept, "but there is room, so nothing is let go"


def test_the_reserved_part_is_half_the_room_and_the_most_recent_news_keeps_it() -> None:
    now = 10_000.0
    tracks = {f"n{k}": [Track(None, 0.0, 1_000.0 + k)] for k in range(MAX_ANNOUNCED)}  # all brought once
    order = replaceable(tracks, now)
    assert len(order) == MAX_ANNOUNCED - RESERVED
    assert order == [f"n{k}" for k in range(MAX_ANNOUNCED - RESERVED)], "the least lately useful first"
    tracks["never"] = [Track(None, 50.0, None)]
    tracks["failing"] = [Track(now - 3600, None, None)]
    tracks["new"] = [Track(now - 1, None, None)]  # trying: its chance first
    tracks["fresh"] = [Track(None, now - 10, None)]  # worked lately
    order = replaceable(tracks, now)
    assert order[:2] == ["failing", "never"], "one that does not work, then one that never brought anything"
    assert "new" not in order
    assert "fresh" not in order


# -- the mesh on real sockets ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def forwarded(port: int, hosts: list[str]) -> AsyncIterator[tuple[list[str], Callable[[], None]]]:
    """A TCP listener at each of ``hosts`` that forwards every connection to 127.0.0.1:``port``: one relay
    answering at many addresses, as a device does with the addresses it owns. Yields their ws:// URLs and a
    function that cuts every connection open now."""
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            to_reader, to_writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.gather(pipe(reader, to_writer), pipe(to_reader, writer))
        finally:
            writer.close()
            tasks.discard(task)

    def cut() -> None:
        for task in list(tasks):
            task.cancel()

    servers = [await asyncio.start_server(handle, host, 0) for host in hosts]
    try:
        ports = [server.sockets[0].getsockname()[1] for server in servers]
        yield [f"ws://{host}:{port}" for host, port in zip(hosts, ports, strict=True)], cut
    finally:
        for server in servers:
            server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            await server.wait_closed()


async def _stored(side: Side, event_id: str) -> bool:
    return bool(await side.store.has([event_id]))


async def test_a_neighbour_gets_a_place_among_made_up_nodes_that_answer_and_its_posts_cross_both_ways(
    pair: tuple[Side, Side], tmp_path: Path
) -> None:
    """64 made-up nodes, each at an address of its own, all answered by one relay with an empty store: every
    link finishes its reconciliation and brings nothing. A neighbour that comes later used to wait for ever (a
    node whose link works was never pushed out); now it takes the place of one that has been quiet for
    QUIET_FOR, its posts cross both ways, and once it has brought them a device announcing its made-up nodes
    again and again does not push it out."""
    a, b = pair
    discovered = Discovered(a)
    now, mesh, roster = discovered.now, discovered.mesh, discovered.roster
    resolve, announce_to_mesh = discovered.resolve, discovered.announce

    async def round_of(seconds: float, everyone: dict[str, Sighting], fakes: dict[str, Sighting]) -> None:
        now[0] += seconds
        for name, sighting in fakes.items():
            announce_to_mesh(name, sighting)
        roster.heard("samizdat-neighbour", now[0])  # it answers questions
        for name in roster.tick(now[0]).resolve:
            resolve(name, everyone[name])
        await wait_until(lambda: not mesh._changed.is_set(), timeout=WAIT, what="the peers looked at")
        await wait_until(
            lambda: all(link.state in ("live", "backoff") for link in mesh.links.values()),
            timeout=WAIT,
            what="every link to finish its reconciliation",
        )

    async with (
        running_relay(tmp_path / "device", negentropy=NegentropyService()) as empty,
        forwarded(empty.port, [f"127.0.1.{n + 1}" for n in range(MAX_ANNOUNCED)]) as (urls, _),
        running_mesh(mesh),
    ):
        fakes = {f"samizdat-fake{n}": Sighting(f"fake{n}", url, "", False) for n, url in enumerate(urls)}
        neighbour = {"samizdat-neighbour": Sighting("neighbour", b.url, "", False)}
        everyone = fakes | neighbour
        for name, sighting in fakes.items():
            announce_to_mesh(name, sighting)
        await wait_until(
            lambda: len(mesh.links) == MAX_ANNOUNCED and all(link.state == "live" for link in mesh.links.values()),
            timeout=WAIT,
            what="every made-up node's link to work",
        )
        announce_to_mesh("samizdat-neighbour", neighbour["samizdat-neighbour"])
        assert "neighbour" not in mesh.addresses.seen, "every link works: no room yet"

        waited = 0.0
        while b.url not in mesh.links and waited <= QUIET_FOR + 60.0:
            await round_of(30.0, everyone, fakes)
            waited += 30.0
        assert b.url in mesh.links, "the neighbour took the place of a made-up node that brought nothing"
        assert waited >= QUIET_FOR - 30.0, "no made-up node that works was let go before it was quiet for long"
        assert len(mesh.links) <= MAX_ANNOUNCED
        await wait_until(lambda: mesh.links[b.url].state == "live", timeout=WAIT, what="the neighbour's link")
        post = note("Bread at the school at 4")
        await b.server.ingest_many([post])
        await wait_until(lambda: _stored(a, post.id), timeout=WAIT, what="the neighbour's post on the node")
        back = note("Water at the mosque", created_at=1_700_000_050)
        await a.server.ingest_many([back])
        mesh.offer(back)
        await wait_until(lambda: _stored(b, back.id), timeout=WAIT, what="the node's post on the neighbour")

        for _ in range(12):  # an hour more of the device announcing every made-up node, pushed out or not
            await round_of(300.0, everyone, fakes)
            assert b.url in mesh.links, "a made-up node pushed out the neighbour, who brought news"
            assert len(roster.kept) <= MAX_ANNOUNCED
            assert len(mesh.addresses.seen) <= MAX_ANNOUNCED
        later = note("The pharmacy on Lenina is open", created_at=1_700_000_100)
        await b.server.ingest_many([later])
        await wait_until(lambda: _stored(a, later.id), timeout=WAIT, what="a later post on the node")


async def test_two_quiet_nodes_keep_their_link_for_hours(pair: tuple[Side, Side]) -> None:
    """Two real nodes with nothing new to say to each other, on a LAN of their own: the link stays up, the same
    one, through a day of simulated time, and a post made at the end still crosses."""
    a, b = pair
    now = [time.time()]
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False), clock=lambda: now[0])
    roster = Roster(replaceable=mesh.replaceable)
    async with running_mesh(mesh):
        sighting = Sighting("neighbour", b.url, "", False)
        roster.heard("samizdat-neighbour", now[0])
        assert roster.wanted("samizdat-neighbour", now[0])
        found, _ = roster.resolved("samizdat-neighbour", sighting, now[0])
        assert found is not None
        mesh._found(found)
        await wait_until(lambda: b.url in mesh.links, timeout=WAIT, what="the link")
        await wait_until(lambda: mesh.links[b.url].state == "live", timeout=WAIT, what="the link to work")
        link = mesh.links[b.url]
        for _ in range(24):
            now[0] += 3600.0
            roster.heard("samizdat-neighbour", now[0])
            assert roster.tick(now[0]).lost == []
            assert mesh.links.get(b.url) is link, "the same link, never restarted"
            assert link.state == "live"
        post = note("Still here")
        await b.server.ingest_many([post])
        await wait_until(lambda: _stored(a, post.id), timeout=WAIT, what="the post across the quiet link")


async def test_a_peer_that_reconciles_and_hangs_up_at_once_is_retried_ever_less_often(
    pair: tuple[Side, Side], tmp_path: Path
) -> None:
    """A made-up node that answers: each link finishes its reconciliation (with an empty store) and the device
    hangs up at once. A finished reconciliation used to end the run of failures, so the link was tried again every
    second, each try building a Negentropy set of the whole store; a session shorter than STEADY_FOR now does not
    end it, and the link backs off ever longer."""
    a, _ = pair
    async with (
        running_relay(tmp_path / "device", negentropy=NegentropyService()) as empty,
        forwarded(empty.port, ["127.0.1.200"]) as ([url], cut),
    ):
        link = PeerLink(url, a.store, a.local, a.server.ingest_many)
        async with running(link):
            for drop in range(1, 4):
                await wait_until(lambda: link.state == "live", timeout=WAIT, what="the reconciliation to finish")
                cut()
                await wait_until(lambda: link.state == "backoff", timeout=WAIT, what="the link to notice")
                assert link.failures == drop, "a session that ends at once does not end the run of failures"
