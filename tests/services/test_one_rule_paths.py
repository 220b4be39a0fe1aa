"""One action, one rule: the same hostile event sent through two doors gets the same answer.

Each test signs one event with the node's key and offers it to a relay on loopback (the door a phone or another
client uses: ``["EVENT", ...]``) and to the node's own publishing door (the web app's operator login and the
command line: services/publishing.py), and compares what a user would notice: the relay's reason, the error the
operator sees, and whether the node stored or queued the event."""

from __future__ import annotations

from pathlib import Path

import pytest

from samizdat.core import kinds
from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.core.posts import build_label
from samizdat.errors import UsageError
from samizdat.net.client import RelayClient
from samizdat.services import posts, publishing
from samizdat.services.context import Context
from samizdat.testing import running_relay

YEAR_2100 = 4102444800


async def through_both_doors(
    ctx: Context, tmp_path: Path, kind: int, content: str, tags: list[list[str]], created_at: int
) -> tuple[str, str]:
    """The relay's ``OK`` message and the operator's error for the same event (neither may take it)."""
    event = sign_event(ctx.key, kind, content, tags, created_at=created_at)
    async with running_relay(tmp_path / "relay") as relay, await RelayClient.connect(relay.url) as client:
        result = await client.publish(event, timeout=10)
    assert not result.accepted
    with pytest.raises(UsageError) as refused:
        await publishing.publish_as_operator(ctx, kind, content, tags, created_at)
    assert await ctx.store.get(event.id) is None  # the node did not store it
    assert [row for row in ctx.local.outbox() if row.event_id == event.id] == []  # nor queue it for relays
    return result.message, str(refused.value)


async def test_a_deletion_dated_in_2100_is_refused_at_both_doors(ctx: Context, tmp_path: Path) -> None:
    await posts.create_channel(ctx, "yard", "Yard")
    post = (await posts.post(ctx, "yard", "news", "Water is back")).ids[0]
    tags = [["e", post], ["k", str(kinds.POST)]]
    relay, operator = await through_both_doors(ctx, tmp_path, kinds.DELETION, "", tags, YEAR_2100)
    assert relay == "invalid: created_at too far in the future"
    assert operator == "the node refuses the event: created_at too far in the future"
    assert await ctx.store.get(post) is not None  # the post is not deleted by it either
    assert await ctx.store.query([Filter(kinds=frozenset({kinds.DELETION}))]) == []


async def test_a_label_dated_in_2100_is_refused_at_both_doors(ctx: Context, tmp_path: Path) -> None:
    await posts.create_channel(ctx, "yard", "Yard")
    post = await ctx.store.get((await posts.post(ctx, "yard", "news", "Water is back")).ids[0])
    assert post is not None
    label = build_label(ctx.key, post, "confirmed", created_at=ctx.now())
    tags = [list(tag) for tag in label.tags]
    relay, operator = await through_both_doors(ctx, tmp_path, kinds.LABEL, "", tags, YEAR_2100)
    assert relay == "invalid: created_at too far in the future"
    assert operator == "the node refuses the event: created_at too far in the future"
    assert await ctx.store.query([Filter(kinds=frozenset({kinds.LABEL}))]) == []


async def test_the_command_lines_own_events_pass_the_relays_limits_too(ctx: Context) -> None:
    """publish() is the door every locally signed event takes (posts, claims, relay reports): it applies the
    relay's rule itself, so a refused event is never stored here to be refused by every relay later."""
    event = sign_event(ctx.key, 1, "a note", [], created_at=YEAR_2100)
    with pytest.raises(UsageError, match="^the node refuses the event: created_at too far in the future$"):
        await publishing.publish(ctx, [event], ["ws://127.0.0.1:9"])
    assert await ctx.store.get(event.id) is None
    assert ctx.local.outbox() == []
