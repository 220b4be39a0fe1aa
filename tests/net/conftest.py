"""Relays for the net tests: ours (RelayServer over a real SQLite file) and nostr-sdk's LocalRelay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from net_helpers import Microsocks, Relay

from samizdat.relay.limits import RelayLimits
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import free_port, running_relay


@asynccontextmanager
async def _opened(path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(path)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """The syncing node's store (a real SQLite file)."""
    async with _opened(tmp_path / "local.sqlite") as store:
        yield store


@pytest.fixture
async def remote(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """The relay's store, beside it."""
    async with _opened(tmp_path / "remote.sqlite") as store:
        yield store


@pytest.fixture
async def samizdat_relay(tmp_path: Path) -> AsyncIterator[Relay]:
    async with running_relay(tmp_path, limits=RelayLimits(events_per_second=1e6, events_burst=10**6)) as running:
        yield Relay(running.url, running.server)


@pytest.fixture
async def sdk_relay() -> AsyncIterator[Relay]:
    nostr_sdk = pytest.importorskip("nostr_sdk")
    port = free_port()
    relay = (
        nostr_sdk.LocalRelayBuilder()
        .addr("127.0.0.1")
        .port(port)
        .rate_limit(nostr_sdk.RateLimit(max_reqs=10**6, notes_per_minute=10**9))
        .build()
    )
    await relay.run()
    try:
        yield Relay(f"ws://127.0.0.1:{port}")
    finally:
        relay.shutdown()


@pytest.fixture(params=["samizdat", pytest.param("nostr-sdk", marks=pytest.mark.interop)])
def relay(request: pytest.FixtureRequest) -> Relay:
    name = "samizdat_relay" if request.param == "samizdat" else "sdk_relay"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def microsocks() -> Iterator[Microsocks]:
    """Debian's microsocks on a free loopback port, stopped after the test."""
    proxy = Microsocks()
    try:
        yield proxy
    finally:
        proxy.stop()
