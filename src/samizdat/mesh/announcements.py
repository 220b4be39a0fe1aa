"""What is taken from an mDNS announcement, and which announcements a node keeps. Pure: no sockets, no clock
(the caller gives the time), so every bound is tested without a network; :mod:`samizdat.mesh.discovery` does
the I/O.

Anyone on the LAN can announce anything, so an announcement is a suspect, never an instruction:

- :func:`parse_service` only ever yields the announced service's own port (its SRV record's) on an IPv4 address
  of a network this machine is on, and never a loopback, multicast or broadcast address, an address of this
  machine, or a link-local address unless this machine is on that link-local network itself. mDNS does not cross
  routers, so an honest announcer's address is on a network we share, and an announcement never makes the node
  reach anything the announcer could not reach itself;
- names are cut to :data:`NAME_LIMIT` printable characters (no control or bidirectional-override characters)
  and are only ever the announcer's claim: faces show them as unverified;
- :class:`Roster` keeps at most :data:`MAX_ANNOUNCED` announced services (first come; more wait until one goes),
  looks at most :data:`RESOLVE_RATE` announcements per second once a first burst is spent (so flapping costs a
  bounded amount of work) and forgets a service that stops announcing: at once when it says goodbye, within
  :data:`FORGET_AFTER` seconds when it goes silent. Silence is noticed without trusting any TTL (an announcer
  chooses its own): every record of a kept service that arrives, in answer to anyone's query, counts as hearing
  it; when one has not been heard for :data:`STALE_AFTER` seconds the node asks everyone again, at most every
  :data:`ASK_EVERY` seconds. One node's question refreshes every listener, so a LAN of N nodes does not ask N
  times as often;
- a goodbye is a claim like any other: mDNS has no authentication, so anyone on the Wi-Fi can send one in any
  node's name, and a forged goodbye every few seconds would otherwise cut every link on the LAN. A kept service
  that says goodbye (:meth:`Roster.goodbye`) is asked for at once (at most every :data:`ASK_SOON` seconds) and
  forgotten only if none of its records arrives within :data:`DOUBT_FOR` seconds: a node that really left is
  gone a few seconds later, one that is still there stays, linked all along;
- an address is a claim too: anyone can send an address record for any node's host name, and one sent with the
  cache-flush bit replaces the real one in Zeroconf's cache (and the newest is listed first). A node that moved
  its link to whichever address a service's latest announcement gave could be cut off its neighbour (or made to
  sync with the device instead) by a device that claims the neighbour's host name. So an announcement can add an
  address to a node, never take one away: :class:`Addresses` keeps every address each node (instance id) was
  seen at, each its own (instance, address) pair and its own link, within bounds, and a node's first address
  stays for as long as the node is kept. A forged address adds a link to the device (which any device can have
  by announcing itself); the real one stays. The same goes for an instance id announced by a second service (a
  device repeating a neighbour's id from its own address, perhaps before the node heard the real one): both are
  kept, and the instance is lost only when the last service naming it is.
- first come first served would let one device keep every real neighbour out: it announces
  :data:`MAX_ANNOUNCED` made-up services (at addresses where nothing answers, or where something answers and
  hangs up) and re-announces them for ever, so none is forgotten. Two rules keep room for real neighbours. A source
  address holds at most :data:`MAX_PER_ADDRESS` kept services (a LAN rarely has more than a few nodes on one
  machine; a newcomer beyond that is not looked at again for :data:`HOLD` seconds). And when the tables are full,
  a newcomer takes the place of a kept node that does not work: one all of whose links (or pulls) have failed, or
  never finished a reconciliation, for :data:`FAILING_FOR` seconds or more, the longest failing first, or one
  that works but brings nothing new (:mod:`samizdat.mesh.room`). Only the caller knows its links, so it says
  which nodes those are (``replaceable``); one not tried yet is never pushed out. The one pushed out is not
  looked at again for :data:`HOLD` seconds, and a newcomer must fail (or be quiet) for a while before it can be
  replaced in turn, so a device re-announcing what was pushed out only trades its own nodes for each other, at
  the pace new links are made (the mesh's ``LINK_RATE``), never for a node that brought something lately.

Nothing here knows which of a node's addresses is really the node's: the peer link is plain Nostr and carries no
proof of who answers. Linking to each of them is what keeps the real one linked without knowing.
"""

from __future__ import annotations

import codecs
import ipaddress
import math
import unicodedata
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

