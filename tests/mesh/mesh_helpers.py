"""Helpers for the mesh tests (importable by name: the test folders are not packages)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.relay.server import RelayServer
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore

KEY = SecretKey.generate()


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


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``check`` every 0.05 s until true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
