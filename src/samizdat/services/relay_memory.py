"""A relay that lacks what it had: what a sync alone tells of a censor's relay at a relay's address.

A censor that takes a relay's address over (nft ``dnat`` to its own relay, a DNS answer of its own) and answers
with an empty relay, a stale copy, or a true copy without one channel, makes every sync "succeed" with 0 events
or without the channel. ``samizdat netcheck`` sees that (``relay.impostor``, red team round 9), but most people
never run it, and a copy that lacks only older events, or only what is newer than its own newest, passes it.

Theory of operation (red team, round 10). A NIP-77 sync learns, at no cost, which of this node's events the relay
lacks (the ids it would upload). The node remembers, per relay and sync scope, the store's insertion number
when the last sync that ended well began (``relay_marks`` in the state file: numbers only, never which events,
so a seized device says no more than ``sync_state`` does), and how many of ours the relay still lacked when it
ended (refused uploads, a download-only sync). At the next sync, an event the relay lacks that was stored here
before that mark, is still held here (not deleted by a NIP-09 request that came with this sync, not expired by
NIP-40), was there for that sync to reconcile: the relay had it, or accepted it, and no longer has it. Those are
*gone* (:func:`gone`). Honest relays lose events too, so :func:`suspicious` (a pure rule) asks for more:

1. at least :data:`GONE_MIN` more gone than the relay still lacked after the last sync;
2. not only the oldest: a relay that keeps a retention window (or was purged of old events) drops a prefix in
   time, and still holds every one of ours newer than what it dropped. Gone events with an older event of ours
   still there (a channel taken out, interleaved), or with nothing of ours left (an empty relay), or the newest
   gone (a stale copy) are suspicious.

A suspicious loss has the relay asked, by id (:data:`ASK` of the gone events, the newest), through another route
than the sync's (a fallback, Tor: :func:`samizdat.services.relay_health.other_route`), only then: nothing more
moves on a sync that finds nothing gone. When the other route serves at least half of them (and
:data:`GONE_MIN`), something else answers in the relay's name on this route: the route is marked
``relay.impostor`` (``core/routes.py``: tried only when every other route failed, held like a sync's stall) and
the sync runs again through the other route (:mod:`samizdat.services.sync`). When the other route lacks them
too, the relay lost or deleted them (a disk restored from an old backup, an operator's purge): nothing is marked,
and the sync's report says so. Without another route nothing tells the two apart, and the report says both.

A censor's copy that is current but for the posts it withholds from now on (a channel's new posts) takes nothing
the node had. So every :data:`SPOT_EVERY` seconds per relay and scope (and at the first sync), a sync that found
nothing gone runs once more through another route, when the node has one: a NIP-77 reconciliation (a few kB
when both sides hold the same) that brings what that route has and the first lacked. When it brings at least
:data:`GONE_MIN` events created :data:`SETTLE_SECONDS` or more before the sync began (not merely published
meanwhile) and signed by keys with standing in the scope (round 13, below), the first route is marked as above:
something else answers there, or the relay hides them from this address (the remedy is the same).

Not handled: a node with no other route (it is told what it sees, and no route is marked); between two spot
checks, an impostor that takes nothing the node had; a copy that withholds every event of an author the node
only ever got through the other route (round 14: such an author is no evidence, since that route could have
invented it); a new node's posts delivered by the outbox (round 15 holds back only what a sync sends).

Red team, round 11: posts dated long ago that reached the relay between the sync and its spot check (a phone's
offline posts, or a censor's, published on purpose to push users off the direct route) looked withheld by the
sync's route. The spot check's finds are now asked for by id through the sync's route (:func:`still_lacking`):
only what it does not serve then counts. When that route cannot be asked again, nothing is marked (round 12: the
finding stood, and a censor that publishes backdated posts and cuts that one connection marked an honest route;
an impostor can answer the question by id anyway: docs/blocking.md, "Red team, round 12").
And a sync both ways sent the relay what it lacked, gone events included, before they were asked for through
another route: a relay restored from an old backup then served them there, just sent back, and its honest route
was marked. A sync now holds suspiciously gone events back (:func:`holding`, counted as held: the next sync,
which no longer finds them suspicious, sends them) until the other route has been asked.

Red team, round 13: the other route was believed. A fallback that answers in the relay's name (a proxy the censor
runs, a Tor exit) and adds six events of its own, signed by any fresh key, had the honest route marked at the
node's first sync, and the syncs moved to it. Now a spot check counts only what that route cannot invent: events
whose authors have standing in the scope (:func:`standing`: a channel's roles; else an author the node already knew
there, or that the sync's own route brought). Finds by other keys are stored like any synced event, said once, and
mark nothing. And the sync's mark does not pass what only a spot check brought (the sync's route lacked it; it was
not "had" there). With that, a spot check is also due at the first sync over a route after its ``relay.impostor``
hold ends (:func:`hold_over`), once per hold: a copy back first after its hold has to serve what it withholds.
What a relay "had" is remembered per route too (:func:`route_key`): a sync the fallback carried, with events of
its own, had them found gone from the direct route at the next sync, and the fallback, asked, served them.

Red team, round 14: a fallback that lies twice. The events by fresh keys a spot check brought were stored, so at
the next spot check (6 hours later, or after a hold) their authors were "held before", the same route's new
invented events by them counted, and the honest route was marked. Standing now comes from somewhere that route
cannot be (:func:`independent`): the state file notes, per author, which route's sync first brought one of its
events, how many that route brought and whether another route brought one since (:class:`Noting` notes it as the
events are stored; hashed with a salt of the node's, at most ``SOURCES_MAX`` authors:
:meth:`samizdat.store.local.LocalState.note_brought`). An author whose events only ever came through the route
that now brings the evidence is no evidence; one first brought by another route, or also by another since, is;
so is one the store holds more events of than that route brought (the LAN, a bundle, the node's own posts: no
door but a relay sync is noted, and what they stored is in the count), and one never noted (held before the
record began: a node upgraded keeps its checks). A channel's roles are as before.

Red team, round 15: a new node. A route can invent a whole channel (a fresh owner key, its definition, six posts):
its roles counted, and a lying fallback marked the honest route at a whole relay's first sync. A channel's roles
now count only for a channel whose owner the user named (:func:`user_named`: followed, own, the sync's own scope)
or whose owner is an author known as above. The new node a person starts follows a channel by its link, which
names the owner: the first sync through a censor's empty relay is marked at its spot check. One that knows no key
(a whole relay's first sync) still marks nothing; but a route that served nothing in the scope at its first sync
there, while a spot check through another route served or held at least :data:`GONE_MIN` events from before the
sync that it lacked (:func:`elsewhere`, any key), is *in doubt* (``relay_doubts`` in the state file): what the node
would send is held back from it (the first time until the spot check, then at every sync) until a spot check finds
the two routes agree, and each sync's report says so (:func:`doubt_line`). Marks nothing, moves no sync: a lying
fallback gains only that an honest relay that is empty in the scope gets the node's events through the spot check
(through that fallback) rather than directly; a censor's empty relay gets none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import orjson

from samizdat.core import kinds
from samizdat.core.channel import Channel
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.interference import IMPOSTOR
from samizdat.core.routes import SYNC, RouteRecord, after_stall, impairment
from samizdat.errors import RemoteProtocolError, TransportError
from samizdat.net import failover, netinfo
from samizdat.net import sync as netsync
from samizdat.net.client import RelayClient
from samizdat.net.transports import redacted
from samizdat.services import channels, relay_health
from samizdat.services.context import Context
from samizdat.store.base import AddOutcome

log = logging.getLogger(__name__)

#: Gone events (beyond those the relay lacked after the last sync) before anything is suspected.
GONE_MIN = 5
#: Ids of the relay's "lacking" list remembered in one sync, at most (a relay that lacks more lacks everything).
KEEP_LACKING = 50_000
#: Events stored since the last sync's mark read to tell them from older ones, at most (else no check this time).
SCAN_NEW = 20_000
#: Gone events asked for through the other route, the newest (one ``REQ`` by ids: about 7 kB up, their bytes down).
ASK = 100
#: Seconds the other route is given to connect.
OTHER_ROUTE_TIMEOUT = 15.0
#: Seconds between two spot checks of one relay and scope through another route (see the module).
SPOT_EVERY = 6 * 3600.0
#: Seconds a spot check may take, at most (a few, when both routes hold the same): a censor that slows the other
#: route to a crawl, never quite stalling it, held every sync of the relay until the sync's own limit (10 minutes),
#: which then failed, left no mark, and spot-checked again at the next sync (red team, round 12).
SPOT_TIMEOUT = 120.0
#: Seconds before the sync began that an event must be older than to count as withheld by the sync's route (one
#: published meanwhile, as on a busy relay between the two syncs, is not).
SETTLE_SECONDS = 60

#: What :meth:`samizdat.store.local.LocalState.relay_mark` keeps: (insertion number, events the relay still
#: lacked, when, when another route was last asked the same).
Mark = tuple[int, int, float, float]


def scope_key(filters: Sequence[Filter]) -> str:
    """A short name for a sync's scope: the hash of its filters (the same filters, the same memory)."""
    canon = b"\n".join(sorted(orjson.dumps(f.to_dict(), option=orjson.OPT_SORT_KEYS) for f in filters))
    return hashlib.sha256(canon).hexdigest()[:16]


