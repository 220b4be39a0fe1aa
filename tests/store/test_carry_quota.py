"""The carry quota on a real SQLite store: followed channels stay, alerts outlive news, drops are remembered."""

from __future__ import annotations

from pathlib import Path

from store_helpers import NOW, Author

from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.event import Event
from samizdat.store.base import AddOutcome
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

PAD = "x" * 400


def post(author: Author, address: str, post_type: str, created_at: int) -> Event:
    tags = [["a", address], ["type", post_type]]
    return author.sign(kinds.POST, f"{post_type} {PAD}", tags, created_at=created_at)


async def test_quota_keeps_followed_and_own_and_drops_lowest_ranked_carried(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    me, owner, stranger = Author(), Author(), Author()
    followed = f"{kinds.CHANNEL}:{owner.pubkey}:town"
    other = f"{kinds.CHANNEL}:{stranger.pubkey}:elsewhere"
    try:
        kept = [post(owner, followed, "news", NOW - 3000 - i) for i in range(50)]
        mine = [me.sign(1, f"note {i} {PAD}", created_at=NOW - 5000 - i) for i in range(20)]
        old_news = [post(stranger, other, "news", NOW - 7200 - i) for i in range(40)]
        alerts = [post(stranger, other, "alert", NOW - 86400 - i) for i in range(10)]
        fresh_news = [post(stranger, other, "news", NOW - 60 - i) for i in range(10)]
        await store.add_many([*kept, *mine, *old_news, *alerts, *fresh_news])
        rules = KeepRules.of([me.pubkey], [followed], [])

        carried = await store.carried_bytes(rules)
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
    import functools

    from samizdat.store import carry

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
