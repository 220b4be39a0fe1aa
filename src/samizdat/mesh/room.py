"""Which kept LAN nodes make room for a newcomer when the tables are full. Pure: the caller says what each
node's links did and gives the time.

Anyone on the Wi-Fi can announce as many nodes as a node keeps (:data:`~samizdat.mesh.announcements.MAX_ANNOUNCED`)
and make each of them really answer: a relay with an empty store completes every reconciliation. Nothing in a peer
link proves who answers, so "its link works" is no reason to keep a node for ever. What a device cannot make up is
news: events that this node did not have, that passed every door's limits and that the store took as new
(:attr:`~samizdat.store.base.AddOutcome.STORED`). An echo of what this node sent is a duplicate, one it dropped
before is not fetched again, so neither counts. So a kept node earns its place by what it brought, and:

1. a node none of whose links (or pulls) has finished a reconciliation for :data:`FAILING_FOR` seconds goes first,
   the longest failing first (it does not work);
2. then a node that works but has brought nothing new for :data:`QUIET_FOR` seconds, counted from its first
   finished reconciliation or the last new event it brought: first those that never brought anything, the longest
   quiet first, then those that brought something long ago, the least lately first;
3. the :data:`RESERVED` nodes that brought something new most lately, within :data:`USEFUL_FOR`, never go for
   being quiet: a neighbour that brought the morning's news keeps its link through a quiet afternoon, however
   many newcomers there are. Only part of the room is reserved, so the rest always turns over and a newcomer is
   let in within :data:`QUIET_FOR` of the room filling up.

A node not tried yet, one whose link has not finished its first reconciliation (and not failed for long), and one
that brought something new in the last :data:`QUIET_FOR` seconds is never named. Only a full table asks, so two
quiet neighbours on a LAN with room keep their link for good.

What this cannot tell apart by itself: new events are cheap to make. Posts signed by fresh keys, or in a channel
the sender defined himself, pass every door (the carry quota drops them first, later), so a device that sends new
junk from each of its nodes counts as bringing something. The caller says which new events count
(mesh/link.py ``Valued``): a node that follows channels counts only their keys' (services/lan_news.py), and there
such junk brings nothing. On a node that follows nothing it holds the reserved part at most; the rest of the room
still turns over, each newcomer keeping its place for :data:`QUIET_FOR` at least.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from samizdat.mesh.announcements import FAILING_FOR, MAX_ANNOUNCED

#: Seconds a node that works may bring nothing new before a newcomer may take its place (when there is no room).
#: Long enough for a newcomer's first reconciliation and the posts of a few minutes to cross both ways; short
#: enough that a neighbour arriving at a room full of quiet made-up nodes waits minutes, not hours.
QUIET_FOR = 300.0
#: Seconds a node that brought something new keeps a reserved place (one of RESERVED) without bringing more.
USEFUL_FOR = 6 * 3600.0
#: Kept nodes whose place is reserved for what they brought lately: half the room, so the other half turns over.
RESERVED = MAX_ANNOUNCED // 2


@dataclass(frozen=True, slots=True)
class Track:
    """What one link (or the pulls from one address) of a node did, in the caller's clock's seconds."""

    failing_since: float | None  # since when it has not worked (None: it works now)
    worked_since: float | None  # when it first finished a reconciliation (None: never)
    brought_at: float | None  # when it last stored an event that was new here (None: never)


def replaceable(
    nodes: Mapping[str, Iterable[Track]],
    now: float,
    *,
    failing_for: float = FAILING_FOR,
    quiet_for: float = QUIET_FOR,
    useful_for: float = USEFUL_FOR,
    reserved: int = RESERVED,
) -> list[str]:
    """The nodes (instance ids) that may make room for a newcomer, the first to go first (see the module's
    docstring). ``nodes`` gives each kept node's tracks, one per address; a node without any is not named.
    O(n log n) in the number of nodes."""
    failing: dict[str, float] = {}
    quiet: dict[str, tuple[float, float]] = {}  # instance -> (when it last brought something, since when quiet)
    useful: dict[str, float] = {}
    for instance, tracks in nodes.items():
        tracks = list(tracks)
        if not tracks:
            continue
        since = [t.failing_since for t in tracks]
        if None not in since:
            latest = max(s for s in since if s is not None)
            if now - latest >= failing_for:
                failing[instance] = latest
                continue
        worked = min((t.worked_since for t in tracks if t.worked_since is not None), default=None)
        if worked is None:
            continue  # not tried yet, or not failing for long: it has its chance first
        brought = max((t.brought_at for t in tracks if t.brought_at is not None), default=-math.inf)
        if now - brought < useful_for:
            useful[instance] = brought
        quiet_since = max(worked, brought)
        if now - quiet_since >= quiet_for:
            quiet[instance] = (brought, quiet_since)
    keep = set(sorted(useful, key=useful.__getitem__, reverse=True)[: max(0, reserved)])
    rotating = [i for i in quiet if i not in keep]
    return [*sorted(failing, key=failing.__getitem__), *sorted(rotating, key=quiet.__getitem__)]
