"""What a hostile filter costs the SQLite store, counted in SQLite's own steps (no timing): a filter is driven by
the index of what it names, whatever the planner would guess without statistics (red team, round 4)."""

from __future__ import annotations

import os
from pathlib import Path

from store_helpers import NOW, Author, F

from samizdat.core.filters import Filter
from samizdat.store import queries
from samizdat.store.dbapi import sqlite3
from samizdat.store.sqlite import SqliteStore

STORED = 10_000


def _steps(conn: sqlite3.Connection, f: Filter) -> tuple[int, int]:
    """(events found, thousands of SQLite virtual machine steps taken) for ``f``."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(tick, 1000)
    try:
        found = queries.query(conn, [f], NOW, 500)
    finally:
        conn.set_progress_handler(None, 0)
    return len(found), steps


async def test_a_thousand_unknown_authors_of_one_kind_do_not_read_every_event_of_the_kind(
    tmp_path: Path, alice: Author
) -> None:
    # SQLite took the kind index for "1,000 authors, kind 1" and read every stored post to find none of them:
    # 61 to 200 ms on a store of 120,000 events, at 40 requests a second from one address (bench/reqcost.py).
    store = await SqliteStore.open(tmp_path / "events.sqlite")
    try:
        events = [alice.sign(1, f"post {i}", created_at=NOW - 100_000 + i) for i in range(STORED)]
        for start in range(0, STORED, 2000):
            await store.add_many(events[start : start + 2000])
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "events.sqlite")
    try:
        unknown = [os.urandom(32).hex() for _ in range(1000)]
        reading_all = _steps(conn, F(kinds=[1], limit=STORED))
        assert reading_all[0] == STORED
        found, steps = _steps(conn, F(authors=unknown, kinds=[1]))
        assert found == 0
        assert steps * 4 < reading_all[1], f"{steps}k steps to find nothing, {reading_all[1]}k to read every post"
        # Alice among them: her newest posts, as before.
        found, _ = _steps(conn, F(authors=[*unknown[:999], alice.pubkey], kinds=[1], limit=20))
        assert found == 20
    finally:
        conn.close()