def route_key(key: str, route: str | None) -> str:
    """The name of the marks a sync of scope ``key`` leaves for one route (``route``; ``key`` itself when the
    connection has none): a hash, so the state file names no proxy."""
    if route is None:
        return key
    return f"{key}/{_route_hash(route)}"


def _route_hash(route: str) -> str:
    return hashlib.sha256(route.encode()).hexdigest()[:12]


def doubted(ctx: Context, relay: str) -> tuple[str, ...]:
    """The routes to ``relay`` in doubt in any sync scope (red team, round 15): what the node posts is not sent
    through them either. A post a censor's relay accepted there was "delivered" and never reached the relay."""
    hashes = {scope.rsplit("/", 1)[1] for scope in ctx.local.relay_doubt_scopes(relay) if "/" in scope}
    if not hashes:
        return ()
    return tuple(spec for spec in ctx.routing.candidates(relay) if _route_hash(spec) in hashes)


async def connect_undoubted(ctx: Context, relay: str) -> RelayClient:
    """A connection to ``relay`` for the outbox, through a route not in doubt (:func:`doubted`); when every route
    is, :class:`samizdat.net.failover.BrokenTransport`, and the post waits in the outbox for a later try."""
    avoid = doubted(ctx, relay)
    return await (ctx.connect(relay, avoid=avoid) if avoid else ctx.connect(relay))


