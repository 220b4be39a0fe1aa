"""Red team, round 10: what round 9 left of a relay on PostgreSQL (docs/scaling.md, "Red team, round 10").

* The writer's statements had no time limit. A transaction of another relay process that stopped mid-write (its
  machine frozen, or cut off from the server, which keeps its session until TCP gives up) held the write lock, and
  an operator's ``CREATE INDEX`` on ``events`` (not ``CONCURRENTLY``) held the table: every client's ``OK`` waited
  with them, for as long as they lasted (a phone's post had no answer after 20 s here). Now every statement of the
  writer has ``pgconn.WRITE_SECONDS`` and the clients of the batch get ``OK false "error: ... try again"``; nothing
  was stored, and the post sent again once the lock is gone is stored.

Real PostgreSQL (samizdat.testing_postgres), real relay and WebSocket clients on loopback.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest
from relay_helpers import client, make_event, publish, query

from samizdat.core.keys import SecretKey
from samizdat.store import pgconn
from samizdat.testing import running_relay

WAIT = 20.0  # seconds any single step may take at most on a loaded machine, never a sleep


@pytest.mark.parametrize(
    "hold",
    [
        f"SELECT pg_advisory_xact_lock({pgconn.WRITE_LOCK})",  # another relay process stopped mid-write
        "LOCK TABLE events IN SHARE MODE",  # what an operator's CREATE INDEX (not CONCURRENTLY) holds meanwhile
    ],
    ids=["another-process-stuck", "operator-locks-the-table"],
)
async def test_a_phones_post_is_answered_while_the_store_is_held_and_stored_once_it_is_free(
    tmp_path: Path, postgres_url: str, key: SecretKey, monkeypatch: pytest.MonkeyPatch, hold: str
) -> None:
    monkeypatch.setattr(pgconn, "WRITE_SECONDS", 1.0, raising=False)  # the default (5 s) makes the test slower
    posts = [make_event(key, 1, f"checkpoint {n} is closed", created_at=int(time.time())) for n in range(3)]
    async with running_relay(tmp_path, store_url=postgres_url) as running:
        other = psycopg.connect(postgres_url)
        try:
            other.execute(hold)  # and never commits
            phones = [client(running.url) for _ in posts]
            async with phones[0] as a, phones[1] as b, phones[2] as c:
                # Three phones post at once: one batch of the writer, all held.
                oks = await asyncio.wait_for(
                    asyncio.gather(*(publish(ws, post) for ws, post in zip((a, b, c), posts, strict=True))), WAIT
                )
                # Each is told, in one sentence, that its post was not stored (before: no OK at all, for as long
                # as the lock was held).
                for ok in oks:
                    assert ok[2] is False, ok
                    assert ok[3].startswith("error: "), ok
                    assert "try again" in ok[3], ok
                    assert "postgresql://" not in ok[3], ok  # the store's address is the operator's, not theirs
        finally:
            other.rollback()
            other.close()
        async with client(running.url) as phone:
            assert await query(phone, "before", {"ids": [post.id for post in posts]}) == []  # nothing half-stored
            for post in posts:  # sent again, now that the store is free: stored
                ok = await asyncio.wait_for(publish(phone, post), WAIT)
                assert ok[2] is True, ok
            found = await query(phone, "after", {"ids": [post.id for post in posts]})
            assert sorted(event["id"] for event in found) == sorted(post.id for post in posts)
