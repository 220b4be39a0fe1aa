"""Helpers for the mesh tests (importable by name: the test folders are not packages)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.mesh.link import PeerLink
from samizdat.relay.server import RelayServer
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore

KEY = SecretKey.generate()
WAIT = 10.0  # seconds: the bound on a wait in the mesh tests, unless a test says otherwise


@dataclass
class Side:
    path: Path
    store: SqliteStore
    server: RelayServer
    local: LocalState

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"


def note(text: str, created_at: int = 1_700_000_000) -> Event:
    return sign_event(KEY, 1, text, [], created_at=created_at)


@contextlib.asynccontextmanager
async def running(link: PeerLink) -> AsyncIterator[PeerLink]:
    """``link`` running in a task for the block; cancelled and awaited after it, also when the block failed."""
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
