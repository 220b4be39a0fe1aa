"""An attack on the carry quota, on a real SQLite store: a node carries a channel's genuine alerts, then a flood of
validly signed junk arrives that claims to be alerts too. The carry pass must drop the junk, not the alerts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from store_helpers import NOW

from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.store import carry
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

HOUR = 3600
TEXT = "Police vans at the market, avoid Kalvaryjskaja between blocks 3 and 9. " * 4


def junk_alert(address: str, created_at: int) -> Event:
    """An alert in every respect but one: its signer, a fresh key, may not post in the channel it names."""
    key = SecretKey.generate()
    tags = [["a", address], ["type", "alert"], ["location", "Market"], ["expiration", str(created_at + 2 * HOUR)],
            ["alt", "Samizdat channel post (alert)"]]  # fmt: skip
    return sign_event(key, kinds.POST, TEXT, tags, created_at=created_at)


async def test_a_flood_of_junk_alerts_does_not_push_out_genuine_ones(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock(NOW))
    owner, admin = SecretKey.generate(), SecretKey.generate()
    definition = build_channel_event(owner, "frunzenski", "Frunzenski", created_at=NOW - 30 * 24 * HOUR,
                                     admins={admin.public_key_hex: "admin"})  # fmt: skip
    channel = parse_channel(definition)
    try:
        # The node carries (does not follow) a real channel: 200 genuine alerts of the last ten hours.
        alerts = [
            build_post(
                owner if i % 2 else admin,
                channel,
                "alert",
                TEXT,
                created_at=NOW - 10 * HOUR + i * 60,
                location="Market",
                expiration=NOW + 6 * HOUR,
            )  # fmt: skip
            for i in range(200)
        ]
        await store.add_many([definition, *alerts])
        quota = await store.carried_bytes(KeepRules()) * 105 // 100

        # The flood: three times the quota, all newer than every genuine alert, all claiming type alert.
        fake = f"{kinds.CHANNEL}:{SecretKey.generate().public_key_hex}:frunzenski"  # a channel nobody defined
        in_fake = [junk_alert(fake, NOW - i) for i in range(300)]
        by_strangers = [junk_alert(channel.address, NOW - i) for i in range(300)]  # the real channel, forged
        ahead = [junk_alert(channel.address, NOW + 600) for _ in range(100)]  # dated as far ahead as allowed
        fake_definitions = [  # well-formed, but no valid post needs them: anyone can make thousands
            build_channel_event(SecretKey.generate(), "frunzenski", "Frunzenski", about=TEXT, created_at=NOW)
            for _ in range(100)
        ]
        await store.add_many([*in_fake, *by_strangers, *ahead, *fake_definitions])
        flood = [*in_fake, *by_strangers, *ahead, *fake_definitions]
        assert sum(len(e.to_json()) for e in flood) > 3 * quota

        report = await store.enforce_carry_quota(KeepRules(), quota)

        assert report.used is not None
        assert report.used <= quota
        survived = await store.has([e.id for e in alerts])
        assert len(survived) >= 0.9 * len(alerts), f"only {len(survived)} of {len(alerts)} genuine alerts survived"
        assert await store.has([definition.id]) == {definition.id}
        junk_left = await store.has([e.id for e in flood])
        assert len(junk_left) < len(flood) // 10
    finally:
        await store.close()


async def test_a_flood_of_strangers_notes_goes_before_valid_posts_but_after_junk(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock(NOW))
    owner = SecretKey.generate()
    definition = build_channel_event(owner, "yard", "Yard", created_at=NOW - 24 * HOUR)
    channel = parse_channel(definition)
    try:
        news = [build_post(owner, channel, "news", TEXT, created_at=NOW - 5 * 24 * HOUR + i) for i in range(50)]
        notes = [sign_event(SecretKey.generate(), 1, TEXT, [], created_at=NOW - i) for i in range(50)]
        junk = [junk_alert(channel.address, NOW - i) for i in range(50)]
        await store.add_many([definition, *news, *notes, *junk])
        size = len(news[0].to_json())
        carried = await store.carried_bytes(KeepRules())
        await store.enforce_carry_quota(KeepRules(), carried - 60 * size)  # room for all but about 60 of 150
        assert await store.has([e.id for e in junk]) == set()  # junk first, however new
        assert len(await store.has([e.id for e in notes])) >= 35  # then the oldest notes
        assert len(await store.has([e.id for e in news])) == 50  # five-day-old news of a real channel stays
    finally:
        await store.close()


def live_bytes(path: Path) -> int:
    """What the database's pages take, the WAL copied in first: what the disk holds for the events."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return carry.stored_bytes(conn)
    finally:
        conn.close()


async def test_events_of_many_short_tags_cannot_fill_the_disk_past_the_quota(tmp_path: Path) -> None:
    """Each one-letter tag is a row of the tag index: an event of 2,000 short tags takes about six times its JSON
    on disk (a plain note 2.4). Counted as JSON alone, a flood of them just under the quota stayed whole, at more
    than five times the quota on disk; weighed with its tags, it is cut down to the quota."""
    path = tmp_path / "events.sqlite"
    store = await SqliteStore.open(path, clock=FakeClock(NOW))
    quota = 2_000_000
    try:
        flood = [
            sign_event(SecretKey.generate(), 1, "", [["x", str(j)] for j in range(2000)], created_at=NOW - i)
            for i in range(75)
        ]
        assert sum(len(e.to_json()) for e in flood) < quota  # JSON alone: under the quota
        evicted = 0
        for start in range(0, len(flood), 15):  # the flood arrives in waves, with the node's carry pass between
            await store.add_many(flood[start : start + 15])
            report = await store.enforce_carry_quota(KeepRules(), quota)
            assert report.used is None or report.used <= quota
            evicted += report.evicted

        assert evicted > 0
        # A store of plain notes at its quota takes about 2.4 times it (its indexes); the whole flood, 5.7 times.
        assert live_bytes(path) < 3.5 * quota
    finally:
        await store.close()
