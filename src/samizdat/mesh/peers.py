"""The node's peers: who is around, which links to keep, and what `samizdat peers` and the web app show.

Peers come from two places: mDNS sightings on the LAN (:mod:`samizdat.mesh.discovery`) and the ``peers`` table
in ``local.sqlite``, where ``samizdat peers add`` puts manual ones (the running node reads the table every few
seconds, so a peer added from another terminal is linked at once). Each peer gets one :class:`PeerLink`.

Between two nodes that both announce, only one link is needed: the node with the smaller instance id connects,
the other stays ``passive`` and serves it like any relay client. A node that does not announce (it listens on
loopback only) always connects itself.

A peer that was only announced is only as real as its announcement: it is forgotten (its row too) when it stops
announcing, when the node stops, and at the next start after a crash; at most ``MAX_ANNOUNCED`` are kept at once
(:mod:`samizdat.mesh.announcements`), and what they call themselves is shown as unverified (``name_verified``).
A first link (or pull) with an announced peer reconciles, which builds a Negentropy set of the whole store, and a
device on the Wi-Fi can announce a new address every half second: once ``MAX_ANNOUNCED`` are spent, announced
peers are newly linked with at most ``LINK_RATE`` times a second (manual peers at once).

An announced peer's address is a claim as well: anyone on the Wi-Fi can claim a peer's host name with an address
of their own. So each (peer, address) pair it was announced at is linked on its own, and a new address is linked
as well as the old, never instead of it (:class:`samizdat.mesh.announcements.Addresses`): a device that claims a
neighbour's address adds a link to itself, and the link to the real neighbour stays.

First come first served would let a device that announces ``MAX_ANNOUNCED`` made-up peers (where nothing answers,
or something answers and hangs up) keep every real neighbour out for as long as it keeps announcing them. So when
there is no room, a newcomer takes the place of an announced peer none of whose links (or pulls, when it links to
us) has worked for ``FAILING_FOR`` seconds, the longest failing first (:meth:`Mesh.replaceable`, which the
roster and :class:`samizdat.mesh.announcements.Addresses` both ask); one not tried yet keeps its place.

A device can also make its peers really answer (a relay with an empty store completes every reconciliation), so
a working link is not enough either: each link (and pull) notes when the peer last brought an event that was new
here, and a peer that works but has brought nothing new for a while makes room too, except those that brought
something lately, up to half the room (:mod:`samizdat.mesh.room`). This is in memory only: nothing on disk says
which neighbours were met, or what each brought.

Lines about links and pulls (failed, synced, pulled, waiting) are written at most once a minute of each kind in
all, with a count of those left out (:mod:`samizdat.mesh.say`): 64 made-up peers failing every second would write
a line each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samizdat.core.event import Event
from samizdat.errors import SamizdatError
from samizdat.mesh.announcements import MAX_ANNOUNCED, Addresses
from samizdat.mesh.discovery import Discovery, Sighting
from samizdat.mesh.hiding import hiding
from samizdat.mesh.link import CONNECT_TIMEOUT, SYNC_TIMEOUT, PeerLink, Valued, brings_news
from samizdat.mesh.room import QUIET_FOR, Track
from samizdat.mesh.room import replaceable as room_to_make
from samizdat.mesh.say import Say
from samizdat.mesh.uploads import PeerUploads
from samizdat.net.client import RelayClient
from samizdat.net.sync import Ingest, Unwanted, sync
from samizdat.store.base import AddOutcome, Store
from samizdat.store.local import LocalState

log = logging.getLogger(__name__)

POLL_INTERVAL = 2.0
#: A passive node (the peer connects to it) also pulls once from the peer when it sees it, at most this often: the
#: connecting side uploads at the receiving relay's event rate, while a download by id is not paced.
PULL_INTERVAL = 300.0
#: New links to (and pulls from) announced peers per second, once a first MAX_ANNOUNCED are spent: a hub's Wi-Fi
#: gains a node every few seconds at most, while a device announcing a new address or name whenever it may
#: (announcements.RESOLVE_RATE, twice a second) would otherwise make the node build its whole Negentropy set as often.
LINK_RATE = 0.2


@dataclass
class MeshOptions:
    """How the node takes part in the LAN."""

    discover: bool = False  # mDNS: announce (if listening on the LAN) and browse
    announce: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    hub: bool = False
    name: str = ""
    instance: str = field(default_factory=lambda: secrets.token_hex(8))
    events_per_second: float = 1000.0  # per peer link, for what its live subscription delivers
    quiet_for: float = QUIET_FOR  # ``[lan] quiet_for``: see samizdat.mesh.room


def _fault(exc: BaseException | None) -> None:
    """A link that ended on a bug, at ERROR: the exception's type and the line that raised it, not its message,
    which may hold the peer's LAN address or an event of its (the log is plain; -v says the rest)."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc is not None else []
    at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
    log.error("a peer link stopped on a fault of ours: %s%s (-v names the peer and says more)",
              type(exc).__name__, at)  # fmt: skip