class Noting(relay_health.Witness):
    """The sync's witness (:class:`samizdat.services.relay_health.Witness`), also keeping the ids the relay lacks;
    :meth:`ingest` stores what the sync downloads and keeps those ids too."""

    def __init__(self, ctx: Context, *, spot: bool = False, route: str | None = None) -> None:
        super().__init__(ctx)
        self.lacking: list[str] = []
        self.got: set[str] = set()
        self.spot = spot  # a spot check's, through another route than the sync's
        self.finished = False  # the sync it witnessed ran to its end
        self.route = route  # the connection's route: what it brings new is noted as its (round 14)

    async def ingest(self, events: Sequence[Event]) -> list[AddOutcome]:
        if len(self.got) < KEEP_LACKING:
            self.got.update(e.id for e in events)
        outcomes = await self.ctx.ingest(events)
        # Which route brought each author's events (round 14): noted before any spot check judges them.
        new = Counter(e.pubkey for e, outcome in zip(events, outcomes, strict=True) if outcome is AddOutcome.STORED)
        self.ctx.local.note_brought(self.route, new)
        return outcomes

    def lost(self, relay: str, lacking: Sequence[str], began: float) -> list[str]:
        room = KEEP_LACKING - len(self.lacking)
        if room > 0:
            self.lacking.extend(lacking[:room])
        return super().lost(relay, lacking, began)


