"""Red team, round 8: a mirror that tells the node's withholding check the truth and its readers the old definition,
on the same connection and route. After a sync the node asks the mirror, by id, for the channel's newest definition
and, with the filters readers use, for the channel's definitions. Asked in one ``REQ``, the mirror could answer the
ids with the newest definition and the readers' filters with the old one (a relay knows which filter an event
answers): the node took the newer of the two for what readers get, and cleared the mirror. A real WebSocket server
on loopback plays the mirror; the node is a real one on its own data directory.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from net_helpers import frame
from websockets.asyncio.server import ServerConnection, serve

from samizdat.cli.render import when
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.net.client import RelayClient
from samizdat.node import Node
from samizdat.services import channels, withholding
from samizdat.testing import FakeClock, test_node

WAIT = 20.0
OWNER = SecretKey(bytes([81]) * 32)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    clock = FakeClock(float(int(time.time())))
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as opened:
        yield opened


def mirror(newest: Event, old: Event, *, lying: bool) -> Any:
    """A mirror holding both definitions: a filter with ids gets what it names (the truth), any other filter the
    old definition (``lying``) or the newest; every EVENT is answered ``OK true``."""

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "REQ":
                sent: set[str] = set()
                for flt in message[2:]:
                    if "ids" in flt:
                        answer = [e for e in (newest, old) if e.id in flt["ids"]]
                    else:
                        answer = [old if lying else newest]
                    for event in answer:
                        if event.id not in sent:
                            sent.add(event.id)
                            await ws.send(frame("EVENT", message[1], event.to_dict()))
                await ws.send(frame("EOSE", message[1]))
            elif message[0] == "EVENT" and isinstance(message[1], dict):
                await ws.send(frame("OK", message[1].get("id"), True, ""))

    return handler


@contextlib.asynccontextmanager
async def serving(handler: Any) -> AsyncIterator[RelayClient]:
    async with serve(handler, "127.0.0.1", 0, close_timeout=1) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        client = await RelayClient.connect(f"ws://127.0.0.1:{port}", timeout=WAIT)
        try:
            yield client
        finally:
            await client.close()


async def definitions(node: Node) -> tuple[str, Event, Event]:
    now = int(node.ctx.now())
    old = build_channel_event(OWNER, "yard", "Yard", created_at=now - 7200, about="the admin the owner removed")
    newest = build_channel_event(OWNER, "yard", "Yard", created_at=now - 1800, about="the admin removed")
    await node.ctx.ingest([old, newest])
    return parse_channel(newest).address, newest, old


@pytest.mark.parametrize("lying", [True, False], ids=["lying to readers", "honest"])
async def test_a_mirror_serving_the_newest_definition_by_id_and_the_old_one_to_readers_is_named(
    node: Node, lying: bool
) -> None:
    address, newest, old = await definitions(node)
    scope = [channels.definition_filter(address)]
    async with serving(mirror(newest, old, lying=lying)) as client:
        found = await withholding.check(node.ctx, client, [address], scope)
    if not lying:
        assert found.withheld == []  # an honest mirror in step is called nothing
        return
    assert len(found.withheld) == 1, found
    row = found.withheld[0]
    assert row["what"] == "definition"
    assert row["served"] == old.created_at
    line = withholding.line(row, "«Yard»", when)
    assert line.startswith("served the definition of «Yard» of ")
    assert "not the newest" in line
