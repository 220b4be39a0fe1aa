"""The outbox's bounds on a real state file: per author, per channel, finished rows, and an old file upgraded."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from samizdat.store.local import LocalState

MIRRORS = ["wss://m1.example", "wss://m2.example"]
TOWN = "30333:" + "a" * 64 + ":town"
VILLAGE = "30333:" + "a" * 64 + ":village"


def eid(n: int) -> str:
    return f"{n:064x}"


def waiting(state: LocalState) -> set[str]:
    return {r.event_id for r in state.outbox(["pending"])}


def test_an_author_over_the_bound_gives_up_their_oldest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = LocalState(tmp_path / "local.sqlite", outbox_per_author=3, outbox_per_channel=100)
    try:
        with caplog.at_level(logging.INFO, logger="samizdat.store.local"):
            for n in range(5):
                state.enqueue(eid(n), MIRRORS, now=n, author="flooder", channel=TOWN)
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1  # said once, not once per post of the flood
        assert "flooder" not in warned[0]  # whose, only with -v: docs/safety.md, "What the log says"
        assert "more than 3 posts of author flooder were waiting" in caplog.records[-1].getMessage()
        state.enqueue(eid(99), MIRRORS, now=9, author="neighbour", channel=VILLAGE)
        assert waiting(state) == {eid(2), eid(3), eid(4), eid(99)}
        failed = state.outbox(["failed"])
        assert {r.event_id for r in failed} == {eid(0), eid(1)}
        assert len(failed) == 4  # both mirrors' rows of each
        assert all(r.last_message == "dropped: more than 3 posts of author flooder were waiting" for r in failed)
    finally:
        state.close()


def test_a_full_channel_gives_up_the_busiest_authors_oldest(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "local.sqlite", outbox_per_author=100, outbox_per_channel=4)
    try:
        state.enqueue(eid(1), MIRRORS, now=1, author="admin", channel=TOWN)
        for n in range(10, 15):
            state.enqueue(eid(n), MIRRORS, now=n, author="editor", channel=TOWN)
        assert waiting(state) == {eid(1), eid(12), eid(13), eid(14)}  # the admin's post stays
        state.enqueue(eid(99), MIRRORS, now=99, author="editor", channel=VILLAGE)  # another channel: no effect
        assert eid(99) in waiting(state)
    finally:
        state.close()


def test_delivered_rows_do_not_count_and_finished_rows_are_pruned(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "local.sqlite", outbox_per_author=2)
    try:
        for n in range(6):
            state.enqueue(eid(n), MIRRORS[:1], now=n, author="admin", channel=TOWN)
            state.record_attempt(eid(n), MIRRORS[0], accepted=True, message="", final=True, next_attempt=0)
        state.enqueue(eid(10), MIRRORS[:1], now=10, author="admin", channel=TOWN)
        assert waiting(state) == {eid(10)}
        assert len(state.outbox(["accepted"])) == 6
        assert state.prune_outbox(keep=2) == 4
        assert {r.event_id for r in state.outbox(["accepted"])} == {eid(4), eid(5)}  # the newest
        assert waiting(state) == {eid(10)}
    finally:
        state.close()


def test_a_state_file_from_before_the_bounds_is_upgraded_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outbox (event_id TEXT NOT NULL, relay TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', "
        "attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL DEFAULT 0, "
        "last_message TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, PRIMARY KEY (event_id, relay));"
        f"INSERT INTO outbox (event_id, relay, created_at) VALUES ('{eid(1)}', 'wss://m1.example', 1);"
    )
    old.commit()
    old.close()
    state = LocalState(path, outbox_per_author=1)
    try:
        assert waiting(state) == {eid(1)}
        state.enqueue(eid(2), MIRRORS[:1], now=2, author="admin", channel=TOWN)
        state.enqueue(eid(3), MIRRORS[:1], now=3, author="admin", channel=TOWN)
        assert waiting(state) == {eid(1), eid(3)}  # the old row has no author: it counts for nobody
    finally:
        state.close()