@dataclass(frozen=True, slots=True)
class Gone:
    """Events of ours the relay had at the last sync and lacks now."""

    ids: list[str]  # newest first
    newest: int  # created_at of the newest
    before: int  # how many the relay still lacked when the last sync ended
    older_kept: bool  # an event of ours older than the newest gone is still on the relay
    kept_any: bool  # the relay still holds some of ours in the scope


def suspicious(gone: Gone) -> bool:
    """Whether ``gone`` is more than an honest relay's retention (rules 1 and 2 of the module)."""
    if len(gone.ids) - gone.before < GONE_MIN:
        return False
    # A cut in time (nothing of ours as old as the newest gone left on the relay, the newer all there) is what a
    # retention window or a purge of old events leaves; an event of ours older than one gone still there is not.
    return gone.older_kept or not gone.kept_any


async def gone(ctx: Context, scope: Sequence[Filter], lacking: Sequence[str], mark: Mark | None) -> Gone | None:
    """What of ``lacking`` (ids of ours the relay lacked in this sync) it had at the last sync (``mark``); None
    when there is nothing to compare with or nothing gone. Called after the sync: what it deleted here is out."""
    if mark is None or not lacking:
        return None
    seq, before = mark[0], mark[1]
    fresh: set[str] = set()
    cursor, scanned = seq, 0
    while True:
        page = await ctx.store.events_since(cursor, 1000)
        if not page:
            break
        fresh.update(event.id for _, event in page)
        cursor, scanned = page[-1][0], scanned + len(page)
        if scanned >= SCAN_NEW:
            return None  # too much new to tell old from new cheaply: next time
    missing = set(lacking)
    old = missing - fresh
    if not old:
        return None
    # One pass over the scope's (created_at, id), as the sync's own reconciliation makes, and never its events: an
    # empty relay at the address of one a node with 100,000 events syncs with had every one of them read, parsed
    # and kept at once (11 s, 470 MB, twice a sync; red team, round 12). Expired events are not among them.
    held: list[tuple[int, str]] = []
    kept_first: int | None = None  # the oldest of ours in the scope that the relay still has
    async for created_at, raw in ctx.store.negentropy_items(scope):
        event_id = raw.hex()
        if event_id in old:
            held.append((-created_at, event_id))
        elif kept_first is None and event_id not in missing:
            kept_first = created_at
    if len(held) - before < GONE_MIN:
        return None
    held.sort()
    newest = -held[0][0]
    # An event of ours in the scope, as old as the newest gone or older, that the relay still has: not a cut in time.
    older_kept = kept_first is not None and kept_first <= newest
    kept_any = kept_first is not None
    return Gone([event_id for _, event_id in held], newest, before, older_kept, kept_any)


async def end_mark(ctx: Context, start: int, got: set[str]) -> int:
    """The mark a sync that began at insertion number ``start`` leaves: past ``start`` as far as the events stored
    since are ones it downloaded (``got``): an event another sync stored meanwhile (a channel's other mirror, in
    the background) was never reconciled with this relay, and must not count as gone from it next time."""
    mark, scanned = start, 0
    while scanned < SCAN_NEW:
        page = await ctx.store.events_since(mark, 1000)
        for seq, event in page:
            if event.id not in got:
                return mark
            mark = seq
        if len(page) < 1000:
            return mark
        scanned += len(page)
    return mark


