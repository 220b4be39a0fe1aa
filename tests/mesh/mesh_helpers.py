"""Helpers for the mesh tests (importable by name: the test folders are not packages)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.mesh.announcements import Sighting
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


class Discovered:
    """``side``'s mesh fed by a roster as the mDNS discovery feeds it, on a clock the test moves (``now[0]``):
    :meth:`announce` is a service heard, :meth:`resolve` one resolved."""

    def __init__(self, side: Side) -> None:
        from samizdat.mesh.announcements import Roster
        from samizdat.mesh.peers import Mesh, MeshOptions

        self.now = [time.time()]  # the links check posts' times against it: a fake clock that starts now
        self.mesh = Mesh(side.store, side.local, side.server.ingest_many, MeshOptions(announce=False),
                         clock=lambda: self.now[0])  # fmt: skip
        self.roster = Roster(replaceable=self.mesh.replaceable)

    def resolve(self, name: str, sighting: Sighting) -> None:
        """What the discovery does with a resolved service."""
        found, lost = self.roster.resolved(name, sighting, self.now[0])
        for instance in lost:
            self.mesh._lost(instance)
        if found is not None:
            self.mesh._found(found)

    def announce(self, name: str, sighting: Sighting) -> None:
        self.roster.heard(name, self.now[0])
        if self.roster.wanted(name, self.now[0]):
            self.resolve(name, sighting)
