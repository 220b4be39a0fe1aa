"""Fixtures for the relay tests: a key, a temporary SqliteStore, a running relay and its URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore


@pytest.fixture
def key() -> SecretKey:
    return SecretKey.generate()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Any]:
    store = await SqliteStore.open(tmp_path / "events.sqlite")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def limits() -> RelayLimits:
    return RelayLimits()


@pytest.fixture
async def relay(sqlite_store: Any, limits: RelayLimits) -> AsyncIterator[RelayServer]:
    server = RelayServer(sqlite_store, limits=limits)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def url(relay: RelayServer) -> str:
    return f"ws://127.0.0.1:{relay.port}"
