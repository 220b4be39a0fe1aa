"""Private reading: what background sync asks each relay for, so that a relay learns areas, not followed channels.

Theory of operation. A relay sees every filter a node sends. Asking for ``{"#a": [channel]}`` tells it which
channel this node follows; asking for ``{"kinds": [...], "#g": ["u9ed"]}`` tells it only that the node reads
the area ``u9ed`` (about 20 x 40 km). Posts carry their channel's area tags (core/geohash.py, docs/protocol.md
"Area tags"), and channel definitions carry ``g`` tags for every prefix of their geohash, so one area filter
brings every channel of the area: its definitions, posts, corrections, retractions, deletion requests and vouches.

:func:`plan` turns the followed and own channels into :class:`Unit`\\ s, each one (relay, scope) row of the local
sync state:

* ``area:<cell>``: the channels whose geohash lies in the 4-character cell, fetched whole, within the byte
  budget (``[sync] area_budget_mb``). An area over the budget is not fetched and the status says so; it is never
  quietly fetched by channel instead. The person chooses: a larger budget, or ``samizdat areas by-channel CELL``.
* ``before-areas:<address>``: once per (relay, channel), the channel's events from before area tags existed
  (:data:`AREA_TAGS_SINCE`) by channel (``[sync] old_by_channel``); that relay learns the follow.
* ``<address>``: by channel, as before private reading, with a reason in :attr:`Unit.note`: the channel has no
  area (no geohash, or one shorter than 3 characters), its definition has not arrived yet, the person chose it
  for the area, or ``[sync] private = false``.

Events of channels the node does not follow, which an area brings too, are stored like any carried event: under
the carry quota (``[carry] max_mb``), the oldest of them dropped first and never fetched again (``unwanted``).
Dropping them at once would re-download them at every pass (the relay offers them again), and keeping them
means a seized store holds the whole area, not just the channels its owner follows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from samizdat.core import geohash as gh
from samizdat.core import kinds
from samizdat.core.filters import Filter
from samizdat.errors import UsageError
from samizdat.services import channels
from samizdat.services.context import Context

#: Kinds an area filter asks for: everything an author's client signs for a channel, with area tags.
AREA_KINDS = frozenset({kinds.POST, kinds.DELETION, kinds.CHANNEL, kinds.LABEL})
#: When clients began writing area tags (2026-12-01 00:00 UTC): older posts are found only by channel.
AREA_TAGS_SINCE = 1_796_083_200
AREA_PREFIX = "area:"
BEFORE_PREFIX = "before-areas:"


def area_filter(cell: str) -> Filter:
    """The one filter an area is fetched with: every event kind of a channel, tagged with the cell."""
    return Filter(kinds=AREA_KINDS, tags=(("g", frozenset({cell})),))


@dataclass(frozen=True)
class Unit:
    """One scope of the sync schedule: what is asked of each of ``relays`` and why."""

    scope: str  # the local sync state's key: "area:<cell>", "before-areas:<address>" or an address
    relays: tuple[str, ...]
    filters: tuple[Filter, ...]
    channels: tuple[str, ...]  # the followed/own channels it serves
    cell: str | None = None  # for an area
    once: bool = False  # done once per relay, then never again (posts from before area tags)
    note: str = ""  # why a channel is fetched by channel (what the relay learns), for the status


@dataclass
class Plan:
    units: list[Unit] = field(default_factory=list)

    def areas(self) -> list[Unit]:
        return [u for u in self.units if u.cell is not None]

    def notes(self) -> list[str]:
        return list(dict.fromkeys(u.note for u in self.units if u.note))


def _before(filters: list[Filter]) -> tuple[Filter, ...]:
    return tuple(dataclasses.replace(f, until=AREA_TAGS_SINCE - 1) for f in filters)


async def plan(ctx: Context, wanted: dict[str, list[str]]) -> Plan:
    """The units that keep ``wanted`` (channel address -> relays) in step (see the module)."""
    out = Plan()
    by_channel = ctx.local.by_channel_areas()
    areas: dict[str, tuple[dict[str, None], list[str]]] = {}
    for address, relays in wanted.items():
        channel = await channels.lookup(ctx, address)
        name = address.split(":", 2)[2]
        if not ctx.config.sync_private:
            filters = await channels.scope_of(ctx, address)
            out.units.append(Unit(address, tuple(relays), tuple(filters), (address,)))
            continue
        if channel is None:
            note = (f"channel {name}: its definition has not arrived, so it is fetched by channel (its relays learn "
                    "that you follow it) until it has")  # fmt: skip
            filters = channels.scope_from_address(address)
            out.units.append(Unit(address, tuple(relays), tuple(filters), (address,), note=note))
            continue
        cell = gh.area_cell(channel.geohash)
        if cell is None:
            note = (f"channel {name} has no area (no place, or a whole country): it is fetched by channel, so its "
                    "relays learn that you follow it")  # fmt: skip
            out.units.append(Unit(address, tuple(relays), tuple(channels.scope(channel)), (address,), note=note))
            continue
        if cell in by_channel:
            note = (f"area {cell}: fetched channel by channel, as you chose (`samizdat areas whole {cell}` to undo), "
                    "so its relays learn which channels you follow there")  # fmt: skip
            out.units.append(Unit(address, tuple(relays), tuple(channels.scope(channel)), (address,), note=note))
            continue
        hosts, members = areas.setdefault(cell, ({}, []))
        hosts.update(dict.fromkeys(relays))
        members.append(address)
        if ctx.config.old_by_channel:
            old = _before(channels.scope(channel))
            out.units.append(Unit(BEFORE_PREFIX + address, tuple(relays), old, (address,), once=True))
    for cell, (hosts, members) in sorted(areas.items()):
        out.units.append(Unit(AREA_PREFIX + cell, tuple(hosts), (area_filter(cell),), tuple(members), cell=cell))
    return out


def over_budget_line(cell: str, relay: str, estimate: int, at_least: bool, budget_mb: float) -> str:
    """The status line of an area too large to fetch: what it costs and what the person can do."""
    size = f"more than {estimate / 1e6:.0f} MB" if at_least else f"about {max(1, round(estimate / 1e6))} MB"
    return (
        f"area {cell} at {relay} is {size}, over the {budget_mb:g} MB budget, so it was not fetched: raise [sync] "
        f"area_budget_mb in config.toml, or fetch its channels one by one with `samizdat areas by-channel {cell}` "
        "(the relay then learns which channels you follow there)"
    )


def choose_by_channel(ctx: Context, cell: str, on: bool) -> bool:
    """Fetch the area ``cell`` channel by channel (``on``) or whole again. Raises UsageError for a cell that is
    not an area (a geohash of 3 or 4 characters)."""
    if not gh.is_geohash(cell) or len(cell) not in gh.AREA_LENGTHS:
        raise UsageError(f"{cell[:20]!r} is not an area: give its geohash cell of 3 or 4 characters, e.g. u9ed.")
    return ctx.local.set_by_channel(cell, on, ctx.clock())
