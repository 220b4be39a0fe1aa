"""Red team, round 14: an event the store cannot write (a full disk) had its id written in an ERROR, the level a
seized laptop's journal keeps (docs/safety.md, "What the log says": an id names a post, and the post its channel
and author). Now the error says what failed, and ``-v`` which event."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from relay_helpers import client, event_message, make_event, recv_json
from test_ingest import RefusingStore

from samizdat.core.keys import SecretKey
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore


async def test_an_event_not_stored_is_not_named_in_the_log_at_its_default_level(
    tmp_path: Path, key: SecretKey, caplog: pytest.LogCaptureFixture
) -> None:
    poison = make_event(key, 1, "Safe flat at Kuprevicha 3, ask for Ales 6620")
    sqlite = await SqliteStore.open(tmp_path / "events.sqlite")
    server = RelayServer(RefusingStore(sqlite, poison.id))  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    try:
        await server.start("127.0.0.1", 0)
        async with client(f"ws://127.0.0.1:{server.port}") as ws:
            await ws.send(event_message(poison))
            assert (await recv_json(ws, timeout=20))[2:] == [False, "error: could not store the event"]
    finally:
        await server.stop()
        await sqlite.close()
    kept = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r.getMessage() for r in kept if poison.id[:12] in r.getMessage()]
    assert any("storing an event failed" in r.getMessage() for r in kept), [r.getMessage() for r in kept]
    assert any(poison.id in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)  # -v
