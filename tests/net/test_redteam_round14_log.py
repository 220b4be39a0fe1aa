"""Red team, round 14: what the log of a seized laptop says (docs/safety.md, "What the log says"). Under systemd
the log of ``samizdat serve`` at its default level (WARNING) lands on the disk unencrypted, so it must say what
happened, never where. A relay that claims over NIP-77 to hold the node's events and does not serve them (a
censor's box answering in its name on a plain ``ws://`` path) had its URL written in a WARNING at every sync:
the journal of an encrypted node named the relays it syncs with. Now the warning names none (``-v`` does)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from test_lying_claims import WAIT, Echo, ours
from websockets.asyncio.server import serve

from samizdat.core.filters import Filter
from samizdat.net import sync as netsync
from samizdat.net.client import RelayClient
from samizdat.store.sqlite import SqliteStore


async def test_a_lying_relay_is_not_named_in_the_log_at_its_default_level(
    local: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await ours(local, 50)
    caplog.set_level(logging.INFO)
    async with serve(Echo(), "127.0.0.1", 0, close_timeout=1) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        async with await RelayClient.connect(url, timeout=WAIT) as client, asyncio.timeout(WAIT):
            report = await netsync.sync(client, local, [Filter()], method="nip77")
    assert report.unserved > 0  # the lie was caught (tests/net/test_lying_claims.py)
    kept = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("syncing with REQs instead" in line for line in kept), kept  # what happened is said
    assert not [line for line in kept if str(port) in line or "127.0.0.1" in line], kept  # where, not
    verbose = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(url in line for line in verbose), verbose  # -v still names it
