"""Two real nodes' worth of parts on loopback: SQLite stores behind real relay servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mesh_helpers import Side

from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore


async def _side(path: Path) -> Side:
    path.mkdir()  # noqa: ASYNC240 - a test directory, before anything runs
    store = await SqliteStore.open(path / "events.sqlite")
    server = RelayServer(
        store, limits=RelayLimits(events_per_second=1e6, events_burst=10**6), negentropy=NegentropyService()
    )
    await server.start("127.0.0.1", 0)
    return Side(path, store, server, LocalState(path / "local.sqlite"))


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Side, Side]]:
    a = await _side(tmp_path / "a")
    b = await _side(tmp_path / "b")
    try:
        yield a, b
    finally:
        for side in (a, b):
            await side.server.stop()
            side.local.close()
            await side.store.close()
