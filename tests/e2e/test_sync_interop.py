"""NIP-77 against an independent implementation (nostr-sdk, Rust), both ways round.

* nostr-sdk's ``Client.sync`` (its own negentropy client, with a local LMDB database) against OUR relay;
* OUR ``sync`` client against nostr-sdk's ``LocalRelay``, which speaks NIP-77 too.

In each case events that only one side has end up on both, and the counts each side reports are exact.

Note on the bindings: nostr-sdk 0.45 passes ``NostrLmdb`` to ``ClientBuilder.database`` as a Python-implemented
database, whose callbacks run on Rust threads and need ``uniffi_set_event_loop`` to find our event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

nostr_sdk = pytest.importorskip("nostr_sdk")

from samizdat.core.event import Event, sign_event  # noqa: E402
from samizdat.core.filters import Filter  # noqa: E402
from samizdat.core.keys import SecretKey  # noqa: E402
from samizdat.net.client import RelayClient  # noqa: E402
from samizdat.net.sync import reconcile, sync  # noqa: E402
from samizdat.relay.limits import RelayLimits  # noqa: E402
from samizdat.relay.negentropy import NegentropyService  # noqa: E402
from samizdat.relay.server import RelayServer  # noqa: E402
from samizdat.store.sqlite import SqliteStore  # noqa: E402
from samizdat.testing import free_port  # noqa: E402

pytestmark = pytest.mark.interop

BASE = int(time.time()) - 200_000
CHANNEL = "30333:" + "ab" * 32 + ":minsk"
OPEN_LIMITS = RelayLimits(events_per_second=1e6, events_burst=10**6, reqs_per_second=1e6, reqs_burst=10**6)


def notes(key: SecretKey, label: str, count: int, *, tags: Iterable[list[str]] = (), step: int = 1) -> list[Event]:
    return [
        sign_event(key, 1, f"{label} {i}", [list(t) for t in tags], created_at=BASE + i * step // 3)
        for i in range(count)
    ]


def ids(events: Iterable[Event]) -> set[str]:
    return {e.id for e in events}


def hex_ids(sdk_ids: Iterable[Any]) -> set[str]:
    return {i.to_hex() for i in sdk_ids}


async def store_ids(store: SqliteStore) -> set[str]:
    return {i.hex() async for _, i in store.negentropy_items([Filter()])}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "events.sqlite")
    try:
        yield opened
    finally:
        await opened.close()


# -- nostr-sdk's client against our relay ------------------------------------------------------------------------


@pytest.fixture
async def our_relay(store: SqliteStore) -> AsyncIterator[tuple[RelayServer, NegentropyService]]:
    # Small frames, so that even these sets take several rounds with truncated replies.
    service = NegentropyService(frame_size_limit=4096)
    server = RelayServer(store, limits=OPEN_LIMITS, negentropy=service)
    await server.start("127.0.0.1", 0)
    try:
        yield server, service
    finally:
        await server.stop()


class SdkSide:
    """A nostr-sdk client whose own database (LMDB) holds its side of the set."""

    def __init__(self, client: Any, database: Any) -> None:
        self.client = client
        self.database = database

    async def add(self, events: Iterable[Event]) -> None:
        for event in events:
            await self.database.save_event(nostr_sdk.Event.from_json(event.to_json().decode()))

    async def ids(self) -> set[str]:
        return {e.id().to_hex() for e in await self.database.query(nostr_sdk.Filter())}

    async def sync(self, flt: dict[str, Any], direction: Any) -> Any:
        options = nostr_sdk.SyncOptions().direction(direction).initial_timeout(timedelta(seconds=10))
        return await self.client.sync(nostr_sdk.Filter.from_json(orjson.dumps(flt).decode()), opts=options)


@pytest.fixture
async def sdk(our_relay: tuple[RelayServer, NegentropyService], tmp_path: Path) -> AsyncIterator[SdkSide]:
    nostr_sdk.uniffi_set_event_loop(asyncio.get_running_loop())
    database = await nostr_sdk.NostrLmdb.open(str(tmp_path / "sdk-lmdb"))
    client = nostr_sdk.ClientBuilder().database(database).build()
    server, _ = our_relay
    await client.add_relay(nostr_sdk.RelayUrl.parse(f"ws://127.0.0.1:{server.port}"))
    await client.connect()
    try:
        yield SdkSide(client, database)
    finally:
        await client.shutdown()
        nostr_sdk.uniffi_set_event_loop(None)


async def test_sdk_sync_both_with_our_relay(
    sdk: SdkSide, store: SqliteStore, our_relay: tuple[RelayServer, NegentropyService]
) -> None:
    key = SecretKey.generate()
    shared = notes(key, "shared", 400)
    sdk_only = notes(key, "sdk only", 25, step=40)
    relay_only = notes(key, "relay only", 30, step=37)
    await store.add_many(shared + relay_only)
    await sdk.add(shared + sdk_only)

    output = await sdk.sync({}, nostr_sdk.SyncDirection.BOTH)

    assert output.failed == {}
    report = output.report
    assert hex_ids(report.local) == ids(sdk_only)  # theirs, our relay lacked them
    assert hex_ids(report.remote) == ids(relay_only)
    assert hex_ids(report.sent) == ids(sdk_only)
    assert hex_ids(report.received) == ids(relay_only)
    everything = ids(shared + sdk_only + relay_only)
    assert await store_ids(store) == everything
    assert await sdk.ids() == everything
    assert our_relay[1].builds == 1


async def test_sdk_sync_down_and_up_separately(sdk: SdkSide, store: SqliteStore) -> None:
    key = SecretKey.generate()
    shared = notes(key, "shared", 100)
    sdk_only = notes(key, "sdk only", 12, step=20)
    relay_only = notes(key, "relay only", 9, step=25)
    await store.add_many(shared + relay_only)
    await sdk.add(shared + sdk_only)

    down = (await sdk.sync({}, nostr_sdk.SyncDirection.DOWN)).report
    assert hex_ids(down.received) == ids(relay_only)
    assert hex_ids(down.sent) == set()
    assert await store_ids(store) == ids(shared + relay_only)

    up = (await sdk.sync({}, nostr_sdk.SyncDirection.UP)).report
    assert hex_ids(up.sent) == ids(sdk_only)
    assert await store_ids(store) == ids(shared + relay_only + sdk_only)


async def test_sdk_sync_of_one_channel(sdk: SdkSide, store: SqliteStore) -> None:
    key = SecretKey.generate()
    in_channel = notes(key, "channel", 20, tags=[["a", CHANNEL]])
    elsewhere = notes(key, "elsewhere", 15)
    sdk_post = notes(key, "sdk channel post", 2, tags=[["a", CHANNEL]], step=90)
    await store.add_many(in_channel + elsewhere)
    await sdk.add(sdk_post)

    report = (await sdk.sync({"#a": [CHANNEL]}, nostr_sdk.SyncDirection.BOTH)).report

    assert hex_ids(report.received) == ids(in_channel)
    assert hex_ids(report.sent) == ids(sdk_post)
    assert await sdk.ids() == ids(in_channel + sdk_post)
    assert await store_ids(store) == ids(in_channel + elsewhere + sdk_post)


# -- our client against nostr-sdk's LocalRelay -------------------------------------------------------------------


@pytest.fixture
async def local_relay_url() -> AsyncIterator[str]:
    relay = (
        nostr_sdk.LocalRelayBuilder()
        .addr("127.0.0.1")
        .port(free_port())
        .rate_limit(nostr_sdk.RateLimit(max_reqs=10**6, notes_per_minute=10**9))
        .build()
    )
    await relay.run()
    try:
        yield str(await relay.url())
    finally:
        relay.shutdown()


async def fill_local_relay(url: str, events: list[Event]) -> None:
    async with await RelayClient.connect(url, timeout=5) as client:
        results = await client.publish_many(events, timeout=10)
    refused = [r for r in results if not r.accepted]
    assert refused == [], refused[:3]


async def local_relay_ids(url: str, scratch: Path) -> set[str]:
    """Everything the LocalRelay holds: what a reconciliation from an empty store finds it has."""
    empty = await SqliteStore.open(scratch / f"empty-{time.monotonic_ns()}.sqlite")
    try:
        async with await RelayClient.connect(url, timeout=5) as client:
            have, need, _ = await reconcile(client, empty, Filter())
    finally:
        await empty.close()
    assert have == []
    return {i.hex() for i in need}


@pytest.mark.parametrize(("shared_count", "ours_count", "theirs_count"), [(0, 0, 6), (40, 7, 0), (3000, 150, 700)])
async def test_our_sync_with_sdk_local_relay(
    local_relay_url: str, store: SqliteStore, tmp_path: Path, shared_count: int, ours_count: int, theirs_count: int
) -> None:
    key = SecretKey.generate()
    shared = notes(key, "shared", shared_count)
    ours = notes(key, "ours", ours_count, step=50)
    theirs = notes(key, "theirs", theirs_count, step=41)
    await store.add_many(shared + ours)
    await fill_local_relay(local_relay_url, shared + theirs)

    async with await RelayClient.connect(local_relay_url, timeout=5) as client:
        report = await sync(client, store, [Filter()], direction="both")
        assert (report.have, report.need) == (ours_count, theirs_count)
        assert (report.sent, report.received, report.rejected) == (ours_count, theirs_count, 0)
        again = await sync(client, store, [Filter()], direction="both")
        assert (again.have, again.need) == (0, 0)

    everything = ids(shared + ours + theirs)
    assert await store_ids(store) == everything
    assert await local_relay_ids(local_relay_url, tmp_path) == everything


async def test_our_sync_of_one_channel_with_sdk_local_relay(
    local_relay_url: str, store: SqliteStore, tmp_path: Path
) -> None:
    key = SecretKey.generate()
    in_channel = notes(key, "channel", 10, tags=[["a", CHANNEL]])
    elsewhere = notes(key, "elsewhere", 10)
    our_post = notes(key, "our post", 1, tags=[["a", CHANNEL]], step=99)
    await fill_local_relay(local_relay_url, in_channel + elsewhere)
    await store.add_many(our_post)

    async with await RelayClient.connect(local_relay_url, timeout=5) as client:
        scope = [Filter(tags=(("a", frozenset({CHANNEL})),))]
        report = await sync(client, store, scope, direction="both")

    assert (report.have, report.need, report.sent, report.received) == (1, 10, 1, 10)
    assert await store_ids(store) == ids(in_channel + our_post)
    assert await local_relay_ids(local_relay_url, tmp_path) == ids(in_channel + elsewhere + our_post)
