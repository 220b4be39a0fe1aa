"""Helpers for the mesh tests (importable by name: the test folders are not packages)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
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
