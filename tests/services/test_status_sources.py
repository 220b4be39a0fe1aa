"""The status document says which relays each followed channel came from (a channel fetched by channel and one
fetched with its area, against a real relay on loopback), and whether the node reaches relays through a proxy
(the web app then warns that a phone's direct connections bypass it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from samizdat.cli.status import status_text
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.net.failover import Routing
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import status, sync
from samizdat.services.context import Context
from samizdat.testing import running_relay

OWNER, OTHER = SecretKey(bytes([21]) * 32), SecretKey(bytes([22]) * 32)


async def test_each_followed_channel_names_the_relays_it_came_from(ctx: Context, tmp_path: Path) -> None:
    async with running_relay(tmp_path, negentropy=NegentropyService()) as relay:
        placed = build_channel_event(OWNER, "yard", "Yard", created_at=ctx.now() - 600, geohash="u9edp2",
                                     mirrors=[relay.url])  # fmt: skip
        placeless = build_channel_event(OTHER, "city", "City", created_at=ctx.now() - 600, mirrors=[relay.url])
        await relay.store.add_many([placed, placeless])
        yard, city = parse_channel(placed), parse_channel(placeless)
        ctx.local.follow(yard.address, [relay.url], ctx.clock())
        ctx.local.follow(city.address, [relay.url], ctx.clock())
        before = await status.document(ctx)
        assert before["channel_sources"] == []  # nothing fetched yet
        assert await sync.sync_pass(ctx) >= 1
        doc = await status.document(ctx)
    assert doc["channel_sources"] == sorted(
        [{"channel": yard.address, "relays": [relay.url]}, {"channel": city.address, "relays": [relay.url]}],
        key=lambda row: str(row["channel"]),
    )
    assert doc["proxied"] is False
    text = status_text(await status.document(ctx, detail=True), verbose=True)
    assert f"channel yard came from {relay.url}" in text
    assert f"channel city came from {relay.url}" in text


async def test_a_proxy_on_the_node_is_said(ctx: Context) -> None:
    proxied = dataclasses.replace(ctx, routing=Routing(proxy="socks5h://127.0.0.1:9050"))
    assert (await status.document(proxied))["proxied"] is True
