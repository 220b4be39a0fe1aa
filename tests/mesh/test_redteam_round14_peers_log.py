"""Red team, round 14's log review (docs/safety.md, "What the log says"), the LAN: a peer link that ended on a bug
of ours was logged at ERROR with its traceback, and an exception's message may name what the code held when it
failed (a ``KeyError`` is its key: a table of links is keyed by the peer's LAN address). The default log level is
what a seized laptop's journal keeps: at ERROR now only the exception's type and the line that raised it; -v names
the peer and gives the traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from mesh_helpers import WAIT, Side

from samizdat.mesh.peers import Mesh, MeshOptions
from samizdat.net.client import RelayClient
from samizdat.testing import wait_until

PEER = "ws://10.42.0.77:4848"


async def test_a_link_that_stops_on_our_bug_does_not_name_the_peer_by_default(
    pair: tuple[Side, Side], caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = pair

    async def broken(url: str) -> RelayClient:
        raise KeyError(url)  # a fault of ours, as a lookup in a table of links would raise it

    caplog.set_level(logging.INFO, logger="samizdat.mesh")
    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(announce=False), connect=broken)
    a.local.add_peer(PEER, "manual", 1.0)
    running = asyncio.create_task(mesh.run())
    try:
        await wait_until(lambda: any(r.levelno >= logging.ERROR for r in caplog.records), timeout=WAIT,
                         what="the link's fault logged")  # fmt: skip
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    formatter = logging.Formatter()
    loud = [formatter.format(r) for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud, "the fault is still said at the default level"
    assert not [line for line in loud if "10.42.0.77" in line], loud
    assert any("KeyError" in line for line in loud), loud  # what kind of fault, for a bug report
    quiet = [formatter.format(r) for r in caplog.records if r.levelno == logging.INFO]
    assert any(PEER in line and "Traceback" in line for line in quiet), quiet  # -v names it, with the traceback
