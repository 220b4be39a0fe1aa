"""Private reading in the background sync, in-process against a real relay on loopback: followed channels are
grouped by area and each area is asked for with one ``#g`` filter; channels without an area are fetched by
channel and the status says so; an area over the byte budget is not fetched at all (never by channel instead)
and the status says what to do; posts from before area tags are fetched by channel once, and only if allowed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from samizdat.cli.status import status_text
from samizdat.core import kinds
from samizdat.core.channel import Channel, build_channel_event, parse_channel
from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.net.client import RelayClient
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import areas, status, sync
from samizdat.services.context import Context
from samizdat.testing import running_relay

OWNER, NEIGHBOUR, FARAWAY = SecretKey(bytes([11]) * 32), SecretKey(bytes([12]) * 32), SecretKey(bytes([13]) * 32)
PLACELESS = SecretKey(bytes([14]) * 32)


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Every REQ, COUNT and NEG-OPEN the node sends, as parsed JSON: what the relay learns from our requests."""
    sent: list[list[Any]] = []
    original = RelayClient.send_raw

    async def recording(self: RelayClient, frame: str) -> None:
        message = orjson.loads(frame)
        if message[0] in ("REQ", "COUNT", "NEG-OPEN"):
            sent.append(message)
        await original(self, frame)

    monkeypatch.setattr(RelayClient, "send_raw", recording)
    return sent


