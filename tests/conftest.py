"""Fixtures for every test folder, on the public test kit :mod:`samizdat.testing` (the helpers themselves live
there; a folder's own conftest.py may override these)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from samizdat.testing import FakeClock, test_node

if TYPE_CHECKING:
    from samizdat.node import Node


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock (at 1,700,000,000 s) that moves only when the test moves it."""
    return FakeClock()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    """A node on a fresh data directory (``tmp_path / "node"``, on the real clock); closed in teardown."""
    async with test_node(tmp_path / "node") as opened:
        yield opened