class Mesh:
    def __init__(
        self,
        store: Store,
        local: LocalState,
        ingest: Ingest,
        options: MeshOptions,
        *,
        unwanted: Unwanted | None = None,
        clock: Callable[[], float] = time.time,
        connect: Callable[[str], Awaitable[RelayClient]] | None = None,
        valued: Valued | None = None,
        hidden: Callable[[], frozenset[bytes]] | None = None,
    ) -> None:
        self.store = store
        #: The node's own new events held back from the LAN (relay/embargo.py): links' reconciliations skip them.
        self.hidden = hidden
        #: Told the ids each link's peer took of what it pushed (the held event is out once its neighbour has it).
        self.taken: Callable[[list[str]], None] | None = None
        #: Which new events count as news a peer brought (None: all; mesh/link.py Valued).
        self.valued = valued
        self.local = local
        self.ingest = ingest
        self.options = options
        self.unwanted = unwanted
        self.clock = clock
        #: How to reach a peer: directly by default; through the node's proxy when one is set (no leak past it).
        self.connect = connect or (lambda url: RelayClient.connect(url, timeout=CONNECT_TIMEOUT))
        self.links: dict[str, PeerLink] = {}
        #: What each peer acknowledged, and which lose it, for all links (mesh/uploads.py): in memory only.
        self.uploads = PeerUploads()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Where each announced peer was seen, each address its own link (an announcement adds an address to a
        #: peer, never moves it: see announcements.Addresses).
        self.addresses = Addresses()
        self.discovery: Discovery | None = None
        self._changed = asyncio.Event()
        self._pulls: dict[str, asyncio.Task[None]] = {}
        self._last_pull: dict[str, float] = {}
        self._starts = float(MAX_ANNOUNCED)  # tokens for new links with announced peers (LINK_RATE)
        self._starts_at: float | None = None
        #: Announced peers waiting for a token, first come first served: a device that keeps announcing new
        #: addresses must not starve a neighbour that waits (said once each in the log).
        self._waiting: dict[str, None] = {}
        #: Since when pulling from a peer that links to us has failed (until one works, or the peer goes).
        self._pull_failed: dict[str, float] = {}
        #: When pulling from a peer that links to us first worked, and when a pull last brought something new.
        self._pulled: dict[str, tuple[float | None, float | None]] = {}
        #: Log lines about peers, one of each kind a minute in all (a device's made-up peers come and go, fail
        #: and reconcile as often as it likes).
        self.say = Say(log, clock)
        #: Peers whose addresses were let go to make room while the roster still keeps their announcement: they
        #: have no link at all, so they are the first the roster lets go (the two tables then agree again).
        self._evicted: dict[str, None] = {}

    # -- fed by the node ---------------------------------------------------------------------------------------

    def offer(self, event: Event, only: frozenset[str] | None = None) -> None:
        """Every event the node stores: each live link pushes it on (except to where it came from); with
        ``only``, just the links to those URLs (the node's own new event, to the neighbour that serves it first)."""
        for url, link in self.links.items():
            if only is None or url in only:
                link.offer(event)

    def _taken(self, ids: list[str]) -> None:
        if self.taken is not None:
            self.taken(ids)

    def pushing(self) -> bool:
        """Whether a link takes the events this node stores now (:meth:`PeerLink.offer`: syncing or live)."""
        return any(link.state in ("syncing", "live") for link in self.links.values())

    def live_links(self) -> list[str]:
        """The URLs of the links that push now (reconciled, connected)."""
        return [url for url, link in self.links.items() if link.state == "live"]

    def snapshot(self) -> list[dict[str, Any]]:
        """Known peers for `samizdat peers`, the status page and the web app."""
        rows = []
        for row in self.local.peers():
            link = self.links.get(row.url)
            rows.append(
                {
                    "url": row.url,
                    "name": row.name,
                    "name_verified": row.name_verified,
                    "source": row.source,
                    "state": link.state if link else row.state,
                    "last_seen": row.last_seen,
                    "last_sync": row.last_sync,
                    "events_in": row.events_in,
                    "events_out": row.events_out,
                    "bytes_in": row.bytes_in,
                    "bytes_out": row.bytes_out,
                    "failures": row.failures,
                    "last_error": row.last_error,
                }
            )
        return rows

    # -- running -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        # Peers of a previous run that were only announced are nobody's now; manual ones wait for their link.
        self.local.forget_announced()
        for row in self.local.peers():
            if row.state != "new":
                self.local.update_peer(row.url, state="new")
        try:
            await self._run()
        finally:
            self.local.forget_announced()  # we no longer hear anyone

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            if self.options.discover:
                self.discovery = Discovery(
                    self.options.instance,
                    self.options.port,
                    host=self.options.host,
                    announce=self.options.announce,
                    hub=self.options.hub,
                    name=self.options.name,
                    on_found=self._found,
                    on_lost=self._lost,
                    replaceable=self.replaceable,
                )
                group.create_task(self._watch_discovery(self.discovery), name="mdns")
            group.create_task(self._supervise(), name="peers")

    async def _watch_discovery(self, discovery: Discovery) -> None:
        restarts = 0
        task = asyncio.create_task(discovery.run())
        try:
            while not task.done():
                await asyncio.sleep(0.5)
                if discovery.restarts != restarts:  # the network changed: try every peer again now, and
                    restarts = discovery.restarts  # reconcile on links whose connection survived the change
                    for link in self.links.values():
                        link.failures = 0
                        if link.failing_since is not None:  # a new network: a fresh chance to work
                            link.failing_since = self.clock()
                        link.wake.set()
                        link.resync.set()
            await task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _initiates(self, sighting: Sighting) -> bool:
        # The id announced now: the discovery takes a new one on every network change.
        own = self.discovery.instance if self.discovery is not None else self.options.instance
        return not self.options.announce or own < sighting.instance

    def replaceable(self) -> list[str]:
        """Instance ids of announced peers that may make room for a newcomer, the first to go first: those whose
        addresses were already let go to make room (the roster may still keep them), then those that do not work
        or bring nothing new (:func:`samizdat.mesh.room.replaceable`: every address's link, or pulls when it links
        to us, failing for ``FAILING_FOR`` seconds; or working without bringing a new event for ``QUIET_FOR``,
        bar the ``RESERVED`` that brought something most lately). A peer with an address not tried yet, or not
        failing for long, is not one of them."""
        tracks = {instance: [self._track(url) for url in urls] for instance, urls in self.addresses.seen.items()}
        return [*self._evicted, *room_to_make(tracks, self.clock(), quiet_for=self.options.quiet_for)]

    def _track(self, url: str) -> Track:
        link = self.links.get(url)
        if link is not None:
            return Track(link.failing_since, link.worked_since, link.brought_at)
        worked, brought = self._pulled.get(url, (None, None))
        return Track(self._pull_failed.get(url), worked, brought)

    def _found(self, sighting: Sighting) -> None:
        first = self.addresses.first(sighting.instance)
        failed = {url for url, link in self.links.items() if link.failures}
        replaceable = self.replaceable()
        known = set(self.addresses.seen)
        kept, dropped = self.addresses.add(sighting, failed=failed, replaceable=replaceable)
        for url in dropped:
            self._forget(url)
        for instance in known - self.addresses.seen.keys():
            self.say(
                "replaced",
                "peer %s brought nothing new for long: %s took its place",
                instance,
                sighting.url,
            )
            self._evicted[instance] = None
            while len(self._evicted) > MAX_ANNOUNCED:
                del self._evicted[next(iter(self._evicted))]
        if kept:
            self._evicted.pop(sighting.instance, None)
        if not kept:
            self.say("no room", "ignoring %s: no room for more announced peers or addresses", sighting.url)
            return
        if first is not None and first != sighting.url:
            # Anyone on the Wi-Fi can claim a peer's host name: the new address is linked as well, never instead.
            log.info("peer %s is also announced at %s: linking there too", first, sighting.url)
        now = self.clock()
        self.local.add_peer(sighting.url, "mdns", now, name=sighting.name)
        # Several announcements may name one address (a node that restarted, or someone repeating it): we connect
        # if any of them says so.
        initiate = any(self._initiates(s) for s in self.addresses.sightings() if s.url == sighting.url)
        self.local.update_peer(sighting.url, last_seen=now, **({} if initiate else {"state": "passive"}))
        link = self.links.get(sighting.url)
        if link is not None:
            link.wake.set()
        if not initiate:
            self._pull_once(sighting.url)
        self._changed.set()

    def _pull_once(self, url: str) -> None:
        """Fetch what a peer that links to us has and we lack, by id, without waiting for its upload."""
        now = self.clock()
        for old in [u for u, at in self._last_pull.items() if now - at >= PULL_INTERVAL]:
            del self._last_pull[old]  # kept only while it matters, so flapping addresses cannot grow it
        for old in [u for u, task in self._pulls.items() if task.done()]:
            del self._pulls[old]
        if url in self._pulls or url in self._last_pull:
            return
        if not self._may_start():
            self.say("not pulling", "not pulling from %s now: too many new peers announced lately", url)
            return
        self._last_pull[url] = now
        self._pulls[url] = asyncio.get_running_loop().create_task(self._pull(url), name=f"pull once {url}")

    async def _pull(self, url: str) -> None:
        news = False

        async def ingest(events: Sequence[Event]) -> list[AddOutcome]:
            nonlocal news
            outcomes = await self.ingest(events)
            news = news or brings_news(events, outcomes, self.valued)
            return outcomes

        try:
            async with await self.connect(url) as client:
                in0, out0 = client.bytes_in, client.bytes_out
                async with asyncio.timeout(SYNC_TIMEOUT):
                    report = await sync(client, self.store, [], direction="down", ingest=ingest, unwanted=self.unwanted)
                self.local.update_peer(
                    url,
                    last_sync=self.clock(),
                    events_in=report.received,
                    bytes_in=client.bytes_in - in0,
                    bytes_out=client.bytes_out - out0,
                )
                self._pull_failed.pop(url, None)
                if any(s.url == url for s in self.addresses.sightings()):
                    now = self.clock()
                    worked, brought = self._pulled.get(url, (now, None))
                    self._pulled[url] = (worked, now if news else brought)
                self.say("pulled", "pulled from %s: %d in", url, report.received)
        except (SamizdatError, TimeoutError) as exc:
            if any(s.url == url for s in self.addresses.sightings()):
                self._pull_failed.setdefault(url, self.clock())
            self.say("pull failed", "pulling from %s failed: %s", url, exc)

    def _lost(self, instance: str) -> None:
        self._evicted.pop(instance, None)
        urls = self.addresses.lost(instance)
        for url in urls:
            self._forget(url)
        if urls:
            self._changed.set()

    def _forget(self, url: str) -> None:
        """No announcement names ``url`` any more: forget it unless it was added by hand."""
        if any(s.url == url for s in self.addresses.sightings()):
            return
        self.local.forget_announced(url)
        self._pull_failed.pop(url, None)
        self._pulled.pop(url, None)
        pull = self._pulls.pop(url, None)
        if pull is not None:
            pull.cancel()

    def _wanted(self, manual: set[str] | None = None) -> set[str]:
        """URLs to keep a link to: manual peers (``manual``, else read), and sighted peers this node should
        connect to."""
        if manual is None:
            manual = self._manual()
        return manual | {s.url for s in self.addresses.sightings() if self._initiates(s)}

    def _manual(self) -> set[str]:
        return {row.url for row in self.local.peers() if row.source == "manual"}

    def _may_start(self) -> bool:
        """Take a token for a new link with (or pull from) an announced peer, if one is left (see LINK_RATE)."""
        now = self.clock()
        if self._starts_at is not None:
            self._starts = min(float(MAX_ANNOUNCED), self._starts + max(0.0, now - self._starts_at) * LINK_RATE)
        self._starts_at = now
        if self._starts < 1:
            return False
        self._starts -= 1
        return True

    async def _supervise(self) -> None:
        try:
            while True:
                manual = self._manual()
                wanted = self._wanted(manual)
                new = wanted - self._tasks.keys()
                self._waiting = {url: None for url in self._waiting if url in new}
                for url in [*self._waiting, *sorted(new - self._waiting.keys())]:
                    if url in manual or self._may_start():
                        self._waiting.pop(url, None)
                        self._start_link(url)
                    elif url not in self._waiting:
                        self._waiting[url] = None
                        self.say("later", "linking with %s later: too many new peers announced lately", url)
                for url in self._tasks.keys() - wanted:
                    self._stop_link(url)
                for url, task in list(self._tasks.items()):
                    if task.done():  # a link only ends by a bug: log it and start it again
                        if not task.cancelled() and task.exception() is not None:
                            # Without the peer's LAN address at the default level (docs/safety.md): -v names it,
                            # and gives the traceback, whose message may name it too (a KeyError is its key).
                            _fault(task.exception())
                            log.info("the link that stopped was to %s", url, exc_info=task.exception())
                        self._stop_link(url)
                self._changed.clear()
                # Not wait_for: on Python 3.11 it can swallow a cancellation that comes as the event is set
                # (a stop right after a peer was found would then never end).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_INTERVAL):
                        await self._changed.wait()
        finally:
            tasks = [*self._tasks.values(), *self._pulls.values()]
            for pull in self._pulls.values():
                pull.cancel()
            for url in list(self._tasks):
                self._stop_link(url)
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start_link(self, url: str) -> None:
        link = PeerLink(
            url,
            hiding(self.store, self.hidden),
            self.local,
            self.ingest,
            unwanted=self.unwanted,
            connect=self.connect,
            clock=self.clock,
            events_per_second=self.options.events_per_second,
            say=self.say,
            valued=self.valued,
            uploads=self.uploads,
            taken=self._taken,
        )
        self.links[url] = link
        self._tasks[url] = asyncio.create_task(link.run(), name=f"link {url}")
        log.info("linking with peer %s", url)

    def _stop_link(self, url: str) -> None:
        task = self._tasks.pop(url, None)
        self.links.pop(url, None)
        if task is not None:
            task.cancel()
