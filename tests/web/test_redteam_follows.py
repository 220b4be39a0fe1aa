"""Red team: what a device on the hub's Wi-Fi learns from the node's start page about what its owner follows.

The page carries the newest posts of the node's own and followed channels, so that a channel opened by link shows
at once (services/start_posts.py). It was the same page for everyone: any neighbour who fetched ``/`` read there
exactly which channels the node follows, which docs/safety.md promises they cannot. Now a reader who may not know
whose node this is (anyone but this machine, unless ``[node] publish_key``) gets a page carrying the node's own
channels' posts only, and a seed that does not put the followed channels first.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from samizdat.config import Config
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.node import Node
from samizdat.testing import test_node
from samizdat.web.app import POSTS_START, SEED_START
from samizdat.web.serving import relay_server

TIMEOUT = 10.0
OWNER, OTHER = SecretKey(bytes([81]) * 32), SecretKey(bytes([82]) * 32)


async def _get_from_neighbour(port: int) -> bytes:
    """``GET /`` through the trusted load balancer on 127.0.0.1, for a device on the hub's Wi-Fi (a PROXY header
    naming 192.168.4.20)."""
    head = (b"PROXY TCP4 192.168.4.20 192.168.4.1 40000 4848\r\nGET / HTTP/1.1\r\nHost: 192.168.4.1\r\n"
            b"Accept-Encoding: identity\r\nConnection: close\r\n\r\n")  # fmt: skip
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head)
            answer = await reader.read(-1)
        finally:
            writer.close()
    top, _, body = answer.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 200"), top[:80]
    return body


def _block(body: bytes, start: bytes) -> list[dict[str, Any]]:
    at = body.index(start) + len(start)
    events: list[dict[str, Any]] = json.loads(body[at : body.index(b"</script>", at)])
    return events


async def _following(node: Node) -> None:
    """Store two channels of other people with a post each; follow the first."""
    now = int(time.time())
    addresses = []
    for key, name in ((OWNER, "yard"), (OTHER, "market")):
        definition = build_channel_event(key, name, f"{name} news", created_at=now - 1000)
        channel = parse_channel(definition)
        post = build_post(key, channel, "news", f"{name} post: the water is back", created_at=now - 500)
        await node.ctx.store.add_many([definition, post])
        addresses.append(channel.address)
    node.ctx.local.follow(addresses[0], [], now)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[Node, int]]:
    async with test_node(tmp_path / "node", config=Config(trusted_proxies=("127.0.0.1/32",))) as node:
        server = relay_server(node.ctx, peers=list, carry={})
        await server.start("127.0.0.1", 0)
        try:
            yield node, server.port
        finally:
            await server.stop()


async def test_a_neighbour_cannot_read_what_the_node_follows_from_its_page(hub: tuple[Node, int]) -> None:
    node, port = hub
    await _following(node)
    page = await _get_from_neighbour(port)
    # No post of a followed channel: the page does not single it out.
    assert not [e for e in _block(page, POSTS_START) if e["pubkey"] == OWNER.public_key_hex]
    assert b"yard post" not in page
    # Both definitions are in the seed alike: it lists the channels the node has, not the ones it follows.
    assert {e["pubkey"] for e in _block(page, SEED_START)} == {OWNER.public_key_hex, OTHER.public_key_hex}
    # The node's own machine (its owner's browser) still gets them: tests/web/test_page_posts.py, from loopback.
