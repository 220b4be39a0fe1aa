"""A node that follows a channel keeps it whatever its carry quota, but not without end: once the store is over
the quota, each author of the channel keeps their newest part of it (core/carry.py ``followed_excess``). A turned
admin's flood of 3,000 posts loses its oldest; the owner's alerts, another admin's posts and the node's own stay;
and a peer that brings the dropped posts again is told "duplicate", even after the purge pass forgets the drops of
followed channels. Real SQLite store, real carry pass."""

from __future__ import annotations

from pathlib import Path

from store_helpers import NOW, Author

from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event
from samizdat.store.base import AddOutcome
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

PAD = "x" * 800
FLOOD = 3000  #: some 2.8 MB: nearly three times what one author keeps under the 1 MB quota below
QUOTA = 1_000_000  #: the carry quota; each author of a followed channel keeps 1 MB at least (core/carry.py)


def post(author: Author, address: str, created_at: int, n: int, kind: str = "alert") -> Event:
    tags = [["a", address, ""], ["type", kind], ["location", f"Exit {n}"]]
    return author.sign(kinds.POST, f"Police vans {n} {PAD}", tags, created_at=created_at)


async def test_a_followed_channels_flood_loses_its_oldest_and_nothing_else(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    owner, admin, turned, me = Author(), Author(), Author(), Author()
    roles = {turned.pubkey: "admin", admin.pubkey: "admin", me.pubkey: "editor"}
    definition = build_channel_event(owner.key, "town", "Town", created_at=NOW - 30 * 86400, admins=roles)
    town = parse_channel(definition)
    rules = KeepRules.of([me.pubkey], [town.address], [])
    try:
        owners = [post(owner, town.address, NOW - 3 * 3600 - 60 * i, i) for i in range(20)]
        admins = [post(admin, town.address, NOW - 7200 - 60 * i, i, "news") for i in range(50)]
        mine = [post(me, town.address, NOW - 100 * 86400 + i, i, "news") for i in range(1200)]  # over the bound too
        flood = [post(turned, town.address, NOW - FLOOD + i, i) for i in range(FLOOD)]
        await store.add_many([definition, *owners, *admins, *mine, *flood])
        report = await store.enforce_carry_quota(rules, quota=QUOTA)
        kept_flood = await store.has([e.id for e in flood])
        assert len(await store.has([e.id for e in owners])) == len(owners)
        assert len(await store.has([e.id for e in admins])) == len(admins)
        assert len(await store.has([e.id for e in mine])) == len(mine)
        assert await store.has([definition.id])
        per_post = len(flood[0].to_json())
        assert FLOOD // 4 < len(kept_flood) <= QUOTA // per_post  # its newest, within the bound
        assert {e.id for e in flood[-len(kept_flood) :]} == kept_flood
        assert report.evicted == FLOOD - len(kept_flood)
        # A peer brings the flood again: still refused after the purge pass forgets the followed channel's drops.
        await store.prune_evicted(rules)
        assert await store.add(flood[0]) is AddOutcome.DUPLICATE
    finally:
        await store.close()


async def test_a_followed_channel_under_the_bound_keeps_everything(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    owner, admin = Author(), Author()
    definition = build_channel_event(owner.key, "town", "Town", created_at=NOW - 30 * 86400,
                                     admins={admin.pubkey: "admin"})  # fmt: skip
    town = parse_channel(definition)
    try:
        posts = [post(admin, town.address, NOW - 60 * i, i, "news") for i in range(500)]
        await store.add_many([definition, *posts])
        report = await store.enforce_carry_quota(KeepRules.of([], [town.address], []), quota=1000)
        assert report.evicted == 0
        assert len(await store.has([e.id for e in posts])) == len(posts)
    finally:
        await store.close()
