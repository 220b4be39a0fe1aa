"""Log lines about many failing links are bounded: 64 made-up peers whose links fail again and again (nothing
answers at their addresses) write one "link to ... failed" line a minute in all, and the next one says how many
were left out."""

from __future__ import annotations

import logging
import time

import pytest
from mesh_helpers import WAIT, Side
from test_hostile_lan import running_mesh

from samizdat.errors import BrokenTransport
from samizdat.mesh.announcements import MAX_ANNOUNCED, Sighting
from samizdat.mesh.peers import Mesh, MeshOptions
from samizdat.mesh.say import SAY_EVERY
from samizdat.net.client import RelayClient
from samizdat.testing import wait_until


async def test_failing_links_write_one_line_a_minute_in_all_with_a_count_of_the_rest(
    pair: tuple[Side, Side], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="samizdat.mesh")
    a, _ = pair
    now = [time.time()]
    tries = [0]

    async def refused(url: str) -> RelayClient:
        tries[0] += 1
        raise BrokenTransport(f"cannot connect to {url}: refused")

    mesh = Mesh(a.store, a.local, a.server.ingest_many, MeshOptions(), clock=lambda: now[0], connect=refused)
    async with running_mesh(mesh):
        for n in range(MAX_ANNOUNCED):
            mesh._found(Sighting(f"fake{n}", f"ws://10.42.2.{n + 2}:4848", "", hub=False))
        await wait_until(
            lambda: len(mesh.links) == MAX_ANNOUNCED and all(link.failures >= 2 for link in mesh.links.values()),
            timeout=WAIT,
            what="every link to fail twice",
        )
        failed = [r.getMessage() for r in caplog.records if " failed (" in r.getMessage()]
        assert tries[0] >= 2 * MAX_ANNOUNCED
        assert len(failed) == 1, "one line for all the failures of the minute"
        now[0] += SAY_EVERY
        before = tries[0]
        await wait_until(lambda: tries[0] > before, timeout=WAIT, what="another try")
        failed = [r.getMessage() for r in caplog.records if " failed (" in r.getMessage()]
        assert len(failed) == 2
        left = int(failed[1].split("(and ")[1].split(" more")[0])
        assert left >= 2 * MAX_ANNOUNCED - 1, "the next line says how many were left out"
