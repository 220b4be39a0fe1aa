"""Mirrors that lie by omission: a channel's old definition served, a retraction or a correction left out.

A mirror run by the police, or one under pressure, need forge nothing to mislead a channel's readers: it keeps
serving the channel's old definition (with the admin the owner removed, without the new mirror) and the fake post
without the channel's retraction of it. A relay with NIP-77 may even count those events in its reconciliation (it
stores them, answers ``OK true``) and leave them out of every ``REQ`` answer, so a sync finds nothing to move.

Theory of operation. At the end of each background sync of a unit (a channel, or an area) with a relay, on the
sync's own connection, :func:`check` asks that relay what a reader would get:

1. the channel definitions within the unit's filters (the unit's filters narrowed to kind 30333: by address for
   a channel synced by channel, by area for an area: the relay learns nothing the sync did not show it), and
2. by id, the node's newest definition of each of the unit's channels and, of each channel, the
   :data:`AMENDS` newest retractions and corrections this node holds, with the posts they amend.

What the node holds and the relay did not serve (its newest definition; a retraction or correction of a post the
relay serves, with the NIP-09 deletion request that came with it) is pushed to the relay, as any relay of last
resort would, and asked for once more. What the relay accepted with ``OK true`` and still does not serve, or
refused (``blocked:``, ``invalid:``: not ``rate-limited:``), is *withheld*, and not pushed again at the next
syncs, only asked for (a relay that withholds is sent each event once). The unit's sync row keeps it
(``samizdat status`` names the relay and what it withheld: "served the definition of <date>, not the newest of
<date>"), and :func:`prefer` puts the relay last among the channel's relays. A retraction of a post the relay
does not serve is not pushed: the relay either deleted the post (NIP-09) or never had it, and its readers see no
fake either way.

Cost (docs/benchmarks.md, "A mirror that withholds"): on the sync's own connection, at the first sync after this
node holds a new definition or amendment of the unit's channels, and every :data:`RECHECK_EVERY` seconds otherwise
(nothing in between: an area's check is tens of kB), one ``REQ`` of the unit's filters narrowed to definitions
(what readers ask), then one of at most :data:`MAX_IDS` ids (the definitions of at most :data:`CHANNELS` channels
of the unit that the first did not bring, then the newest amendments, :data:`AMENDS` a channel at most, each with
the post it amends), and one more for the ids that answer left out, should it have brought some (a relay caps its
answers); the relay answers with those events. The two are asked apart: in one ``REQ``, a relay answered the ids
with the newest definition and the filters with the old one, and passed. When something is missing: the events
pushed (about 1 kB each, once per relay while it withholds them) and the same question again.

A relay that knows this node's address (it publishes and syncs from there) can serve it the truth and its readers
the old definition. So when the node has another route to the relay than the sync's (a fallback, Tor, a relay's own
``via``: not with ``[sync] proxy``, the only route), :func:`_from_readers` asks through it the way readers ask
(never by id), on a second connection given :data:`READER_TIMEOUT` seconds, each time the check asks at all; what
the relay showed the node and not that route is withheld too (``readers`` rows: "served this node the newest
definition ..., and hid it from readers asking through another route"), and not pushed (it has it). The cost
doubles then (bench/withholding_readers.py). Not handled: a relay that recognises that route too (or serves no Tor
exit: a route that fails says nothing), one that lies by country or hour, a node with no other route, and a relay
this node never syncs with.

A failed sync keeps the last check's findings in its row (:func:`kept`): the relay stays named until a sync asks
it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from samizdat.core import kinds
from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter, matches_any
from samizdat.errors import RemoteProtocolError, TransportError
from samizdat.net.client import RelayClient
from samizdat.services import channels, relay_health
from samizdat.services.context import Context

log = logging.getLogger(__name__)

#: Retractions and corrections of one channel asked about in a sync, the newest.
AMENDS = 5
#: Channels of one unit (an area holds many) asked about in one sync; the next sync takes the next ones.
CHANNELS = 20
#: A channel's newest posts looked through here for its retractions and corrections.
POSTS = 500
#: Ids in the one ``REQ`` at most (67 bytes each on the wire): definitions first, then amendments with the posts
#: they amend, the newest first.
MAX_IDS = 100
#: Seconds before the same events are asked for again from the same relay for the same unit; events newly held
#: here (a new definition, a new retraction) are asked for at the next sync.
RECHECK_EVERY = 6 * 3600.0
#: Seconds the whole check is given (it never holds up the sync's result).
TIMEOUT = 30.0
#: Seconds the other route (see :func:`_from_readers`) is given to connect and answer: a Tor circuit and a TLS
#: handshake through it take several.
READER_TIMEOUT = 20.0
#: Definitions one answer may bring, at most (an area's channels).
DEFINITIONS = 500
#: Refusals that say nothing of the event (the relay is busy, or did not answer): sent again at the next check. A
#: relay that refuses the event otherwise (``blocked:``, ``invalid:`` ...) while it serves the older version or the
#: post is withholding it too, whatever its reason.
_PASSING = frozenset({"rate-limited", "error", ""})
#: Markers of an ``e`` tag that amend the post it names (docs/protocol.md, "Corrections", "Retractions").
_AMENDING = ("retraction", "correction")


@dataclasses.dataclass
class Check:
    """What one check found and cost: ``withheld`` rows for the sync row (see :func:`line`), ``pushed`` events,
    ``requests`` messages sent to the relay (``REQ`` and ``EVENT``), ``bytes`` on the wire both ways."""

    withheld: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    checked: list[str] = dataclasses.field(default_factory=list)  # the channels asked about
    pushed: int = 0
    requests: int = 0
    bytes: int = 0
    digest: str = ""  # of the ids asked about: the next check asks again at once only when they change
    at: float | None = None  # when they were last asked about
    readers_asked: bool = False  # asked again through another route (a reader's address)

    def summary(self) -> dict[str, Any]:
        return {"withheld": self.withheld, "withholding_checked": self.checked, "withholding_requests": self.requests,
                "withholding_pushed": self.pushed, "withholding_bytes": self.bytes,
                "withholding_digest": self.digest, "withholding_at": self.at,
                "withholding_readers_asked": self.readers_asked}  # fmt: skip


def _amended(event: Event) -> str | None:
    """The id of the post ``event`` retracts or corrects, or None."""
    if event.kind != kinds.POST:
        return None
    for tag in event.tags:
        if len(tag) >= 4 and tag[0] == "e" and tag[3] in _AMENDING:
            return tag[1]
    return None


def _what(event: Event) -> str:
    if event.kind == kinds.CHANNEL:
        return "definition"
    return next((t[3] for t in event.tags if len(t) >= 4 and t[0] == "e" and t[3] in _AMENDING), "event")


async def _held(ctx: Context, address: str, scope: Sequence[Filter]) -> tuple[Event | None, list[Event]]:
    """This node's newest definition of ``address`` and its newest amendments, those within ``scope`` only."""
    defs = await ctx.store.query([channels.definition_filter(address)])
    newest = max(defs, key=lambda e: (e.created_at, e.id), default=None)
    if newest is not None and not matches_any(list(scope), newest):
        newest = None
    posts = await ctx.store.query(
        [Filter(kinds=frozenset({kinds.POST}), tags=(("a", frozenset({address})),), limit=POSTS)]
    )
    amends = [e for e in posts if _amended(e) is not None and matches_any(list(scope), e)]
    amends.sort(key=lambda e: (e.created_at, e.id), reverse=True)
    return newest, amends[:AMENDS]


