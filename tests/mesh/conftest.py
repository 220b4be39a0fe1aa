"""Two real nodes' worth of parts on loopback: SQLite stores behind real relay servers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mesh_helpers import Side

from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.store.local import LocalState
from samizdat.testing import running_relay


@contextlib.asynccontextmanager
async def _side(path: Path) -> AsyncIterator[Side]:
    path.mkdir()  # noqa: ASYNC240 - a test directory, before anything runs
    local = LocalState(path / "local.sqlite")
    try:
        limits = RelayLimits(events_per_second=1e6, events_burst=10**6)
        async with running_relay(path, limits=limits, negentropy=NegentropyService()) as relay:
            yield Side(path, relay.store, relay.server, local)
    finally:
        local.close()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Side, Side]]:
    async with _side(tmp_path / "a") as a, _side(tmp_path / "b") as b:
        yield a, b
