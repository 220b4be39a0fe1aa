"""Red team: the node's own new post, held back from the LAN (relay/embargo.py), must not show in the start page.

The page a device on the hub's Wi-Fi gets at ``/`` carries the newest posts of the node's own channels
(services/start_posts.py). While the relay holds the node's own new post back from every door so that a neighbour
serves it first, a device that fetched ``/`` read it there at once: the node was again the first on the LAN with
its own post. Now the page leaves held events out, and has them once the hold ends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_redteam_follows import _block, _get_from_neighbour

from samizdat.config import Config
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.posts import build_post
from samizdat.node import Node
from samizdat.relay.embargo import Embargo
from samizdat.relay.server import RelayServer
from samizdat.testing import FakeClock, test_node
from samizdat.web.app import POSTS_START, WebApp
from samizdat.web.serving import relay_server

STEM = "ws://192.168.4.30:4848"  # the outgoing link to the neighbour the held post is handed to (never dialled)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[Node, RelayServer, Embargo]]:
    async with test_node(tmp_path / "node", config=Config(trusted_proxies=("127.0.0.1/32",))) as node:
        server = relay_server(node.ctx, peers=list, carry={})
        embargo = Embargo(lambda e: e.pubkey == node.ctx.pubkey, hold=600, random=lambda: 0.5)
        server.hold_own(embargo, lambda: [STEM])
        await server.start("127.0.0.1", 0)
        try:
            yield node, server, embargo
        finally:
            await server.stop()


async def test_a_held_post_is_not_in_the_page_until_its_hold_ends(hub: tuple[Node, RelayServer, Embargo]) -> None:
    node, server, embargo = hub
    assert isinstance(server.http_handler, WebApp)
    clock = FakeClock()
    server.http_handler.clock = clock  # the page is rebuilt when asked after its cache time, not by waiting
    now = int(time.time())
    definition = build_channel_event(node.ctx.key, "yard", "Yard news", created_at=now - 1000)
    older = build_post(node.ctx.key, parse_channel(definition), "news", "the water is back", created_at=now - 500)
    await node.ctx.store.add_many([definition, older])
    held = build_post(node.ctx.key, parse_channel(definition), "news", "police at entrance 3", created_at=now - 5)
    await server.ingest(held)
    assert embargo.holds(held.id)

    page = await _get_from_neighbour(server.port)
    ids = {e["id"] for e in _block(page, POSTS_START)}
    assert older.id in ids  # the page carries the node's own channel's posts ...
    assert held.id not in ids  # ... but not the one held back from the LAN
    assert b"entrance 3" not in page

    embargo.taken([held.id])  # the neighbour it was handed to has it: it is out
    clock.advance(60)
    page = await _get_from_neighbour(server.port)
    assert held.id in {e["id"] for e in _block(page, POSTS_START)}