def holding(ctx: Context, scope: Sequence[Filter], mark: Mark | None) -> Callable[[Sequence[str]], Awaitable[set[str]]]:
    """For :func:`samizdat.net.sync.sync` (``hold``): of the ids the relay lacks, those gone from it in a way
    :func:`suspicious` calls more than a retention window: not sent back until another route has been asked
    (see the module, round 11)."""

    async def hold(lacking: Sequence[str]) -> set[str]:
        try:
            found = await gone(ctx, scope, lacking, mark)
        except Exception:  # a bug in the check must not fail the sync
            log.exception("the check of what a relay had at the last sync failed")
            return set()
        return set(found.ids) if found is not None and suspicious(found) else set()

    return hold


@dataclass(frozen=True, slots=True)
class Finding:
    line: str  # for the sync's report
    other: RelayClient | None  # the route that serves what this one lacks: the sync goes on there


async def cross_check(ctx: Context, client: RelayClient, found: Gone) -> Finding:
    """Ask another route for the newest gone events (see the module); mark ``client``'s route when it serves
    them. Never raises for the relay's sake."""
    count = len(found.ids)
    newest = time.strftime("%Y-%m-%d %H:%M", time.gmtime(found.newest))
    what = f"{client.url} lacks {count} events it had at the last sync (the newest of {newest} UTC)"
    if client.route is None:
        return Finding(f"{what}: it lost or deleted them, or something else answers in its name", None)
    route = redacted(client.route)
    try:
        other = await relay_health.other_route(ctx, client, OTHER_ROUTE_TIMEOUT)
    except TransportError:
        return Finding(
            f"{what} through {route}, and no other route answers to ask: it lost or deleted them, or something else "
            f"answers in its name on this network (samizdat netcheck with a control proxy tells which)",
            None,
        )
    asked = found.ids[:ASK]
    try:
        served = await relay_health.served_all(other, asked)
    except (TransportError, RemoteProtocolError, TimeoutError) as exc:
        await other.close()
        return Finding(f"{what} through {route}; asking another route failed ({exc}): nothing is marked", None)
    via = redacted(other.route or "another route")
    if len(served) >= max(GONE_MIN, (len(asked) + 1) // 2):
        reason = f"lacked {count} events it had served before, {len(served)} of {len(asked)} asked came through {via}"
        impersonated(ctx, client, reason)
        return Finding(
            f"{what} through {route}, while {via} serves {len(served)} of the {len(asked)} asked: something else "
            f"answers in the relay's name on this network ({IMPOSTOR}); synced through {via} instead, which goes "
            f"first from now on",
            other,
        )
    await other.close()
    return Finding(
        f"{what}, through {via} as well ({len(served)} of {len(asked)} asked there): the relay lost or deleted them",
        None,
    )


def impersonated(ctx: Context, client: RelayClient, reason: str) -> None:
    """Mark ``client``'s route ``relay.impostor`` (``core/routes.py``: tried only once the others failed)."""
    if client.route is not None and client.network is not None:
        record = ctx.local.routes(client.url, client.network).get(client.route)
        ctx.local.record_route(
            client.url, client.network, after_stall(record, client.route, IMPOSTOR, reason, now=ctx.clock())
        )
    log.warning("something else answers in a relay's name on this network (-v names it)")
    log.info("%s: %s (%s)", client.url, IMPOSTOR, reason)


async def spot_route(ctx: Context, client: RelayClient) -> RelayClient:
    """A connection to ``client``'s relay for a spot check: through another route than ``client``'s, and not
    through one found impaired (a stalling route would stall the check; one found impersonated is what the check
    looks for). Raises :class:`~samizdat.errors.TransportError` when there is none."""
    now = ctx.clock()
    records = ctx.local.routes(client.url, client.network) if client.network is not None else {}
    impaired = [spec for spec, record in records.items() if impairment(record, now) is not None]
    return await failover.connect(
        client.url, ctx.routing, None, network=netinfo.network_id(), clock=ctx.clock, timeout=OTHER_ROUTE_TIMEOUT,
        avoid=(*((client.route,) if client.route else ()), *impaired),
    )  # fmt: skip


def spot_due(mark: Mark | None, now: float) -> bool:
    """Whether this sync's relay and scope are due a spot check through another route."""
    return mark is None or now - mark[3] >= SPOT_EVERY


def hold_over(ctx: Context, client: RelayClient, mark: Mark | None) -> bool:
    """Whether ``client``'s route was found impersonated (``relay.impostor``, by a sync) and that mark's hold ended
    since this relay and scope were last spot-checked: then a spot check is due at once, not in up to
    :data:`SPOT_EVERY` (red team, round 13). A copy that withholds only new posts is back first as soon as the hold
    ends; now it has to serve them for that sync, or be marked again for twice as long. One such check per hold:
    it moves ``mark``'s last check past the hold's end."""
    if client.route is None or client.network is None:
        return False
    record: RouteRecord | None = ctx.local.routes(client.url, client.network).get(client.route)
    if record is None or not record.last_error.startswith(f"{SYNC}{IMPOSTOR}"):
        return False
    if record.next_retry > ctx.clock():
        return False  # still held (the route is used only because no other connected)
    return mark is None or mark[3] < record.next_retry


async def older(ctx: Context, ids: set[str], began: float) -> list[str]:
    """Which of ``ids`` (events another route just brought) were created :data:`SETTLE_SECONDS` or more before
    ``began``, the newest first: the sync's route, asked the same moments before, did not have them."""
    found: list[Event] = []
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        batch = await ctx.store.query([Filter(ids=frozenset(wanted[start : start + 500]))])
        found += [e for e in batch if e.created_at < began - SETTLE_SECONDS]
    found.sort(key=lambda e: (-e.created_at, e.id))
    return [e.id for e in found]


#: Distinct channels and authors whose standing one spot check looks up, at most (the rest count for nothing).
STANDING_LOOKUPS = 50


async def standing(
    ctx: Context,
    scope: Sequence[Filter],
    ids: Sequence[str],
    start: int,
    brought: set[str],
    via: str | None = None,
) -> tuple[list[str], int]:
    """Of ``ids`` (what another route, ``via``, brought that the sync's route lacked, the newest first): those whose
    authors have standing in the scope as this node knew it before the sync began at insertion number ``start``
    or as the sync's own route showed it (``brought``: what that route downloaded), in the same order, and how many
    others there are (red team, rounds 13 and 14).

    That route can invent events (any key signs them) but not an owner's or admin's signature: a post naming a
    channel whose definition the node holds counts when its signer has a role there at its date
    (:meth:`samizdat.core.channel.Channel.role_of`: owner, admins, editors, former admins before their ``since``;
    a definition only its owner signs, so one that came with the route cannot give another key a role; but the
    route can invent the owner too, so the channel must be one the user named, :func:`user_named`, or its owner
    an author known as below: round 15); any other
    event counts when the sync's route brought one of its author's, or the node held one in the scope before the
    sync and knew the author from a source other than ``via`` (:func:`independent`). Only those are evidence that
    the sync's route withholds."""
    by_id: dict[str, Event] = {}
    for first in range(0, len(ids), 500):
        by_id.update((e.id, e) for e in await ctx.store.query([Filter(ids=frozenset(ids[first : first + 500]))]))
    named: dict[str, Channel | None] = {}
    known: dict[str, bool] = {}
    since, shown = await _stored_since(ctx, scope, start, brought)
    given = await user_named(ctx, scope)

    async def knows(author: str) -> bool:
        if author not in known:
            known[author] = author in shown or (
                len(known) < STANDING_LOOKUPS
                and await _held_before(ctx, scope, author, since)
                and await independent(ctx, author, via)
            )
        return known[author]

    counted: list[str] = []
    for event_id in ids:
        event = by_id.get(event_id)
        if event is None:
            continue
        addresses = [a for a in event.tag_values("a") if a.startswith(f"{kinds.CHANNEL}:")]
        held: list[Channel] = []
        for address in addresses:
            if address not in named:
                channel = await channels.lookup(ctx, address) if len(named) < STANDING_LOOKUPS else None
                # Round 15: a route can invent a whole channel (a fresh owner key, its definition, its posts): its
                # roles count only when the user named it (followed, own, the sync's scope) or knows its owner.
                if channel is not None and address not in given and not await knows(channel.owner):
                    channel = None
                named[address] = channel
            channel = named[address]
            if channel is not None:
                held.append(channel)
        if held:  # a channel's post: its roles say, and nothing else (a key's own earlier posts there included)
            if any(channel.role_of(event.pubkey, event.created_at) is not None for channel in held):
                counted.append(event_id)
            continue
        if await knows(event.pubkey):
            counted.append(event_id)
    return counted, len(ids) - len(counted)


async def user_named(ctx: Context, scope: Sequence[Filter]) -> set[str]:
    """The channels whose owner's key the user gave this node (red team, round 15): those followed (the link names
    the owner), its own, and those the sync's scope names (``sync --channel``, a channel's scope). No route can
    forge a post by their owner or admins; a channel a route brought can be that route's own invention."""
    named = set(ctx.local.follows()) | set(await channels.own_channels(ctx))
    for f in scope:
        for name, values in f.tags:
            if name == "a":
                named.update(v for v in values if v.startswith(f"{kinds.CHANNEL}:"))
    return named


async def independent(ctx: Context, author: str, via: str | None) -> bool:
    """Whether this node knew ``author`` from a source other than the route ``via`` (red team, round 14): a route
    that invents events by fresh keys at one spot check must not find them "known" at the next.

    The state file notes, per author, which route's sync first brought an event of it, how many that route
    brought, and whether another route brought one since (:meth:`samizdat.store.local.LocalState.note_brought`).
    Known elsewhere: an author first brought by another route, or by ``via`` and since by another; or one the
    store holds more events of than ``via`` brought (the LAN, a bundle, the node's own posts, what was held before
    the record began: no door but a relay sync is noted, and what it stores is in the count). An author never
    noted is one held before the record began or brought by another door only, as before round 14: known; unless
    the record is full (:data:`samizdat.store.local.SOURCES_MAX`), when nothing says where it came from."""
    noted = ctx.local.sources([author], via).get(author)
    if noted is None:
        return not ctx.local.sources_full()
    if not noted.first_here or noted.others:
        return True
    # Deleted, replaced or expired events make the count smaller, never larger: doubt counts for nothing.
    return await ctx.store.count([Filter(authors=frozenset({author}))]) > noted.brought


async def _stored_since(
    ctx: Context, scope: Sequence[Filter], start: int, brought: set[str]
) -> tuple[dict[str, set[str]] | None, set[str]]:
    """Per author, the ids of the scope's events stored after insertion number ``start`` but for those in
    ``brought``, None when there are more than :data:`SCAN_NEW` events to read (then no author counts as known
    from its events); and the authors of those in ``brought`` (as far as read)."""
    out: dict[str, set[str]] = {}
    shown: set[str] = set()
    cursor, scanned = start, 0
    while True:
        page = await ctx.store.events_since(cursor, 1000)
        if not page:
            return out, shown
        for _, event in page:
            if not any(f.matches(event) for f in scope):
                continue
            if event.id in brought:
                shown.add(event.pubkey)
            else:
                out.setdefault(event.pubkey, set()).add(event.id)
        cursor, scanned = page[-1][0], scanned + len(page)
        if scanned >= SCAN_NEW:
            return None, shown


async def _held_before(ctx: Context, scope: Sequence[Filter], author: str, since: dict[str, set[str]] | None) -> bool:
    """Whether the store holds an event of ``author`` in ``scope`` that was there before the sync (``since``:
    :func:`_stored_since`)."""
    if since is None:
        return False
    fresh = since.get(author, set())
    wanted = [
        dataclasses.replace(f, authors=frozenset({author}), limit=len(fresh) + 1)
        for f in scope
        if f.authors is None or author in f.authors
    ]
    if not wanted:
        return False
    return any(e.id not in fresh for e in await ctx.store.query(wanted))


async def still_lacking(ctx: Context, client: RelayClient, ids: Sequence[str]) -> list[str] | None:
    """Which of ``ids`` (at most :data:`ASK`, the first) ``client``'s route does not serve when asked for them by id,
    on a new connection through that route alone; None when it cannot be asked (it does not connect, or fails).

    Red team, round 11: anyone may publish to a relay posts dated hours ago (a phone sending what it wrote
    offline; a censor, a few a second, into the areas it wants users off the direct route). Those that reached the
    relay between the sync and its spot check look withheld by the sync's route; asked again, an honest route
    serves them, a route that withholds them does not."""
    asked = list(ids[:ASK])
    if client.route is None:
        return None
    others = [spec for spec in ctx.routing.candidates(client.url) if spec != client.route]
    try:
        again = await failover.connect(
            client.url, ctx.routing, None, network=netinfo.network_id(), clock=ctx.clock,
            timeout=OTHER_ROUTE_TIMEOUT, avoid=others,
        )  # fmt: skip
    except TransportError:
        return None
    try:
        served = await relay_health.served_all(again, asked)
    except (TransportError, RemoteProtocolError, TimeoutError):
        return None
    finally:
        await again.close()
    return [i for i in asked if i not in served]


def _routes(client: RelayClient, other: RelayClient) -> tuple[str, str]:
    """The sync's route and the other one, as a report line names them (no proxy's password)."""
    return redacted(client.route or "this route"), redacted(other.route or "another route")


def spot_line(client: RelayClient, other: RelayClient, count: int) -> str:
    route, via = _routes(client, other)
    return (
        f"{client.url} through {route} lacked {count} events from before this sync that {via} served: something "
        f"else answers in the relay's name on this network ({IMPOSTOR}), or the relay hides them from this "
        f"address; synced through {via} instead, which goes first from now on"
    )


def strangers_line(client: RelayClient, other: RelayClient, count: int) -> str:
    route, via = _routes(client, other)
    return (
        f"{via} served {count} events by keys this node does not know in that scope that {client.url} through "
        f"{route} lacked: anyone can sign such events and a route can add them, so they say nothing of either "
        f"route; nothing is marked"
    )


def unasked_line(client: RelayClient, other: RelayClient, count: int) -> str:
    route, via = _routes(client, other)
    return (
        f"{client.url} through {route} lacked {count} events from before this sync that {via} served, and could "
        f"not be asked for them again: they may have reached the relay meanwhile, or that route withholds them; "
        f"nothing is marked"
    )


def has_other_route(ctx: Context, client: RelayClient) -> bool:
    """Whether the node has a route to ``client``'s relay other than ``client``'s (a fallback, Tor)."""
    return client.route is not None and any(spec != client.route for spec in ctx.routing.candidates(client.url))


async def elsewhere(ctx: Context, first: Noting, spot: Noting, began: float) -> int:
    """How many events from before the sync (which began at ``began``) the spot check's route (``spot``) served
    or held that the sync's route (``first``) lacked: those of ours the first lacked and the other did not, and
    those the other brought created :data:`SETTLE_SECONDS` before the sync. Any key counts: this only keeps back
    what the node would send (red team, round 15), it marks nothing."""
    held_there = set(first.lacking) - set(spot.lacking)
    return len(held_there) + len(await older(ctx, spot.got, began))


def doubt_line(client: RelayClient, since: float, held: int) -> str:
    route = redacted(client.route or "this route")
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(since))
    return (
        f"{held} events this node would send to {client.url} through {route} are held back: that route is in doubt "
        f"since {when} UTC (it served nothing in this scope while another route served or held events it lacked); "
        f"nothing is marked (a route can invent events), and they go when a spot check finds the two routes agree"
    )


def lacking_after(report: netsync.SyncReport) -> int:
    """How many of ours the relay still lacks after ``report``'s sync (refused, held back, not sent)."""
    return max(0, report.have - report.sent)