NAME_LIMIT = 60  # characters of an announced name (docs/protocol.md)
ID_LIMIT = 64  # characters of an instance id; ours have 16
MAX_ADDRESSES = 16  # addresses of one announcement looked at; more are ignored
MARKS_LIMIT = 2  # combining marks in a row kept in a name (more only pile up into an unreadable smear)
#: Announced services kept at once. A building's Wi-Fi has a handful of nodes, a big hub a few dozen; every kept
#: service may become a link (a WebSocket and a full reconciliation), which a Pi can afford a few dozen times.
MAX_ANNOUNCED = 64
RESOLVE_RATE = 2.0  # announcements looked at per second once the first MAX_ANNOUNCED are spent
MAX_RESOLVING = 8  # announcements being resolved at once (each may send a few queries for 3 s)
STALE_AFTER = 20.0  # seconds without hearing a kept service before we ask who is there
ASK_EVERY = 10.0  # seconds between two questions of ours, at least
FORGET_AFTER = 60.0  # seconds without hearing a kept service before it is forgotten
HOLD = 30.0  # seconds an unusable announcement is not looked at again
MAX_HELD = 1024  # unusable announcements remembered (oldest forgotten first)
MAX_CANDIDATES = 256  # services heard while there was no room or no rate left, to look at later
DOUBT_FOR = 4.0  # seconds a kept service that said goodbye has to answer a question before it is forgotten
ASK_SOON = 1.0  # seconds between two questions while a goodbye is doubted (mDNS answers at most once a second)
#: Addresses one announced node is linked at, at once: a node with a wired and a wireless address, one that got a
#: new address from DHCP, and what a device claims in its name.
MAX_PEER_ADDRESSES = 4
#: Kept services announced at one source address (IPv4 address, any port): one device announcing 64 ids from one
#: address is one neighbour, not 64, and a real LAN rarely runs more than a few nodes on one machine.
MAX_PER_ADDRESS = 4
#: Seconds every link to a kept node must have been failing (or never finished a reconciliation) before a
#: newcomer may take its place when there is no room: as long as a silent node is kept (FORGET_AFTER), so a
#: neighbour that restarts or walks out of range for a minute keeps its place.
FAILING_FOR = 60.0


@dataclass(frozen=True, slots=True)
class Sighting:
    """Another node heard on the LAN."""

    instance: str  # its random instance id
    url: str  # ws://address:port
    name: str  # its announced name (unverified), else ''
    hub: bool


# -- what is taken from an announcement ---------------------------------------------------------------------------


def clean_name(raw: bytes) -> str:
    """An announced name as it may be shown: valid UTF-8 (invalid bytes become U+FFFD), printable characters only
    (no control, format or bidirectional-override characters), whitespace runs as one space, at most
    :data:`MARKS_LIMIT` combining marks in a row, at most :data:`NAME_LIMIT` characters."""
    # Not final: a character cut in two by the byte limit is left out rather than shown as U+FFFD.
    text = unicodedata.normalize("NFC", codecs.getincrementaldecoder("utf-8")("replace").decode(raw[: NAME_LIMIT * 4]))
    kept: list[str] = []
    marks = 0
    for ch in text:
        if ch.isspace():
            ch = " "
        elif not ch.isprintable():
            continue
        marks = marks + 1 if unicodedata.category(ch) in ("Mn", "Me") else 0
        if marks <= MARKS_LIMIT:
            kept.append(ch)
    return " ".join("".join(kept).split())[:NAME_LIMIT].rstrip()


