"""A device on the Wi-Fi sends junk signed by fresh keys from each of its made-up nodes, so that each counts as
bringing news and holds a reserved place in the room (samizdat.mesh.room). A node that follows channels counts
only the events of the keys that may post in them, its verifiers' and its own: junk brings nothing, a real
neighbour carrying a followed channel's posts does. A node that follows nothing counts every new event."""

from __future__ import annotations

from pathlib import Path

from mesh_helpers import WAIT, Side, running

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.mesh.link import PeerLink
from samizdat.net.client import RelayClient
from samizdat.services.lan_news import LanNews
from samizdat.testing import test_node, wait_until

NOW = 1_700_000_000
OWNER, ADMIN = SecretKey.generate(), SecretKey.generate()
DEFINITION = build_channel_event(OWNER, "okrestina", "Okrestina", created_at=NOW - 86400,
                                 admins={ADMIN.public_key_hex: "admin"})  # fmt: skip
CHANNEL = parse_channel(DEFINITION)


def junk(n: int) -> list[Event]:
    """New events of fresh keys: they pass every door, so the store takes them as new."""
    return [sign_event(SecretKey.generate(), 1, f"junk {i}", created_at=NOW + i) for i in range(n)]


async def has(side: Side, *ids: str) -> bool:
    return len(await side.store.has(list(ids))) == len(ids)


async def test_junk_of_fresh_keys_is_no_news_and_a_followed_channels_post_is(pair: tuple[Side, Side]) -> None:
    a, b = pair
    flood = junk(40)
    await b.store.add_many([DEFINITION, *flood])
    await a.store.add_many([DEFINITION])  # A has the channel: what B brings new is the junk
    counts = {OWNER.public_key_hex, ADMIN.public_key_hex}
    a.local.add_peer(b.url, "manual", now=0)
    link = PeerLink(b.url, a.store, a.local, a.server.ingest_many, valued=lambda e: e.pubkey in counts)
    a.server.on_event = link.offer
    async with running(link):
        await wait_until(lambda: has(a, *[e.id for e in flood]), timeout=WAIT, what="A to take B's junk")
        await wait_until(lambda: link.state == "live", timeout=WAIT, what="the link to go live")
        assert link.worked_since is not None
        assert link.brought_at is None  # 40 new events, none of them news

        post = build_post(ADMIN, CHANNEL, "news", "The gate is closed", created_at=NOW + 100)
        async with await RelayClient.connect(b.url) as client:  # the admin posts on B
            assert (await client.publish(post)).accepted
        await wait_until(lambda: has(a, post.id), timeout=WAIT, what="the admin's post to reach A")
        assert link.brought_at is not None


async def test_a_node_that_follows_a_channel_counts_only_its_keys(tmp_path: Path) -> None:
    async with test_node(tmp_path / "node") as node:
        ctx = node.ctx
        news = LanNews(ctx)
        stranger = junk(1)[0]
        await news.refresh()
        assert news(stranger)  # following nothing (a hub): every new event counts, as before

        await ctx.store.add_many([DEFINITION])
        ctx.local.follow(CHANNEL.address, [], now=NOW)
        await news.refresh()
        assert not news(stranger)
        by_admin = build_post(ADMIN, CHANNEL, "news", "The gate is closed", created_at=NOW + 100)
        assert news(by_admin)
        assert news(sign_event(OWNER, 1, "a note", created_at=NOW))
        assert news(sign_event(ctx.key, 1, "our own, from another device", created_at=NOW))
