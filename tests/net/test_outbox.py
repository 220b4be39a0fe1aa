"""``deliver_due`` with a real ``LocalState`` and real relays (ours and nostr-sdk's ``LocalRelay``), plus small
hostile servers for the answers real relays do not give on demand. Time and jitter are injected, so retries are
checked without sleeping."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import orjson
import pytest
from net_helpers import Relay
from websockets.asyncio.server import ServerConnection, serve

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.net.client import RelayClient
from samizdat.net.outbox import MAX_ATTEMPTS, deliver_due
from samizdat.store.local import LocalState, OutboxRow
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import free_port

NOW = time.time()
BASE = int(NOW) - 1000
WAIT = 10.0


async def connect(url: str) -> RelayClient:
    return await RelayClient.connect(url, timeout=WAIT)


def no_jitter() -> float:
    return 0.0  # the shortest delay: half the exponential step


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """This node's own event store, whose clock stands still at NOW."""
    opened = await SqliteStore.open(tmp_path / "events.sqlite", clock=lambda: NOW)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalState]:
    state = LocalState(tmp_path / "local.sqlite")
    try:
        yield state
    finally:
        state.close()


async def queue(store: SqliteStore, local: LocalState, relays: list[str], *events: Event) -> None:
    for event in events:
        assert (await store.add(event)).accepted
        local.enqueue(event.id, relays, NOW)


def rows(local: LocalState) -> dict[tuple[str, str], OutboxRow]:
    return {(r.event_id, r.relay): r for r in local.outbox()}


def note(text: str, key: SecretKey | None = None, **extra: int) -> Event:
    return sign_event(key or SecretKey.generate(), 1, text, [], created_at=extra.get("created_at", BASE))


@contextlib.asynccontextmanager
async def answering(reply: Callable[[str], list[object] | None]) -> AsyncIterator[str]:
    """A relay that answers each EVENT with ``reply(event id)`` (None: no answer, "close": hang up)."""

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] != "EVENT":
                continue
            answer = reply(message[1]["id"])
            if answer == ["close"]:
                await ws.close()
                return
            if answer is not None:
                await ws.send(orjson.dumps(answer).decode())

    async with serve(handler, "127.0.0.1", 0, close_timeout=1) as server:
        yield f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"


# -- a relay that takes the events -------------------------------------------------------------------------------


async def test_accepted_rows_become_accepted(relay: Relay, store: SqliteStore, local: LocalState) -> None:
    events = [note(f"post {i}") for i in range(3)]
    await queue(store, local, [relay.url], *events)
    report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, timeout=WAIT)
    assert (report.accepted, report.retrying, report.failed) == (3, 0, 0)
    assert report.by_relay == {relay.url: "ok"}
    for event in events:
        row = rows(local)[(event.id, relay.url)]
        assert (row.state, row.attempts) == ("accepted", 1)
    assert local.due(NOW + 10**6) == []  # delivered rows are never sent again
    again = await deliver_due(local, store, connect, now=NOW + 10**6, random=no_jitter, timeout=WAIT)
    assert (again.accepted, again.by_relay) == (0, {})
    async with await connect(relay.url) as client:
        stored = await client.fetch([Filter(ids=frozenset(e.id for e in events))], timeout=WAIT)
    assert {e.id for e in stored} == {e.id for e in events}


async def test_duplicates_count_as_accepted(relay: Relay, store: SqliteStore, local: LocalState) -> None:
    already = note("the relay has this one")
    async with await connect(relay.url) as client:
        assert (await client.publish(already, timeout=WAIT)).accepted
    await queue(store, local, [relay.url], already)
    report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, timeout=WAIT)
    assert (report.accepted, report.retrying, report.failed) == (1, 0, 0)
    (row,) = local.outbox()
    assert row.state == "accepted"
    assert row.last_message.startswith("duplicate:")


async def test_an_outdated_replaceable_event_counts_as_accepted(
    samizdat_relay: Relay, store: SqliteStore, local: LocalState
) -> None:
    # Our relay answers OK false "duplicate: a newer version ..."; the relay has something at least as new.
    # (nostr-sdk's LocalRelay answers "error: unknown" here, which the outbox would retry.)
    key = SecretKey.generate()
    newer = sign_event(key, 0, '{"name":"v2"}', [], created_at=BASE + 10)
    older = sign_event(key, 0, '{"name":"v1"}', [], created_at=BASE)
    async with await connect(samizdat_relay.url) as client:
        assert (await client.publish(newer, timeout=WAIT)).accepted
    await queue(store, local, [samizdat_relay.url], older)
    report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, timeout=WAIT)
    assert (report.accepted, report.retrying, report.failed) == (1, 0, 0)
    (row,) = local.outbox()
    assert row.state == "accepted"
    assert row.last_message.startswith("duplicate:")


async def test_several_relays_are_tracked_separately(
    samizdat_relay: Relay, store: SqliteStore, local: LocalState
) -> None:
    down = f"ws://127.0.0.1:{free_port()}"
    event = note("to two mirrors")
    await queue(store, local, [samizdat_relay.url, down], event)
    report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, timeout=WAIT)
    assert (report.accepted, report.retrying) == (1, 1)
    assert rows(local)[(event.id, samizdat_relay.url)].state == "accepted"
    assert rows(local)[(event.id, down)].state == "pending"
    assert report.by_relay[down].startswith("error: cannot connect")


# -- refusals --------------------------------------------------------------------------------------------------


