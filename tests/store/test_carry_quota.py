"""The carry quota on a real SQLite store: followed channels stay, alerts outlive news, drops are remembered for
a while but never shut out a genuine post for good."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from pathlib import Path

from store_helpers import NOW, Author

from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.channel import Channel, build_channel_event, parse_channel, remove_admin
from samizdat.core.event import Event
from samizdat.core.posts import build_post
from samizdat.store import carry
from samizdat.store.base import AddOutcome
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

PAD = "x" * 400


def post(author: Author, address: str, post_type: str, created_at: int) -> Event:
    """A post as raw tags: valid only where a definition allows its author (or kept by address regardless)."""
    tags = [["a", address], ["type", post_type]]
    return author.sign(kinds.POST, f"{post_type} {PAD}", tags, created_at=created_at)


def channel(owner: Author, name: str) -> Channel:
    return parse_channel(build_channel_event(owner.key, name, name.title(), created_at=NOW - 30 * 86400))


def genuine(author: Author, where: Channel, post_type: str, created_at: int) -> Event:
    """A post its channel allows (an alert lives three days, so yesterday's still counts)."""
    text = f"{post_type} {PAD}"
    if post_type == "alert":
        return build_post(author.key, where, "alert", text, created_at=created_at, location="Market",
                          expiration=created_at + 3 * 86400)  # fmt: skip
    return build_post(author.key, where, post_type, text, created_at=created_at)


async def test_quota_keeps_followed_and_own_and_drops_lowest_ranked_carried(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    me, owner, stranger = Author(), Author(), Author()
    followed = f"{kinds.CHANNEL}:{owner.pubkey}:town"
    elsewhere = channel(stranger, "elsewhere")
    other = elsewhere.address
    try:
        kept = [post(owner, followed, "news", NOW - 3000 - i) for i in range(50)]
        mine = [me.sign(1, f"note {i} {PAD}", created_at=NOW - 5000 - i) for i in range(20)]
        old_news = [genuine(stranger, elsewhere, "news", NOW - 7200 - i) for i in range(40)]
        alerts = [genuine(stranger, elsewhere, "alert", NOW - 86400 - i) for i in range(10)]
        fresh_news = [genuine(stranger, elsewhere, "news", NOW - 60 - i) for i in range(10)]
        await store.add_many([elsewhere.event, *kept, *mine, *old_news, *alerts, *fresh_news])
        rules = KeepRules.of([me.pubkey], [followed], [])

        carried = await store.carried_bytes(rules) - len(elsewhere.event.to_json())
        per_event = carried // 60
        report = await store.enforce_carry_quota(rules, quota=25 * per_event)

        assert report.evicted >= 35
        assert report.used is not None
        assert report.used <= 25 * per_event
        have = await store.has([e.id for e in [*kept, *mine, *old_news, *alerts, *fresh_news]])
        assert {e.id for e in kept} <= have, "a followed channel's post was dropped"
        assert {e.id for e in mine} <= have, "an own event was dropped"
        assert {e.id for e in alerts} <= have, "alerts from yesterday must outlive news from two hours ago"
        assert {e.id for e in fresh_news} <= have
        assert await store.has([elsewhere.event.id]), "the definition its posts need was dropped"
        dropped = [e for e in old_news if e.id not in have]
        assert len(dropped) >= 30
        # The oldest news went first.
        assert {e.id for e in dropped} == {e.id for e in sorted(old_news, key=lambda e: e.created_at)[: len(dropped)]}

        ids = [bytes.fromhex(e.id) for e in [*dropped, *kept[:3]]]
        assert await store.evicted_among(ids) == {bytes.fromhex(e.id) for e in dropped}
        assert await store.forget_evicted(other) == len(dropped)
        assert await store.evicted_among(ids) == set()
    finally:
        await store.close()


async def test_a_store_within_quota_is_not_scanned_or_touched(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    stranger = Author()
    try:
        events = [post(stranger, f"{kinds.CHANNEL}:{stranger.pubkey}:c", "news", NOW - i) for i in range(20)]
        await store.add_many(events)
        report = await store.enforce_carry_quota(KeepRules(), quota=10_000_000)
        assert report.used is None
        assert report.evicted == 0
        assert len(await store.has([e.id for e in events])) == 20
    finally:
        await store.close()


async def test_quota_zero_keeps_only_what_the_rules_keep(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    owner, stranger = Author(), Author()
    followed = f"{kinds.CHANNEL}:{owner.pubkey}:town"
    try:
        definition = owner.sign(kinds.CHANNEL, "", [["d", "town"], ["name", "Town"]])
        ours = post(stranger, followed, "news", NOW - 10)  # anyone's post in a followed channel counts as kept
        theirs = post(stranger, f"{kinds.CHANNEL}:{stranger.pubkey}:x", "alert", NOW - 10)
        await store.add_many([definition, ours, theirs])
        await store.enforce_carry_quota(KeepRules.of([], [followed], []), quota=0)
        assert await store.has([definition.id, ours.id, theirs.id]) == {definition.id, ours.id}
    finally:
        await store.close()


async def test_a_dropped_event_sent_again_counts_as_had_until_its_channel_is_followed(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    stranger = Author()
    address = f"{kinds.CHANNEL}:{stranger.pubkey}:c"
    try:
        events = [post(stranger, address, "news", NOW - i) for i in range(5)]
        await store.add_many(events)
        await store.enforce_carry_quota(KeepRules(), quota=0)
        assert await store.has([e.id for e in events]) == set()
        # A flooder cycling the same events cannot make the node store and drop them again and again.
        assert await store.add_many(events) == [AddOutcome.DUPLICATE] * 5
        assert await store.add(events[0]) is AddOutcome.DUPLICATE
        assert await store.has([e.id for e in events]) == set()
        # Once the channel is followed, its posts are welcome again.
        await store.forget_evicted(address)
        assert await store.add_many(events) == [AddOutcome.STORED] * 5
    finally:
        await store.close()


async def test_the_list_of_dropped_ids_is_bounded(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    stranger = Author()
    try:
        events = [stranger.sign(1, f"n{i}", created_at=NOW - i) for i in range(30)]
        await store.add_many(events)
        seqs = list(range(1, 31))
        await store._writer.call(functools.partial(carry.evict, seqs=seqs, now=NOW, keep=10))
        count = await store._read(lambda conn: conn.execute("SELECT count(*) FROM evicted").fetchone()[0])
        assert count == 10
    finally:
        await store.close()


async def test_a_drop_is_forgotten_after_a_day_so_a_genuine_post_comes_back(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock)
    owner = Author()
    town = channel(owner, "town")
    try:
        alert = genuine(owner, town, "alert", NOW - 10)
        await store.add_many([town.event, alert])
        await store.enforce_carry_quota(KeepRules(), quota=0)
        assert await store.add(alert) is AddOutcome.DUPLICATE  # remembered as dropped
        clock.advance(carry.EVICTED_TTL - 60)
        await store.prune_evicted(KeepRules())
        assert await store.add(alert) is AddOutcome.DUPLICATE
        clock.advance(120)
        # The post; its definition was never refused (a dropped definition is remembered by its floor, which
        # welcomes it back: tests/store/test_carry_rollback.py).
        assert await store.prune_evicted(KeepRules()) == 1
        assert await store.add_many([town.event, alert]) == [AddOutcome.STORED] * 2
    finally:
        await store.close()


async def test_drops_of_a_kept_channel_and_its_definition_are_forgotten(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    owner, stranger = Author(), Author()
    town = channel(owner, "town")
    try:
        news = genuine(owner, town, "news", NOW - 10)
        # A post naming a fake channel first and the real one second is still forgotten with the real one.
        two = stranger.sign(kinds.POST, "x", [["a", "not-an-address"], ["a", town.address], ["type", "news"]])
        await store.add_many([town.event, news, two])
        await store.enforce_carry_quota(KeepRules(), quota=0)
        assert await store.has([town.event.id, news.id, two.id]) == set()
        # The node now keeps the channel (it follows it, or its key became the owner's): the next prune welcomes
        # back everything of it (its definition, remembered by its floor, was welcome all along).
        assert await store.prune_evicted(KeepRules.of([], [town.address], [])) == 2
        assert await store.add_many([town.event, news, two]) == [AddOutcome.STORED] * 3
    finally:
        await store.close()


async def test_posts_of_an_admin_removed_since_they_were_judged_lose_their_place_at_once(tmp_path: Path) -> None:
    """The carry pass remembers its judgements of posts (parsing them is most of its work), but only while the
    channel's definition stays: a compromised admin's alerts, valid an hour ago, are junk once the owner revokes
    the key."""
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    owner, admin = Author(), Author()
    first = build_channel_event(owner.key, "town", "Town", created_at=NOW - 86400, admins={admin.pubkey: "admin"})
    town = parse_channel(first)
    try:
        by_owner = [genuine(owner, town, "news", NOW - 7200 - i) for i in range(10)]  # older news
        by_admin = [genuine(admin, town, "alert", NOW - 60 - i) for i in range(10)]  # fresh alerts
        await store.add_many([first, *by_owner, *by_admin])
        carried = await store.carried_bytes(KeepRules())
        report = await store.enforce_carry_quota(KeepRules(), quota=carried - 5 * len(by_owner[0].to_json()))
        assert report.evicted == 5
        assert await store.has([e.id for e in by_admin]) == {e.id for e in by_admin}  # the alerts outrank news
        await store.add(remove_admin(owner.key, town, admin.pubkey, created_at=NOW - 10, since=NOW - 3600))
        assert report.used is not None
        alerts = sum(len(e.to_json()) for e in by_admin)
        await store.enforce_carry_quota(KeepRules(), quota=report.used - alerts)  # room for all but the alerts
        assert await store.has([e.id for e in by_admin]) == set()  # revoked: junk, first to go
        assert len(await store.has([e.id for e in by_owner])) >= 4  # (the new definition is a little larger)
    finally:
        await store.close()


async def test_a_dropped_deletion_request_takes_its_marks_with_it(tmp_path: Path) -> None:
    """Deletion requests of 2,000 random ids each, dropped by the quota as the junk they are, left their marks (the
    rows that refuse a deleted event when it comes back) behind for good: 50 of them, 7 MB that the quota counted
    and could only pay for with posts. A dropped or expired request now takes its marks with it; a mark another
    stored request of the same author also asks for stays, and a deleted event that comes back is still refused."""
    clock = FakeClock()
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=clock)
    stranger, author = Author(), Author()

    def marks() -> int:
        with contextlib.closing(sqlite3.connect(f"file:{tmp_path / 'events.sqlite'}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM deleted_ids").fetchone()[0])

    try:
        floods = [
            stranger.sign(kinds.DELETION, "", [["e", f"{n:04x}{i:060x}"] for i in range(2000)], created_at=NOW - 7200)
            for n in range(20)
        ]
        await store.add_many(floods)
        assert marks() == 40_000
        report = await store.enforce_carry_quota(KeepRules(), quota=1)
        assert report.evicted == len(floods)
        assert marks() == 0

        # Two requests by the author name the same post; one expires: the post stays refused.
        post_ = author.sign(1, "a mistake", created_at=NOW - 100)
        lasting = author.sign(kinds.DELETION, "", [["e", post_.id]], created_at=NOW - 50)
        passing = author.sign(kinds.DELETION, "", [["e", post_.id], ["expiration", str(NOW + 10)]], created_at=NOW - 40)
        assert await store.add_many([post_, lasting, passing]) == [AddOutcome.STORED] * 3
        clock.advance(60)
        assert await store.purge_expired() == 1
        assert await store.add(post_) == AddOutcome.DELETED
        # Once no request asks for it any more, the mark goes with the last one.
        await store.enforce_carry_quota(KeepRules(), quota=1)
        assert not await store.has([lasting.id])
        assert marks() == 0
    finally:
        await store.close()
