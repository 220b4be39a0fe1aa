"""A hub that only carries a channel, flooded until its carry quota drops the channel's newest definition, must not
take an older one back: readers served by it would see an admin the owner removed as an admin again. The store
remembers the dropped version's floor; the dropped version and newer ones are welcome again at once."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from store_helpers import NOW, Author

from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.channel import Channel, build_channel_event, current_channel, parse_channel, remove_admin
from samizdat.core.event import Event
from samizdat.core.posts import build_post
from samizdat.core.thread import post_verdict
from samizdat.services.channels import definition_filter
from samizdat.store import carry
from samizdat.store.base import AddOutcome
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

DAY = 86400
PAD = "x" * 400
HUB = KeepRules()  # the hub neither owns nor follows the town's channel: it only carries it


def news(author: Author, where: Channel, created_at: int) -> Event:
    return build_post(author.key, where, "news", f"news {PAD}", created_at=created_at)


async def readers_see(store: SqliteStore, address: str) -> Channel | None:
    """The channel as readers served by this node look it up (services.channels.lookup)."""
    return current_channel(await store.query([definition_filter(address)]), address)


async def flood_until_gone(store: SqliteStore, flooder: Author, event: Event) -> None:
    """Waves of valid posts in a channel of the flooder's own, each followed by the carry pass (as the node's upkeep
    runs it), until ``event`` is dropped; at most 5 waves. The quota holds one wave."""
    own = parse_channel(build_channel_event(flooder.key, "mine", "Mine", created_at=NOW - DAY))
    quota = None
    for wave in range(5):
        before = await store.carried_bytes(HUB)
        posts = [news(flooder, own, NOW - 1000 + 100 * wave - i) for i in range(20)]
        await store.add_many([own.event, *posts])
        quota = quota or await store.carried_bytes(HUB) - before
        await store.enforce_carry_quota(HUB, quota)
        if not await store.has([event.id]):
            return
    raise AssertionError("the flood did not push the definition out")


def marks(path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_an_older_definition_is_refused_after_the_newest_was_dropped(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock)
    owner, admin, flooder = Author(), Author(), Author()
    v1 = build_channel_event(owner.key, "town", "Town", created_at=NOW - 30 * DAY, admins={admin.pubkey: "admin"})
    town_v1 = parse_channel(v1)
    v2 = remove_admin(owner.key, town_v1, admin.pubkey, created_at=NOW - 2 * 3600)  # the admin's key was seized
    address = town_v1.address
    try:
        by_police = news(admin, town_v1, NOW - 600)  # posted with the seized key after its removal
        assert await store.add_many([v1, v2, news(owner, town_v1, NOW - 3 * 3600), by_police]) == [
            AddOutcome.STORED,
            AddOutcome.STORED,
            AddOutcome.STORED,
            AddOutcome.STORED,
        ]
        await flood_until_gone(store, flooder, v2)
        # Anyone may replay v1, by every door (a relay's EVENT and a peer's push are add; sync and bundles add_many).
        assert await store.add(v1) is AddOutcome.OUTDATED
        assert await store.add_many([v1]) == [AddOutcome.OUTDATED]
        seen = await readers_see(store, address)
        assert seen is None or admin.pubkey not in seen.admins, "readers see the removed admin as an admin again"
    finally:
        await store.close()


async def test_the_dropped_definition_is_welcome_back_at_once(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock)
    owner, admin, flooder = Author(), Author(), Author()
    v1 = build_channel_event(owner.key, "town", "Town", created_at=NOW - 30 * DAY, admins={admin.pubkey: "admin"})
    town_v1 = parse_channel(v1)
    v2 = remove_admin(owner.key, town_v1, admin.pubkey, created_at=NOW - 2 * 3600)
    address = town_v1.address
    try:
        by_police = news(admin, town_v1, NOW - 600)
        await store.add_many([v1, v2, news(owner, town_v1, NOW - 3 * 3600), by_police])
        await flood_until_gone(store, flooder, v2)
        # The newest definition comes back from a mirror or a peer: welcome at once, not "dropped, a duplicate".
        assert await store.add(v2) is AddOutcome.STORED
        seen = await readers_see(store, address)
        assert seen is not None
        assert seen.event.id == v2.id
        assert admin.pubkey not in seen.admins
        assert not post_verdict(by_police, seen, NOW).ok
        assert await store.add(v1) is AddOutcome.OUTDATED
    finally:
        await store.close()


async def test_the_dropped_version_and_newer_ones_are_welcome_and_never_refused(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock)
    owner, admin, flooder = Author(), Author(), Author()
    v1 = build_channel_event(owner.key, "town", "Town", created_at=NOW - 30 * DAY, admins={admin.pubkey: "admin"})
    v2 = remove_admin(owner.key, parse_channel(v1), admin.pubkey, created_at=NOW - 2 * 3600)
    v3 = build_channel_event(owner.key, "town", "Town of Brest", created_at=NOW - 3600)
    try:
        await store.add_many([v1, v2])
        await flood_until_gone(store, flooder, v2)
        # A version newer than the dropped one is stored at once, through the batch path as well.
        assert await store.add_many([v3]) == [AddOutcome.STORED]
        assert (seen := await readers_see(store, parse_channel(v3).address)) is not None
        assert seen.event.id == v3.id
        assert await store.add(v2) is AddOutcome.OUTDATED  # now v3 is stored, v2 is just older
        # A floor lasts longer than a dropped id, and never hides the slot's newest: after 25 days v1 is still
        # refused while v2 is welcome.
        await flood_until_gone(store, flooder, v3)
        clock.advance(25 * DAY)
        await store.prune_evicted(HUB)
        assert await store.add_many([v1, v2]) == [AddOutcome.OUTDATED, AddOutcome.OUTDATED]
        assert await store.add(v3) is AddOutcome.STORED
    finally:
        await store.close()


async def test_a_definition_goes_only_with_the_posts_that_need_it(tmp_path: Path) -> None:
    """A channel defined two months ago, with this morning's news: a flood of yesterday's valid posts in the
    flooder's own channels takes its own older posts first, never the town's definition (without it every town
    post would be junk at the next pass, and the node would take back any older definition)."""
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock(NOW))
    owner, flooder = Author(), Author()
    town = parse_channel(build_channel_event(owner.key, "town", "Town", created_at=NOW - 60 * DAY))
    own = parse_channel(build_channel_event(flooder.key, "mine", "Mine", created_at=NOW - 2 * DAY))
    try:
        morning = news(owner, town, NOW - 3600)
        flood = [news(flooder, own, NOW - DAY - i) for i in range(20)]
        await store.add_many([town.event, morning, own.event, *flood])
        carried = await store.carried_bytes(HUB)
        report = await store.enforce_carry_quota(HUB, carried - 3 * len(flood[0].to_json()))
        assert report.evicted >= 3
        assert await store.has([town.event.id, morning.id]) == {town.event.id, morning.id}
        assert len(await store.has([e.id for e in flood])) < len(flood)
    finally:
        await store.close()


async def test_the_memory_of_floors_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flooder can make millions of addressable slots; their floors are kept like dropped ids, the newest
    ``evicted_limit`` of them, and the floor of a definition that counted as valid goes last."""
    monkeypatch.setattr(carry, "EVICTED_MIN", 30)
    path = tmp_path / "events.sqlite"
    store = await SqliteStore.open(path, clock=FakeClock(NOW))
    owner, flooder = Author(), Author()
    v1 = build_channel_event(owner.key, "town", "Town", created_at=NOW - 30 * DAY)
    v2 = build_channel_event(owner.key, "town", "Town", created_at=NOW - 2 * DAY, about="moved")
    try:
        town = parse_channel(v2)
        await store.add_many([v1, v2, news(owner, town, NOW - DAY)])
        await store.enforce_carry_quota(HUB, 0)  # the town's post and its definition go together, as valid
        assert not await store.has([v2.id])
        slots = [
            flooder.sign(kinds.CHANNEL, "", [["d", f"s{i}"], ["name", "S"]], created_at=NOW - i) for i in range(200)
        ]
        for start in range(0, len(slots), 50):
            await store.add_many(slots[start : start + 50])
            await store.enforce_carry_quota(HUB, 0)
        assert marks(path, "slot_floors") <= 30
        assert await store.add(v1) is AddOutcome.OUTDATED, "a flood of slots made the node forget the floor"
    finally:
        await store.close()