def filters_sent(frames: list[list[Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in frames:
        if message[0] == "NEG-OPEN":
            out.append(message[2])
        else:
            out += [f for f in message[2:] if isinstance(f, dict)]
    return out


def names(filters: list[dict[str, Any]], address: str) -> bool:
    """Whether any filter names the channel at ``address`` or its owner."""
    owner = address.split(":", 2)[1]
    text = orjson.dumps(filters).decode()
    return address in text or owner in text


def by_ids_only(flt: dict[str, Any]) -> bool:
    return set(flt) <= {"ids", "limit"}


async def channel(relay: Any, key: SecretKey, name: str, geohash: str, ctx: Context) -> tuple[Channel, Event]:
    definition = build_channel_event(key, name, name.title(), created_at=ctx.now() - 600, geohash=geohash,
                                     mirrors=[relay.url])  # fmt: skip
    parsed = parse_channel(definition)
    post = build_post(key, parsed, "news", f"news from {name}", created_at=ctx.now() - 60)
    await relay.store.add_many([definition, post])
    return parsed, post


async def test_an_area_is_fetched_whole_with_one_g_filter(
    ctx: Context, tmp_path: Path, frames: list[list[Any]]
) -> None:
    ctx = dataclasses.replace(ctx, config=ctx.config.with_overrides(old_by_channel=False))
    async with running_relay(tmp_path, negentropy=NegentropyService()) as relay:
        yard, yard_post = await channel(relay, OWNER, "yard", "u9edp2", ctx)
        _, neighbour_post = await channel(relay, NEIGHBOUR, "next-door", "u9edq", ctx)  # same area, not followed
        _, far_post = await channel(relay, FARAWAY, "far", "u9fz1", ctx)  # another area
        nowhere, nowhere_post = await channel(relay, PLACELESS, "nowhere", "", ctx)  # no place: by channel
        # The node knows the definitions (from a bundle, a friend, or an earlier sync) and follows two channels.
        await ctx.store.add_many([yard.event, nowhere.event])
        ctx.local.follow(yard.address, [relay.url], ctx.clock())
        ctx.local.follow(nowhere.address, [relay.url], ctx.clock())

        assert await sync.sync_pass(ctx) == 2  # the area u9ed, and the channel without a place

        sent = filters_sent(frames)
        assert {"kinds": sorted(areas.AREA_KINDS), "#g": ["u9ed"]} in sent
        assert not names(sent, yard.address)  # the relay never learns which channel of u9ed we follow
        assert names(sent, nowhere.address)  # a channel without an area cannot be hidden
        assert all("#g" in f or names([f], nowhere.address) or by_ids_only(f) for f in sent)

        assert await ctx.store.get(yard_post.id) is not None
        assert await ctx.store.get(nowhere_post.id) is not None
        assert await ctx.store.get(neighbour_post.id) is not None  # carried, under the carry quota
        assert await ctx.store.get(far_post.id) is None  # another area is never asked for
        row = ctx.local.sync_row(relay.url, "area:u9ed")
        assert row is not None
        assert row.failures == 0
        assert row.summary["received"] >= 3

        doc = await status.document(ctx, detail=True)
        reading = doc["reading"]
        assert reading["areas"] == [{"cell": "u9ed", "channels": 1, "relays": [relay.url]}]
        assert any("channel nowhere has no area" in line for line in reading["by_channel"])
        text = status_text(doc)
        assert "Private reading: areas fetched whole: u9ed" in text
        assert "channel nowhere has no area" in text


async def test_an_area_over_the_budget_is_not_fetched_and_status_says_what_to_do(
    ctx: Context, tmp_path: Path, frames: list[list[Any]]
) -> None:
    tight = ctx.config.with_overrides(old_by_channel=False, area_budget_mb=0.002)  # two events' worth
    ctx = dataclasses.replace(ctx, config=tight)
    async with running_relay(tmp_path, negentropy=NegentropyService()) as relay:
        yard, yard_post = await channel(relay, OWNER, "yard", "u9edp2", ctx)
        await channel(relay, NEIGHBOUR, "next-door", "u9edq", ctx)
        await ctx.store.add(yard.event)
        ctx.local.follow(yard.address, [relay.url], ctx.clock())

        assert await sync.sync_pass(ctx) == 1
        sent = filters_sent(frames)
        assert not names(sent, yard.address)  # no quiet fetch by channel
        # nothing downloaded: only the node's own events are asked back by id (what the relay claims to have)
        assert not [f for f in sent if by_ids_only(f) and yard_post.id in f["ids"]]
        assert await ctx.store.get(yard_post.id) is None
        row = ctx.local.sync_row(relay.url, "area:u9ed")
        assert row is not None
        line = str(row.summary["over_budget"])
        assert line.startswith(f"area u9ed at {relay.url} is about ")
        assert "over the 0.002 MB budget" in line
        assert "[sync] area_budget_mb" in line
        assert "samizdat areas by-channel u9ed" in line
        doc = await status.document(ctx, detail=True)
        assert doc["reading"]["over_budget"] == [line]
        assert f"! {line}" in status_text(doc)
        assert "u9ed" not in orjson.dumps(await status.document(ctx)).decode()  # not in the public status

        # The person chooses to fetch that area by channel: now, and only now, the relay learns the channel.
        assert areas.choose_by_channel(ctx, "u9ed", True)
        ctx.local.record_sync(relay.url, yard.address, now=0, ok=True, next_attempt=0, summary={})
        frames.clear()
        assert await sync.sync_pass(ctx) == 1
        assert names(filters_sent(frames), yard.address)
        assert await ctx.store.get(yard_post.id) is not None
        notes = (await status.document(ctx, detail=True))["reading"]["by_channel"]
        assert any("area u9ed: fetched channel by channel, as you chose" in n for n in notes)


async def test_posts_from_before_area_tags_are_fetched_by_channel_once(
    ctx: Context, tmp_path: Path, frames: list[list[Any]]
) -> None:
    async with running_relay(tmp_path, negentropy=NegentropyService()) as relay:
        yard, new_post = await channel(relay, OWNER, "yard", "u9edp2", ctx)
        untagged = dataclasses.replace(yard, geohash="")  # what an older client built: no area tags
        old_post = build_post(OWNER, untagged, "news", "old news", created_at=areas.AREA_TAGS_SINCE - 3600)
        await relay.store.add(old_post)
        await ctx.store.add(yard.event)
        ctx.local.follow(yard.address, [relay.url], ctx.clock())

        assert await sync.sync_pass(ctx) == 2
        assert await ctx.store.get(old_post.id) is not None
        assert await ctx.store.get(new_post.id) is not None
        by_channel = [f for f in filters_sent(frames) if names([f], yard.address)]
        assert by_channel
        assert all(f["until"] < areas.AREA_TAGS_SINCE for f in by_channel)  # only what came before area tags

        once = ctx.local.sync_row(relay.url, areas.BEFORE_PREFIX + yard.address)
        assert once is not None
        assert once.next_attempt - ctx.clock() > 50 * 365 * 86400  # never again


async def test_area_choices_are_checked(ctx: Context) -> None:
    from samizdat.errors import UsageError

    for bad in ("u9", "u9edp", "u9ea", ""):
        with pytest.raises(UsageError, match="is not an area"):
            areas.choose_by_channel(ctx, bad, True)
    assert areas.choose_by_channel(ctx, "u9e", True)
    assert not areas.choose_by_channel(ctx, "u9e", True)
    assert areas.choose_by_channel(ctx, "u9e", False)


async def test_private_reading_off_fetches_by_channel_as_before(ctx: Context, tmp_path: Path) -> None:
    ctx = dataclasses.replace(ctx, config=ctx.config.with_overrides(sync_private=False))
    async with running_relay(tmp_path, negentropy=NegentropyService()) as relay:
        yard, yard_post = await channel(relay, OWNER, "yard", "u9edp2", ctx)
        ctx.local.follow(yard.address, [relay.url], ctx.clock())
        assert await sync.sync_pass(ctx) == 1
        assert await ctx.store.get(yard_post.id) is not None
        assert ctx.local.sync_row(relay.url, yard.address) is not None
        reading = (await status.document(ctx, detail=True))["reading"]
        assert reading["private"] is False
        assert "Private reading: off" in status_text(await status.document(ctx, detail=True))


def test_the_default_configuration_reads_privately(tmp_path: Path) -> None:
    from samizdat.config import DEFAULT_CONFIG, load_config

    (tmp_path / "config.toml").write_text(DEFAULT_CONFIG)
    config = load_config(tmp_path)
    assert config.sync_private is True
    assert config.area_budget_mb == 20
    assert kinds.POST in areas.AREA_KINDS