def usable_address(text: str, networks: Sequence[ipaddress.IPv4Interface]) -> ipaddress.IPv4Address | None:
    """``text`` as an address an announcement may make us connect to, or None: an IPv4 address on one of
    ``networks`` (this machine's interfaces), not one of this machine's own, not loopback, multicast, reserved or
    a network's broadcast or network address, and link-local only on a link-local network of ours."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return None
    if address.is_loopback or address.is_multicast or address.is_unspecified or address.is_reserved:
        return None
    if any(address == interface.ip for interface in networks):
        return None  # this machine: as good as loopback
    for interface in networks:
        network = interface.network
        if interface.ip.is_loopback or address not in network:
            continue
        if network.prefixlen < 31 and address in (network.network_address, network.broadcast_address):
            continue
        if address.is_link_local and not interface.ip.is_link_local:
            continue
        return address
    return None


def parse_service(
    properties: Mapping[bytes, bytes | None],
    addresses: Sequence[str],
    port: int | None,
    *,
    networks: Sequence[ipaddress.IPv4Interface],
) -> Sighting | None:
    """A sighting from a resolved service, or None if it is not a usable Samizdat node. ``port`` is the service's
    own (its SRV record's): the only port an announcement can make us connect to. ``networks`` are this machine's
    IPv4 interfaces (:func:`local_networks`); the first of (at most :data:`MAX_ADDRESSES`) ``addresses`` that
    :func:`usable_address` accepts is used. Never raises, whatever the values."""
    sightings = parse_sightings(properties, addresses, port, networks=networks)
    return sightings[0] if sightings else None


def parse_sightings(
    properties: Mapping[bytes, bytes | None],
    addresses: Sequence[str],
    port: int | None,
    *,
    networks: Sequence[ipaddress.IPv4Interface],
) -> list[Sighting]:
    """One sighting for each usable address of a resolved service (see :func:`parse_service`), in the order of
    ``addresses`` and without repeats; empty if it is not a usable Samizdat node. Never raises."""

    def value(key: bytes) -> bytes:
        raw = properties.get(key)
        return raw if isinstance(raw, bytes) else b""

    raw_id = value(b"id")
    if not 0 < len(raw_id) <= ID_LIMIT or not (raw_id.isascii() and raw_id.isalnum()):
        return []
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        return []
    usable = (usable_address(str(t), networks) for t in list(addresses)[:MAX_ADDRESSES])
    instance, name, hub = raw_id.decode("ascii"), clean_name(value(b"name")), value(b"hub") == b"1"
    urls = dict.fromkeys(f"ws://{a}:{port}" for a in usable if a is not None)
    return [Sighting(instance, url, name, hub) for url in urls]


# -- which announcements are kept (the caller gives the time) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    ask: bool  # send a question for the service type now
    lost: list[str]  # instance ids of kept services not heard for too long
    resolve: list[str]  # service names to resolve now (report each with resolved() or unresolved())


@dataclass
class Roster:
    """The announced services this node keeps, within bounds (see the module's docstring). The Discovery feeds it
    what Zeroconf hears and does what it says."""

    max_kept: int = MAX_ANNOUNCED
    resolve_rate: float = RESOLVE_RATE
    resolve_burst: float = MAX_ANNOUNCED
    max_resolving: int = MAX_RESOLVING
    stale_after: float = STALE_AFTER
    ask_every: float = ASK_EVERY
    forget_after: float = FORGET_AFTER
    hold: float = HOLD
    max_held: int = MAX_HELD
    max_candidates: int = MAX_CANDIDATES
    doubt_for: float = DOUBT_FOR
    ask_soon: float = ASK_SOON
    max_per_address: int = MAX_PER_ADDRESS
    #: Instance ids of kept nodes that do not work (every link failing for FAILING_FOR seconds or more), longest
    #: failing first: the caller's (it runs the links). A newcomer takes the place of one when there is no room.
    replaceable: Callable[[], Sequence[str]] = field(default=lambda: ())
    kept: dict[str, Sighting] = field(default_factory=dict)  # service name -> sighting
    resolving: set[str] = field(default_factory=set)
    _heard: dict[str, float] = field(default_factory=dict)  # kept name -> when last heard
    _candidates: dict[str, float] = field(default_factory=dict)  # name -> when heard, oldest first
    _held: dict[str, float] = field(default_factory=dict)  # name -> until when it is not looked at
    _doubted: dict[str, float] = field(default_factory=dict)  # kept name -> when it said goodbye
    _tokens: float = math.nan
    _refilled: float = 0.0
    _last_ask: float = -math.inf
    _room_freed: bool = False

    def heard(self, name: str, now: float) -> bool:
        """A record of service ``name`` arrived. True if it had said goodbye: then the goodbye was not its own
        (someone sent it in its name), and it stays."""
        if name in self.kept:
            self._heard[name] = now
            return self._doubted.pop(name, None) is not None
        if name not in self.resolving and not self._is_held(name, now):
            self._candidate(name, now)
        return False

    def wanted(self, name: str, now: float) -> bool:
        """Service ``name`` appeared or changed: True if the caller should resolve it now (and report back)."""
        if name in self.resolving or (name not in self.kept and self._is_held(name, now)):
            return False
        # A kept service that changes waits behind newcomers already waiting: a device that keeps changing its
        # services would otherwise spend every resolve on them, and a neighbour waiting for room would wait for
        # ever.
        if (name in self.kept and any(n not in self.kept for n in self._candidates)) or not self._start(name, now):
            self._candidate(name, now)
            return False
        return True

    def resolved(self, name: str, sighting: Sighting | None, now: float) -> tuple[Sighting | None, list[str]]:
        """What resolving ``name`` gave (None: not a usable announcement). Returns (a sighting to report as found,
        instance ids to report as lost)."""
        self.resolving.discard(name)
        old = self.kept.get(name)
        # A second service may name an instance id that another kept service names (a device repeating a
        # neighbour's id from its own address): it is kept too, adding an address to that node, not replacing it
        # (the first to claim an id used to keep it, so a device that claimed it first hid the real node).
        if sighting is None:
            self._hold_name(name, now)
            return None, self._gone(self._drop(name)) if old is not None else []
        lost: list[str] = []
        host = _host(sighting.url)
        crowded = [n for n, s in self.kept.items() if n != name and _host(s.url) == host]
        moved = old is None or _host(old.url) != host  # a kept service moving counts as a newcomer there
        if moved and (len(crowded) >= self.max_per_address or (old is None and len(self.kept) >= self.max_kept)):
            victims = self._victims()
            if len(crowded) >= self.max_per_address:
                # One device, not many neighbours; but made-up services at a neighbour's address must not keep
                # the neighbour out either: one there that does not work makes room.
                victims = [n for n in victims if n in crowded]
                if not victims:
                    if old is None:
                        self._hold_name(name, now)  # looked at again later
                    return None, []  # a kept one stays where it was
            if not victims:
                self._candidate(name, now)
                return None, []
            # A node that does not work makes room; it is not looked at again for a while, so a device
            # re-announcing it cannot take the place back at once.
            lost = self._gone(self._drop(victims[0]))
            self._hold_name(victims[0], now)
        self.kept[name] = sighting
        self._heard[name] = now
        if old is not None and old.instance != sighting.instance:
            lost += self._gone(old.instance)
        return sighting, lost

    def unresolved(self, name: str, now: float) -> None:
        """Resolving ``name`` failed (no answer in time): a kept service stays until it goes silent."""
        self.resolving.discard(name)
        if name not in self.kept:
            self._hold_name(name, now)

    def removed(self, name: str) -> str | None:
        """Service ``name`` is gone for certain: the instance id to report as lost, if it was kept and no other
        kept service names it."""
        self._candidates.pop(name, None)
        return next(iter(self._gone(self._drop(name))), None) if name in self.kept else None

    def goodbye(self, name: str, now: float) -> None:
        """A goodbye for service ``name`` arrived, from whoever sent it. A kept service is asked for (see
        :meth:`tick`) and reported lost by :meth:`tick` only if it does not answer within ``doubt_for`` seconds;
        one that is not kept is simply no longer waited for."""
        self._candidates.pop(name, None)
        if name in self.kept:
            self._doubted.setdefault(name, now)

    def recheck(self, now: float) -> None:
        """The networks changed: every kept service is resolved again (and dropped if no longer usable)."""
        for name in self.kept:
            self._candidate(name, now)

    def tick(self, now: float) -> Tick:
        dropped = [self._drop(n) for n, heard in list(self._heard.items()) if now - heard > self.forget_after]
        dropped += [self._drop(n) for n, since in list(self._doubted.items()) if now - since > self.doubt_for]
        lost = [instance for instance in dict.fromkeys(dropped) if self._gone(instance)]
        stale = any(now - heard > self.stale_after for heard in self._heard.values())
        ask = (stale or self._room_freed) and now - self._last_ask >= self.ask_every
        ask = ask or (bool(self._doubted) and now - self._last_ask >= self.ask_soon)
        if ask:
            self._last_ask = now
            self._room_freed = False
        for name, until in list(self._held.items()):
            if until <= now:
                del self._held[name]
        resolve = []
        for name, heard in list(self._candidates.items()):
            if now - heard > self.forget_after or (name not in self.kept and self._is_held(name, now)):
                del self._candidates[name]
            elif name not in self.resolving and self._start(name, now):
                resolve.append(name)
        return Tick(ask, lost, resolve)

    def _start(self, name: str, now: float) -> bool:
        """Start resolving ``name`` if there is room, a free resolver and a token left."""
        waiting = len(self.kept) + len(self.resolving - self.kept.keys())
        room = name in self.kept or waiting < self.max_kept or len(self._victims()) > waiting - self.max_kept
        if not room or len(self.resolving) >= self.max_resolving or not self._take(now):
            return False
        self._candidates.pop(name, None)
        self.resolving.add(name)
        return True

    def _victims(self) -> list[str]:
        """Kept services whose node does not work (see ``replaceable``), the longest failing first."""
        order = {instance: n for n, instance in enumerate(self.replaceable())}
        if not order:
            return []
        return sorted(
            (n for n, s in self.kept.items() if s.instance in order), key=lambda n: order[self.kept[n].instance]
        )

    def _gone(self, instance: str) -> list[str]:
        """``[instance]`` if no kept service names it any more (it is lost), else ``[]``."""
        return [] if any(s.instance == instance for s in self.kept.values()) else [instance]

    def _drop(self, name: str) -> str:
        self._heard.pop(name, None)
        self._doubted.pop(name, None)
        self._room_freed = True
        return self.kept.pop(name).instance

    def _candidate(self, name: str, now: float) -> None:
        # Heard again, it keeps its place in line (first come, first looked at: one that is announced more often is
        # not served sooner); the one heard least lately goes when the line is too long.
        self._candidates[name] = now
        if len(self._candidates) > self.max_candidates:
            del self._candidates[min(self._candidates, key=self._candidates.__getitem__)]

    def _is_held(self, name: str, now: float) -> bool:
        return self._held.get(name, -math.inf) > now

    def _hold_name(self, name: str, now: float) -> None:
        self._candidates.pop(name, None)
        self._held.pop(name, None)
        self._held[name] = now + self.hold
        while len(self._held) > self.max_held:
            del self._held[next(iter(self._held))]

    def _take(self, now: float) -> bool:
        if math.isnan(self._tokens):
            self._tokens, self._refilled = self.resolve_burst, now
        self._tokens = min(self.resolve_burst, self._tokens + (now - self._refilled) * self.resolve_rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


# -- which addresses of an announced node are linked --------------------------------------------------------------


@dataclass
class Addresses:
    """Every address each announced node (instance id) was seen at, first seen first: (instance, url) pairs, each
    linked on its own (see the module's docstring). An announcement adds a pair; only the node's loss
    (:meth:`lost`) removes its pairs, but for this one exception, which keeps the bounds: when there is no room, a
    newcomer takes the place of the newest pair whose link has failed (the caller says which: a forged address
    that nothing answers at, or the old address of a node that moved), never of a node's first address and never
    of one whose link works. At most ``max_peers`` nodes, ``max_pairs`` pairs in all (the links a Pi can afford)
    and ``per_peer`` pairs for one node; a node's first pair always has room, taken if need be from another
    node's later ones, or else from a node that does not work (``replaceable``, as :class:`Roster` has it): all
    of that node's pairs are let go."""

    max_peers: int = MAX_ANNOUNCED
    max_pairs: int = MAX_ANNOUNCED
    per_peer: int = MAX_PEER_ADDRESSES
    seen: dict[str, dict[str, Sighting]] = field(default_factory=dict)  # instance -> url -> sighting

    def add(
        self, sighting: Sighting, failed: Collection[str] = (), replaceable: Sequence[str] = ()
    ) -> tuple[bool, list[str]]:
        """A node was seen at ``sighting.url``; ``failed`` are the URLs whose links are failing now, ``replaceable``
        the nodes none of whose links has worked for long (longest first). Returns (whether the pair is kept, URLs
        of pairs let go to make room)."""
        urls = self.seen.get(sighting.instance)
        if urls is not None and sighting.url in urls:
            urls[sighting.url] = sighting  # its name or hub flag may have changed; its place has not
            return True, []
        dropped: list[str] = []
        if urls is None:
            later = [(i, u) for i, us in self.seen.items() for u in list(us)[1:] if u in failed]
            if len(self.seen) < self.max_peers and self.pairs() >= self.max_pairs and later:
                instance, url = later[-1]
                del self.seen[instance][url]
                dropped.append(url)
            elif len(self.seen) >= self.max_peers or self.pairs() >= self.max_pairs:
                victim = next((i for i in replaceable if i in self.seen and i != sighting.instance), None)
                if victim is None:
                    return False, []
                dropped += self.lost(victim)
            self.seen[sighting.instance] = {sighting.url: sighting}
            return True, dropped
        if len(urls) >= self.per_peer or self.pairs() >= self.max_pairs:
            later_failed = [u for u in list(urls)[1:] if u in failed]
            if not later_failed:
                return False, []
            del urls[later_failed[-1]]
            dropped.append(later_failed[-1])
        urls[sighting.url] = sighting
        return True, dropped

    def lost(self, instance: str) -> list[str]:
        """The node is gone: the URLs of all its pairs."""
        return list(self.seen.pop(instance, {}))

    def pairs(self) -> int:
        return sum(len(urls) for urls in self.seen.values())

    def sightings(self) -> Iterator[Sighting]:
        for urls in self.seen.values():
            yield from urls.values()

    def first(self, instance: str) -> str | None:
        """The URL the node was first seen at (kept for as long as the node is), if it is kept."""
        return next(iter(self.seen.get(instance, {})), None)