async def test_a_real_relays_definitive_refusals_fail_at_once(
    samizdat_relay: Relay, tmp_path: Path, local: LocalState
) -> None:
    key = SecretKey.generate()
    now = int(time.time())
    # An alert that expired while it waited in the outbox: our store's clock is from before its expiry.
    expired = sign_event(key, 1, "police at the market", [["expiration", str(now - 60)]], created_at=now - 600)
    # A post its author deleted on the relay meanwhile (NIP-09).
    deleted = note("a mistake", key, created_at=BASE)
    deletion = sign_event(key, 5, "retracted", [["e", deleted.id]], created_at=BASE + 1)
    async with await connect(samizdat_relay.url) as client:
        assert (await client.publish(deletion, timeout=WAIT)).accepted
    store = await SqliteStore.open(tmp_path / "then.sqlite", clock=lambda: now - 300)
    try:
        await queue(store, local, [samizdat_relay.url], expired, deleted)
        report = await deliver_due(local, store, connect, now=now, random=no_jitter, timeout=WAIT)
    finally:
        await store.close()
    assert (report.accepted, report.retrying, report.failed) == (0, 0, 2)
    expired_row, deleted_row = (
        rows(local)[(expired.id, samizdat_relay.url)],
        rows(local)[(deleted.id, samizdat_relay.url)],
    )
    assert (expired_row.state, expired_row.attempts) == ("failed", 1)
    assert expired_row.last_message.startswith("invalid:")
    assert (deleted_row.state, deleted_row.attempts) == ("failed", 1)
    assert deleted_row.last_message.startswith("blocked:")
    assert local.due(now + 10**6) == []


@pytest.mark.parametrize(
    ("message", "final"),
    [
        ("invalid: bad signature", True),
        ("blocked: not on this relay", True),
        ("restricted: members only", True),
        ("pow: difficulty 30 needed", True),
        ("rate-limited: slow down", False),
        ("error: could not store the event", False),
        ("auth-required: sign in first", False),
        ("", False),
    ],
)
async def test_refusals_by_prefix(message: str, final: bool, store: SqliteStore, local: LocalState) -> None:
    event = note("refused")
    async with answering(lambda event_id: ["OK", event_id, False, message]) as url:
        await queue(store, local, [url], event)
        report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, timeout=WAIT)
    row = rows(local)[(event.id, url)]
    assert row.last_message == message
    assert row.attempts == 1
    if final:
        assert (row.state, report.failed, report.retrying) == ("failed", 1, 0)
    else:
        assert (row.state, report.failed, report.retrying) == ("pending", 0, 1)
        assert row.next_attempt == NOW + 2.5


async def test_an_event_gone_from_the_store_is_dropped(store: SqliteStore, local: LocalState) -> None:
    local.enqueue("ab" * 32, ["ws://127.0.0.1:9"], NOW)  # e.g. retracted and deleted before delivery
    report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, timeout=WAIT)
    (row,) = local.outbox()
    assert (row.state, row.last_message) == ("failed", "gone from the store")
    assert report.by_relay == {}


# -- relays that do not answer ---------------------------------------------------------------------------------


async def test_a_down_relay_is_retried_with_growing_delays(store: SqliteStore, local: LocalState) -> None:
    url = f"ws://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    event = note("waiting for the mirror")
    await queue(store, local, [url], event)
    now, delays = NOW, []
    for attempt in range(1, 5):
        report = await deliver_due(local, store, connect, now=now, random=no_jitter, timeout=WAIT)
        assert report.retrying == 1
        row = rows(local)[(event.id, url)]
        assert (row.state, row.attempts) == ("pending", attempt)
        assert row.last_message.startswith(f"error: cannot connect to {url}")
        delays.append(row.next_attempt - now)
        # Not due before its time: a pass in between does nothing.
        early = await deliver_due(local, store, connect, now=row.next_attempt - 0.1, random=no_jitter, timeout=WAIT)
        assert (early.retrying, early.by_relay) == (0, {})
        assert rows(local)[(event.id, url)].attempts == attempt
        now = row.next_attempt
    assert delays == [2.5, 5.0, 10.0, 20.0]  # 5 s * 2**attempts, halved by the (injected) smallest jitter


async def test_after_max_attempts_a_row_fails(store: SqliteStore, local: LocalState) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    event = note("never delivered")
    await queue(store, local, [url], event)
    now = NOW
    for attempt in range(1, 4):
        report = await deliver_due(local, store, connect, now=now, random=no_jitter, timeout=WAIT, max_attempts=3)
        row = rows(local)[(event.id, url)]
        assert row.attempts == attempt
        if attempt < 3:
            assert (row.state, report.retrying, report.failed) == ("pending", 1, 0)
        else:
            assert (row.state, report.retrying, report.failed) == ("failed", 0, 1)
        now = row.next_attempt
    assert local.due(now + 10**6) == []
    assert MAX_ATTEMPTS > 3  # the default gives a relay many more chances than this test


async def test_a_relay_that_hangs_up_or_stays_silent_is_retried(store: SqliteStore, local: LocalState) -> None:
    hang_up, silent = note("hang up"), note("silence")
    async with (
        answering(lambda event_id: ["close"]) as closing,
        answering(lambda event_id: None) as mute,
    ):
        await queue(store, local, [closing], hang_up)
        await queue(store, local, [mute], silent)
        report = await deliver_due(local, store, connect, now=NOW, random=no_jitter, timeout=0.5)
    assert (report.accepted, report.retrying, report.failed) == (0, 2, 0)
    closed_row, mute_row = rows(local)[(hang_up.id, closing)], rows(local)[(silent.id, mute)]
    assert (closed_row.state, closed_row.last_message) == ("pending", "error: connection lost")
    assert report.by_relay[closing].startswith("error:")
    assert mute_row.state == "pending"
    assert mute_row.last_message == "error: no answer from the relay in time"
