"""Fixtures for the relay tests: a key, a temporary SqliteStore, a running relay (on a store of its own) and its
URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from relay_netns import AddressLab, missing

from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import running_relay


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
async def relay(tmp_path: Path, limits: RelayLimits) -> AsyncIterator[RelayServer]:
    async with running_relay(tmp_path, limits=limits) as running:
        yield running.server


@pytest.fixture
def url(relay: RelayServer) -> str:
    return f"ws://127.0.0.1:{relay.port}"


@pytest.fixture
def lab() -> Iterator[AddressLab]:
    """Many source addresses in a network namespace of their own (relay_netns.py)."""
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    addresses = AddressLab()
    try:
        yield addresses
    finally:
        addresses.close()
