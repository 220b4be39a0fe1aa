"""Red team, round 14: what the log of a seized laptop says when the outbox gives a post up (docs/safety.md,
"What the log says"). The WARNING, the level a journal keeps, carried the last message: for a mirror the censor
blocks (the common case: twelve failed attempts), "error: cannot connect to ws://...: connecting to ...", the
relay's address; for a relay's refusal, the relay's own words, which may quote the post's id. Now it says the
NIP-01 prefix only; ``-v`` and ``samizdat status`` say which relay, which post and why."""

from __future__ import annotations

import logging

import pytest
from test_outbox import NOW, WAIT, answering, connect, local, no_jitter, note, queue, rows, store  # noqa: F401

from samizdat.net.outbox import deliver_due
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import free_port


def kept(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_blocked_mirror_is_not_named_when_a_post_is_given_up(
    store: SqliteStore,  # noqa: F811
    local: LocalState,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there: the censor drops the mirror
    post = note("Buses behind the tractor works 4412")
    await queue(store, local, [f"ws://127.0.0.1:{port}"], post)
    caplog.set_level(logging.INFO)
    report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, max_attempts=1, timeout=WAIT)
    assert report.failed == 1
    assert next(iter(rows(local).values())).state == "failed"  # given up, and samizdat status says where
    lines = kept(caplog)
    assert any("giving up delivering a post" in line for line in lines), lines
    assert not [line for line in lines if str(port) in line or "127.0.0.1" in line or post.id[:12] in line], lines


async def test_a_relays_refusal_quoting_the_post_is_not_written_in_the_log(
    store: SqliteStore,  # noqa: F811
    local: LocalState,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    post = note("Water at the school on Partyzanski 9918")
    caplog.set_level(logging.INFO)
    async with answering(lambda i: ["OK", i, False, f"blocked: event {i} is not welcome here"]) as url:
        await queue(store, local, [url], post)
        report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, timeout=WAIT)
    assert report.failed == 1
    lines = kept(caplog)
    assert any("giving up delivering a post to one of its relays (blocked;" in line for line in lines), lines
    assert not [line for line in lines if post.id[:12] in line or url in line], lines
