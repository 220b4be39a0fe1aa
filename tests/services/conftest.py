"""Fixtures for the services' tests: a node on a fresh data directory with a fake clock and ``sleep``, so the
services (and their loops) run in-process without waiting; real SQLite files and, where a relay is needed, a real
relay on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from samizdat.core.keys import SecretKey
from samizdat.node import Node
from samizdat.services.context import Context
from samizdat.testing import FakeClock, test_node


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that starts at the real time when the test starts (not when this module was imported: in a whole
    run that was half an hour earlier, and posts dated by real time came 15 minutes "from the future" to a node
    on this clock): relays on loopback check created_at against their own, real time."""
    return FakeClock(float(int(time.time())))


@pytest.fixture
async def opened(tmp_path: Path, fake_clock: FakeClock) -> AsyncIterator[Node]:
    async with test_node(tmp_path / "node", clock=fake_clock, sleep=fake_clock.sleep) as node:
        yield node


@pytest.fixture
def ctx(opened: Node) -> Context:
    return opened.ctx


@pytest.fixture
def stranger() -> SecretKey:
    return SecretKey(bytes([7]) * 32)