def _definition_filters(scope: Sequence[Filter]) -> list[dict[str, Any]]:
    """The unit's filters narrowed to channel definitions: what a reader of the unit gets as definitions."""
    out = []
    for f in scope:
        if (f.kinds is not None and kinds.CHANNEL not in f.kinds) or any(name == "a" for name, _ in f.tags):
            continue  # a channel's posts (``#a``): its definition is asked for by its own filter
        narrowed = dataclasses.replace(f, kinds=frozenset({kinds.CHANNEL}), limit=DEFINITIONS, ids=None)
        out.append(narrowed.to_dict())
    return out


async def _ask(
    client: RelayClient, wire: list[dict[str, Any]], wanted: set[str], result: Check
) -> tuple[set[str], dict[str, Event]]:
    """The ids among ``wanted`` the relay serves, and the newest definition it serves per address to the filters
    readers ask with (``wire`` without its ids filter): one ``REQ`` with those filters, one for the ids of
    ``wanted`` they did not bring, and, when that answer brought some of the ids and not all (many relays cap an
    answer's events), the rest asked again while answers bring more
    (:func:`~samizdat.services.relay_health.served_all`): an honest relay's cap does not make it a withholder.
    Counts the requests in ``result``."""
    served: set[str] = set()
    definitions: dict[str, Event] = {}
    # The readers' filters first, then by id what they did not bring: only what those filters bring is what readers
    # get. Asked in the same REQ as the ids, a relay answered the ids with the newest definition and the filters
    # with the old one, and the newer of the two was taken for what it serves: a relay that lied to readers alone
    # was cleared.
    as_readers = [f for f in wire if "ids" not in f]
    for by_id in (False, True):
        if by_id:
            left = sorted(wanted - served)
            part: list[dict[str, Any]] = [{"ids": left, "limit": len(left)}] if left else []
        else:
            part = as_readers
        if not part:
            continue
        result.requests += 1
        limit = 2 * len(wanted) + 10 if by_id else DEFINITIONS * len(part) + 10
        async for raw in client.stored(part, max_messages=limit):
            try:
                event = parse_event(raw)
            except RemoteProtocolError:
                continue
            if event.id in wanted:
                served.add(event.id)
            if event.kind == kinds.CHANNEL and not by_id:
                address = channels.address_of(event)
                if address not in definitions or definitions[address].created_at < event.created_at:
                    definitions[address] = event
    left = [i for i in wanted if i not in served]
    if served and left:
        result.requests += 1
        served |= await relay_health.served_all(client, left)
    return served, definitions


