"""A turned admin's flood against a full mirror: how many of the owner's alerts survive the carry quota.

A channel this mirror carries (does not follow): the owner's alerts from the last hours, then an admin whose key
the police hold sends FLOOD alerts, dated now to 14 minutes ahead (still an admin) or backdated to the hour before
the removal (removed, posting as a former admin). The quota leaves room for ROOM posts. One real carry pass on a
real SQLite store (``SqliteStore.enforce_carry_quota``); prints the owner's alerts kept, the flood kept and the
pass's time. Run it once with the code before (``PYTHONPATH=<old checkout>/src``) and once after.

With ``--followed QUOTA_MB`` the node follows the channel instead (kept whatever the quota, but each author only up
to a part of it once the store is over the quota, core/carry.py ``followed_bound``): the quota is QUOTA_MB and the
table says how much of the flood stays on disk.

    .venv/bin/python bench/turned_admin_flood.py --owner 20 --flood 1000 5000 20000 --room 500
    .venv/bin/python bench/turned_admin_flood.py --owner 20 --flood 60 --chars 19900 --room 15
    .venv/bin/python bench/turned_admin_flood.py --owner 20 --flood 5000 20000 50000 --followed 16
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

import samizdat
from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.channel import build_channel_event, parse_channel, remove_admin
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

NOW = 1_700_000_000
PAD = "x" * 400


def alert(key: SecretKey, address: str, created_at: int, n: int, pad: str = PAD) -> Event:
    tags = [["a", address, ""], ["type", "alert"], ["location", f"Exit {n}"],
            ["expiration", str(created_at + 3 * 86400)]]  # fmt: skip
    return sign_event(key, kinds.POST, f"Police vans {n} {pad}", tags, created_at=created_at)


async def run(
    owner_posts: int, flood_size: int, room: int, removed: bool, chars: int, followed_mb: float = 0
) -> tuple[int, int, float, int]:
    pad = "я" * chars if chars else PAD
    owner, turned = SecretKey.generate(), SecretKey.generate()
    first = build_channel_event(owner, "town", "Town", created_at=NOW - 30 * 86400,
                                admins={turned.public_key_hex: "admin"})  # fmt: skip
    town = parse_channel(first)
    owners = [alert(owner, town.address, NOW - 3 * 3600 - 60 * i, i) for i in range(owner_posts)]
    if removed:
        since = NOW - 3600
        definition = remove_admin(owner, town, turned.public_key_hex, created_at=NOW - 600, since=since)
        flood = [alert(turned, town.address, since - 1 - i % 3000, i, pad) for i in range(flood_size)]
    else:
        definition = first
        flood = [alert(turned, town.address, NOW + i % 840, i, pad) for i in range(flood_size)]
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(Path(tmp) / "events.sqlite", clock=FakeClock(NOW))
        try:
            await store.add_many([definition, *owners, *flood])
            quota = room * len(flood[0].to_json()) + len(definition.to_json())
            rules = KeepRules()
            if followed_mb:
                quota, rules = int(followed_mb * 1_000_000), KeepRules.of([], [town.address], [])
            started = time.perf_counter()
            await store.enforce_carry_quota(rules, quota=quota)
            took = time.perf_counter() - started
            kept_owner = len(await store.has([e.id for e in owners]))
            kept = await store.has([e.id for e in flood])
            kept_bytes = sum(len(e.to_json()) for e in flood if e.id in kept)
        finally:
            await store.close()
    return kept_owner, len(kept), took, kept_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owner", type=int, default=20)
    parser.add_argument("--flood", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--room", type=int, default=500, help="room for this many of the flood's posts")
    parser.add_argument("--chars", type=int, default=0, help="the flood's text, in Cyrillic letters (default: 400 x)")
    parser.add_argument("--followed", type=float, default=0, metavar="QUOTA_MB",
                        help="the node follows the channel; its carry quota in MB")  # fmt: skip
    args = parser.parse_args()
    src = Path(samizdat.__file__).resolve().parents[2]
    rev = subprocess.run(["git", "-C", str(src), "log", "-1", "--format=%h %s"], capture_output=True, text=True,
                         check=False).stdout.strip()  # fmt: skip
    print(f"code: {src} ({rev[:70]})")
    where = f"followed, quota {args.followed:g} MB" if args.followed else f"carried, room for {args.room:,}"
    print("| flood | the admin | channel | owner's alerts kept | flood kept | flood kept, MB | carry pass, s |")
    print("|---|---|---|---|---|---|---|")
    for size in args.flood:
        for removed in (False, True):
            kept_owner, kept_flood, took, kept_bytes = asyncio.run(
                run(args.owner, size, args.room, removed, args.chars, args.followed)
            )
            who = "removed, backdating" if removed else "still admin, dated ahead"
            print(f"| {size:,} | {who} | {where} | {kept_owner} of {args.owner} | {kept_flood:,} |"
                  f" {kept_bytes / 1e6:.1f} | {took:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
