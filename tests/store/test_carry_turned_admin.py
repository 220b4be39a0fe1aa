"""A mirror that carries a channel (it does not follow it) and is full: an admin whose key the police hold floods
the channel with fresh alerts, or, once removed, with alerts backdated to just before the removal. The owner's own
alerts, older than the flood, must survive the carry quota: inside a channel the ranks are dealt fairly between
authors (core/carry.py, ``fair_shares``), so the flooder's excess goes first. Real SQLite store, real carry pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import NOW, Author

from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.channel import build_channel_event, parse_channel, remove_admin
from samizdat.core.event import Event
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

PAD = "x" * 400
FLOOD = 1500
ROOM = 300  #: posts the quota leaves room for, of the owner's 20 and the flood's 1,500
REMOVED = NOW - 3600


def alert(author: Author, address: str, created_at: int, n: int, pad: str = PAD) -> Event:
    tags = [["a", address, ""], ["type", "alert"], ["location", f"Exit {n}"],
            ["expiration", str(created_at + 3 * 86400)]]  # fmt: skip
    return author.sign(kinds.POST, f"Police vans {n} {pad}", tags, created_at=created_at)


@pytest.mark.parametrize("removed", [False, True], ids=["still-admin-forward-dated", "removed-backdating"])
async def test_a_turned_admins_flood_does_not_push_out_the_owners_alerts(tmp_path: Path, removed: bool) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    owner, turned = Author(), Author()
    first = build_channel_event(owner.key, "town", "Town", created_at=NOW - 30 * 86400,
                                admins={turned.pubkey: "admin"})  # fmt: skip
    town = parse_channel(first)
    try:
        owners = [alert(owner, town.address, NOW - 3 * 3600 - 60 * i, i) for i in range(20)]
        if removed:  # backdated to the hour before the removal: valid, "by a former admin", newer than the owner's
            definition = remove_admin(owner.key, town, turned.pubkey, created_at=NOW - 600, since=REMOVED)
            flood = [alert(turned, town.address, REMOVED - 1 - i % 3000, i) for i in range(FLOOD)]
        else:  # dated from now to 14 minutes ahead, inside the readers' 15 minutes of clock skew
            definition = first
            flood = [alert(turned, town.address, NOW + i % 840, i) for i in range(FLOOD)]
        await store.add_many([definition, *owners, *flood])
        per_post = len(flood[0].to_json())
        quota = ROOM * per_post + len(definition.to_json())
        report = await store.enforce_carry_quota(KeepRules(), quota=quota)
        assert report.evicted >= FLOOD + len(owners) - ROOM
        kept_owners = await store.has([e.id for e in owners])
        kept_flood = await store.has([e.id for e in flood])
        assert len(kept_owners) == len(owners), f"the flood pushed out {len(owners) - len(kept_owners)} of 20"
        assert len(kept_flood) <= ROOM
        assert await store.has([definition.id]), "the definition its posts need was dropped"
    finally:
        await store.close()


async def test_a_few_huge_posts_do_not_push_out_the_owners_alerts(tmp_path: Path) -> None:
    """The largest posts a channel allows (20,000 characters, 40 KB in Cyrillic): 60 of them, newer than the
    owner's 20 alerts, on a mirror with room for a quarter of them."""
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=FakeClock())
    owner, turned = Author(), Author()
    definition = build_channel_event(owner.key, "town", "Town", created_at=NOW - 30 * 86400,
                                     admins={turned.pubkey: "admin"})  # fmt: skip
    town = parse_channel(definition)
    try:
        owners = [alert(owner, town.address, NOW - 3 * 3600 - 60 * i, i) for i in range(20)]
        huge = [alert(turned, town.address, NOW + i, i, "я" * 19_900) for i in range(60)]
        await store.add_many([definition, *owners, *huge])
        room = sum(len(e.to_json()) for e in huge) // 4
        await store.enforce_carry_quota(KeepRules(), quota=room)
        kept_owners = await store.has([e.id for e in owners])
        assert len(kept_owners) == len(owners), f"the huge posts pushed out {len(owners) - len(kept_owners)} of 20"
        assert 0 < len(await store.has([e.id for e in huge])) < 20
    finally:
        await store.close()