async def check(
    ctx: Context,
    client: RelayClient,
    addresses: Sequence[str],
    scope: Sequence[Filter],
    known: Collection[str] = (),
    last: Mapping[str, Any] | None = None,
) -> Check:
    """Ask ``client``'s relay (just synced with for ``scope``, the filters of the unit that serves ``addresses``,
    on the sync's own connection: no second handshake) for the newest definitions and amendments this node holds
    (see the module); push what it lacks, but not ``known`` (found withheld at an earlier sync: pushed then), and
    return what it accepted and still withholds. Nothing is asked when ``last`` (the previous check's
    :meth:`Check.summary` for this unit) asked for the same events less than :data:`RECHECK_EVERY` seconds ago:
    its findings are returned again. Raises
    TransportError, RemoteProtocolError or TimeoutError when the relay fails (the caller records nothing then)."""
    result = Check()
    ours: dict[str, Event] = {}  # id -> the event the relay should serve
    originals: dict[str, str] = {}  # amendment id -> the post it amends
    newest: dict[str, Event] = {}  # address -> our newest definition
    amendments: list[Event] = []
    turn = int(ctx.clock() // RECHECK_EVERY)  # the channels of a large unit in turn, a new turn every re-check
    start = turn * CHANNELS % len(addresses) if addresses else 0
    for address in [*addresses[start:], *addresses[:start]][:CHANNELS]:
        definition, amends = await _held(ctx, address, scope)
        if definition is not None or amends:
            result.checked.append(address)
        if definition is not None:
            newest[address] = ours.setdefault(definition.id, definition)
        amendments += amends
    amendments.sort(key=lambda e: (e.created_at, e.id), reverse=True)
    for event in amendments[: max(0, (MAX_IDS - len(ours)) // 2)]:
        ours[event.id] = event
        originals[event.id] = _amended(event) or ""
    if not ours:
        return result
    result.digest = hashlib.sha256(" ".join(sorted(ours)).encode()).hexdigest()
    result.at = ctx.clock()
    last = last or {}
    at = last.get("withholding_at")
    if (
        last.get("withholding_digest") == result.digest
        and isinstance(at, int | float)
        and at + RECHECK_EVERY > ctx.clock()
    ):
        result.at = float(at)
        result.withheld = [r for r in last.get("withheld") or () if isinstance(r, dict)]
        result.checked = [str(a) for a in last.get("withholding_checked") or ()]
        return result  # nothing new here since the last check, a while ago
    began = client.bytes_in + client.bytes_out
    wanted = {*ours, *originals.values()}
    wire = [{"ids": sorted(wanted), "limit": len(wanted)}, *_definition_filters(scope)]
    accepted = set(known)
    refused: dict[str, str] = {}
    async with asyncio.timeout(TIMEOUT):
        served, definitions = await _ask(client, wire, wanted, result)
        still = _lacking(ours, originals, newest, served, definitions)
        push = [ours[i] for i in still if i not in known]
        for event_id in still:  # the deletion request that came with an author's own retraction
            if event_id in originals:
                push += await ctx.store.query(
                    [Filter(kinds=frozenset({kinds.DELETION}), tags=(("e", frozenset({originals[event_id]})),))]
                )
        push = list({e.id: e for e in push}.values())
        if push:
            answers = await client.publish_many(push)
            result.requests += len(push)
            result.pushed = len(push)
            accepted |= {a.event_id for a in answers if a.accepted}
            refused = {a.event_id: a.message for a in answers if not a.accepted and a.prefix not in _PASSING}
            served, definitions = await _ask(client, wire, wanted, result)
            still = _lacking(ours, originals, newest, served, definitions)
    result.bytes = client.bytes_in + client.bytes_out - began
    for event_id in still:
        if event_id not in accepted and event_id not in refused:
            continue  # no answer, or "rate-limited:": pushed again at the next check
        result.withheld.append(_row(ours[event_id], definitions, refused.get(event_id)))
    # What the relay showed this node, asked again through another route: a relay may know the node's address
    # (it publishes and syncs from it) and show its readers less.
    shown = {i: e for i, e in ours.items() if i not in still}
    if shown and client.route is not None:
        hidden = await _from_readers(ctx, client, scope, shown, originals, newest, result)
        result.withheld += [_row(event, definitions, None, readers=True) for event, definitions in hidden]
    if result.withheld:
        log.info("%s does not serve %d events a reader needs, after they were sent", client.url, len(result.withheld))
    return result


def _row(
    event: Event, definitions: Mapping[str, Event], refused: str | None, *, readers: bool = False
) -> dict[str, Any]:
    """A withheld row for ``event``: ``definitions`` the newest the relay served per address; ``readers``: it
    served ``event`` to this node and not through another route (to its readers)."""
    address = channels.address_of(event) if event.kind == kinds.CHANNEL else next(iter(event.tag_values("a")), "")
    old = definitions.get(address)
    return {
        "channel": address,
        "what": _what(event),
        "event": event.id,
        "newest": event.created_at,
        "served": old.created_at if event.kind == kinds.CHANNEL and old is not None else None,
        **({"refused": refused[:200]} if refused is not None else {}),
        **({"readers": True} if readers else {}),
    }


async def _from_readers(
    ctx: Context,
    client: RelayClient,
    scope: Sequence[Filter],
    shown: dict[str, Event],
    originals: dict[str, str],
    newest: dict[str, Event],
    result: Check,
) -> list[tuple[Event, dict[str, Event]]]:
    """Of ``shown`` (what ``client``'s relay served this node), what it leaves out when asked the way readers ask
    (the unit's filters narrowed to definitions; each amendment and the post it amends by its area or channel,
    within the second it is dated: :func:`~samizdat.services.relay_health._as_a_reader`, never by id, which no
    reader does) through another route to it than ``client``'s (a fallback, Tor: another address, one that never
    published there), each with the definitions served that way. Nothing when no other route connects and
    answers within :data:`READER_TIMEOUT` seconds: a route blocked here, or a relay that serves no Tor exit, says
    nothing about hiding. Counts the other connection's requests and bytes in ``result``."""
    amends = {i: e for i, e in shown.items() if i in originals}
    posts = await ctx.store.query([Filter(ids=frozenset(originals[i] for i in amends), limit=len(amends))])
    wires = _definition_filters(scope)
    for event in [*amends.values(), *posts]:
        wire = relay_health._as_a_reader(event)
        if wire is not None:
            wires.append(wire)
    served: set[str] = set()
    definitions: dict[str, Event] = {}
    other: RelayClient | None = None
    try:
        async with asyncio.timeout(READER_TIMEOUT):
            other = await relay_health.other_route(ctx, client, READER_TIMEOUT)
            result.readers_asked = True
            for start in range(0, len(wires), relay_health.READER_FILTERS):
                result.requests += 1
                part = wires[start : start + relay_health.READER_FILTERS]
                limit = DEFINITIONS * len(part) + relay_health.READER_ANSWER
                async for raw in other.stored(part, max_messages=limit, timeout=READER_TIMEOUT):
                    try:
                        event = parse_event(raw)
                    except RemoteProtocolError:
                        continue
                    served.add(event.id)
                    if event.kind == kinds.CHANNEL:
                        address = channels.address_of(event)
                        if address not in definitions or definitions[address].created_at < event.created_at:
                            definitions[address] = event
    except (TransportError, RemoteProtocolError, TimeoutError, OSError) as exc:
        log.debug("could not ask %s through another route: %s", client.url, exc)
        return []
    finally:
        if other is not None:
            result.bytes += other.bytes_in + other.bytes_out
            await other.close()
    lacking = _lacking(
        shown,
        {i: o for i, o in originals.items() if i in shown},
        {a: e for a, e in newest.items() if e.id in shown},
        served,
        definitions,
    )
    return [(shown[i], definitions) for i in lacking]


def _lacking(
    ours: dict[str, Event],
    originals: dict[str, str],
    newest: dict[str, Event],
    served: set[str],
    definitions: dict[str, Event],
) -> list[str]:
    """Of ``ours``, what the relay should serve and did not: a newest definition it did not serve by id or in
    place of which it served an older one; an amendment of a post it serves."""
    out = []
    for address, definition in newest.items():
        shown = definitions.get(address)
        older = shown is not None and shown.id != definition.id and shown.created_at <= definition.created_at
        if definition.id not in served or older:
            out.append(definition.id)
    for amend, original in originals.items():
        if original in served and amend not in served:
            out.append(amend)
    return out


def line(row: dict[str, Any], name: str, when: Any) -> str:
    """One withheld row as a sentence: ``name`` the channel's, ``when`` formats a time."""
    if row.get("readers"):
        what = "newest definition" if row.get("what") == "definition" else str(row.get("what", "event"))
        instead = f" (they get the one of {when(row['served'])})" if row.get("served") else ""
        return (
            f"served this node the {what} of {when(row['newest'])} in {name}, and hid it from readers asking "
            f"through another route{instead}"
        )
    if row.get("refused"):
        what = "newest definition" if row.get("what") == "definition" else str(row.get("what", "event"))
        return f'refused the {what} of {when(row["newest"])} in {name} ("{row["refused"]}")'
    if row.get("what") == "definition":
        if row.get("served"):
            return f"served the definition of {name} of {when(row['served'])}, not the newest of {when(row['newest'])}"
        return f"did not serve the newest definition of {name}, of {when(row['newest'])}"
    return f"left out the {row.get('what', 'event')} of {when(row['newest'])} in {name}, though it serves the post"


def kept(row: Any) -> dict[str, Any]:
    """Of a sync row (or None), the last check's findings (its summary's ``withh...`` keys), for a sync that fails
    or brings nothing to keep in the row it writes: a mirror that withholds stays named until a sync asks it
    again."""
    summary = getattr(row, "summary", None)
    return {k: v for k, v in summary.items() if k.startswith("withh")} if isinstance(summary, dict) else {}


def withholding(ctx: Context) -> dict[str, list[dict[str, Any]]]:
    """Relay -> what it withheld, per channel as the relay's latest sync that asked about the channel found it
    (the sync rows' summaries: a channel read by channel and later by area has a row of each kind)."""
    latest: dict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = {}
    for row in ctx.local.sync_rows():
        checked, rows = row.summary.get("withholding_checked"), row.summary.get("withheld")
        if not isinstance(checked, list) or not isinstance(rows, list) or row.last_success is None:
            continue
        for address in checked:
            found = [r for r in rows if isinstance(r, dict) and r.get("channel") == address]
            if latest.get((row.relay, str(address)), (-1.0, []))[0] < row.last_success:
                latest[(row.relay, str(address))] = (row.last_success, found)
    out: dict[str, list[dict[str, Any]]] = {}
    for (relay, _), (_, found) in sorted(latest.items()):
        if found:
            out.setdefault(relay, []).extend(found)
    return out


def prefer(withheld: dict[str, list[dict[str, Any]]], address: str, relays: Sequence[str]) -> list[str]:
    """``relays`` of the channel at ``address``, those that withheld its events (``withheld``, from
    :func:`withholding`) last, their order kept."""
    bad = {relay for relay, rows in withheld.items() if any(r.get("channel") == address for r in rows)}
    return [r for r in relays if r not in bad] + [r for r in relays if r in bad]
