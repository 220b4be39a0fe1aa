"""One action, one rule: the same hostile event sent through two doors gets the same answer (docs/architecture.md,
"One action, one rule").

The doors: a relay's ``["EVENT", ...]`` (a phone, any client), the node's own publishing (the command line and
the web app's operator login: services/publishing.py), the forwarding of a phone's events to the channel's mirrors
(services/upkeep.py), what sync, import and LAN peers reach (``Context.ingest``, the store), and what a phone
passes on in a bundle (web/src/rules.js ``keptByStore``). Each test compares what a user would notice: the
relay's reason, the operator's error, what the node stored, and what it queued for the mirrors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from samizdat.core import kinds
from samizdat.core.channel import add_admin, build_channel_event, parse_channel, remove_admin
from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_correction, build_label, build_post, build_retraction, build_vouch
from samizdat.core.recovery import build_claim
from samizdat.errors import UsageError
from samizdat.net.client import RelayClient
from samizdat.services import channels, posts, publishing
from samizdat.services.context import Context
from samizdat.services.upkeep import Upkeep
from samizdat.store.memory import MemoryStore
from samizdat.testing import running_relay, wait_until

YEAR_2100 = 4102444800
WEB = Path(__file__).resolve().parents[2] / "web"


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


MIRROR = "wss://mirror.example"


@contextlib.asynccontextmanager
async def looping(loop: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def forwarded(ctx: Context, event: Event) -> bool:
    """What the node does with ``event`` a phone sent to its relay: is it queued for the channel's mirrors?"""
    await ctx.store.add(event)
    await Upkeep(ctx).forward([event])
    return any(row.event_id == event.id and row.relay == MIRROR for row in ctx.local.outbox())


def moved(key: SecretKey, address: str, original: Event, at: int) -> Event:
    tags = [["a", address, ""], ["type", "correction"], ["e", original.id, "", "correction", original.pubkey],
            ["location", "Lenina 40"]]  # fmt: skip
    return sign_event(key, kinds.POST, "Moved: come to the yard of Lenina 40", tags, created_at=at)


async def test_amendments_the_node_would_not_publish_it_does_not_forward_either(
    ctx: Context, stranger: SecretKey
) -> None:
    """A phone's correction reaches the mirrors through the forwarding door (services/upkeep.py), the node's own
    through publishing.authorize: an editor rewriting the owner's safe place, and a removed admin's correction
    dated before its removal, are refused by the one and were passed on by the other."""
    editor, turned = SecretKey(bytes([21]) * 32), SecretKey(bytes([22]) * 32)
    now = ctx.now()
    yard, _ = await posts.create_channel(ctx, "yard", "Yard", mirrors=[MIRROR])
    await ctx.store.add(add_admin(ctx.key, yard, editor.public_key_hex, "editor", created_at=now - 300))
    channel = await channels.lookup(ctx, yard.address)
    assert channel is not None
    await ctx.store.add(add_admin(ctx.key, channel, turned.public_key_hex, "admin", created_at=now - 290))
    channel = await channels.lookup(ctx, yard.address)
    assert channel is not None
    safe = build_post(ctx.key, channel, "safe-place", "Tea and a charger", created_at=now - 280, location="Lenina 5")
    theirs = build_post(turned, channel, "safe-place", "Flat 3", created_at=now - 270, location="Lenina 12")
    await ctx.store.add_many([safe, theirs])
    await ctx.store.add(remove_admin(ctx.key, channel, turned.public_key_hex, created_at=now - 100, since=now - 100))
    channel = await channels.lookup(ctx, yard.address)
    assert channel is not None
    assert turned.public_key_hex in channel.revoked
    hostile = [  # each one moves a safe place to where the police wait (signed as a hostile client would)
        moved(editor, yard.address, safe, now - 60),
        moved(turned, yard.address, theirs, now - 150),
    ]
    for event in hostile:
        with pytest.raises(UsageError, match="(?i)may amend|would not count"):
            await publishing.authorize(ctx, event)
        assert not await forwarded(ctx, event), f"forwarded to the mirrors: {event.content!r} by {event.pubkey[:8]}"
    # What the readers' rule counts is still forwarded: the editor's own post's correction, a former admin's
    # retraction of its own post (NIP-09 lets it delete it anyway).
    own = build_post(editor, channel, "news", "Bread at the corner", created_at=now - 50)
    await ctx.store.add(own)
    counted = [
        build_correction(editor, channel, own, "Bread and milk", created_at=now - 40),
        build_retraction(turned, channel, theirs, "gone", created_at=now - 150)[0],
    ]
    for event in counted:
        await publishing.authorize(ctx, event)
        assert await forwarded(ctx, event)


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the phone's rule (web/src/rules.js)")
async def test_a_seized_owner_key_cannot_delete_its_channels_definition_through_any_door(
    ctx: Context, tmp_path: Path, stranger: SecretKey
) -> None:
    """The police hold the owner key of a channel whose recovery key said so (a seizure claim): ``samizdat delete``
    refuses to sign a deletion request of a channel definition, but one signed elsewhere, sent to a relay, synced,
    imported or pushed by a LAN peer, deleted the definition, and with it the claim readers are shown."""
    recovery, now = SecretKey(bytes([23]) * 32), ctx.now()
    definition = build_channel_event(stranger, "yard", "Yard", created_at=now - 1000, recovery=recovery.public_key_hex)
    address = parse_channel(definition).address
    successor = parse_channel(build_channel_event(recovery, "yard2", "Yard", created_at=now - 10))
    claim = build_claim(recovery, definition, successor.address, since=now - 500, created_at=now - 100)
    by_address = sign_event(stranger, kinds.DELETION, "", [["a", address], ["k", str(kinds.CHANNEL)]], created_at=now)
    by_id = sign_event(stranger, kinds.DELETION, "", [["e", definition.id]], created_at=now)
    # A relay's door (an EVENT from any client), then the node's store (what sync, import and LAN peers reach).
    async with running_relay(tmp_path / "relay") as relay, await RelayClient.connect(relay.url) as client:
        for event in (definition, by_address, by_id):
            assert (await client.publish(event, timeout=10)).accepted
        assert await relay.store.get(definition.id) == definition
    await ctx.ingest([definition, successor.event, claim, by_address, by_id])
    judgement = await channels.judged(ctx, address)
    assert judgement.channel is not None
    assert judgement.claim is not None
    assert judgement.claim.event.id == claim.id  # readers are still told the owner key was seized
    memory = MemoryStore(clock=ctx.clock)
    await memory.add_many([by_id, by_address, definition])  # the requests first: the definition comes back
    assert await memory.get(definition.id) == definition
    # A phone passes on in a bundle what a node's store keeps (web/src/rules.js keptByStore).
    assert definition.id in kept_by_phone([definition, by_address, by_id], now)


def kept_by_phone(events: list[Event], now: int) -> list[str]:
    """The ids of ``events`` a phone keeps (web/src/rules.js keptByStore, run under node)."""
    payload = {"now": now, "events": [e.to_dict() for e in events]}
    done = subprocess.run(["node", str(WEB / "test" / "store_rules_check.mjs")], input=orjson.dumps(payload),
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    ids: list[str] = json.loads(done.stdout)
    return ids


async def test_a_retracted_posts_deletion_goes_to_the_mirrors_from_every_door(ctx: Context) -> None:
    """Retracting one's own post deletes it too (a NIP-09 request with the retraction): ``samizdat retract`` sends
    both to the channel's mirrors; from the web login, and from a phone through the relay, the deletion stayed
    on this node, and every mirror kept the retracted post's text (a safe place's address) for anyone asking."""
    editor = SecretKey(bytes([24]) * 32)
    now = ctx.now()
    yard, _ = await posts.create_channel(ctx, "yard", "Yard", mirrors=[MIRROR])
    await ctx.store.add(add_admin(ctx.key, yard, editor.public_key_hex, "editor", created_at=now - 300))
    channel = await channels.lookup(ctx, yard.address)
    assert channel is not None

    def queued(event: Event) -> bool:
        return any(row.event_id == event.id and row.relay == MIRROR for row in ctx.local.outbox())

    # The command line.
    by_cli = (await posts.post(ctx, "yard", "safe-place", "Tea", fields={"location": "Lenina 5"})).ids[0]
    await posts.retract(ctx, by_cli, "burnt")
    deletions = await ctx.store.query([Filter(kinds=frozenset({kinds.DELETION}), tags=(("e", frozenset({by_cli})),))])
    assert len(deletions) == 1
    assert queued(deletions[0])
    # The web login: the browser signs the retraction, then the deletion (web/src/views/compose.js).
    original = build_post(ctx.key, channel, "safe-place", "Flat 3", created_at=now - 20, location="Lenina 12")
    await publishing.publish(ctx, [original], [])
    retraction, deletion = build_retraction(ctx.key, channel, original, "burnt", created_at=now)
    assert deletion is not None
    for event in (retraction, deletion):
        await publishing.publish_as_operator(ctx, event.kind, event.content, [list(t) for t in event.tags], now)
    signed = await ctx.store.query([Filter(kinds=frozenset({kinds.DELETION}), tags=(("e", frozenset({original.id})),))])
    assert len(signed) == 1
    assert queued(signed[0]), "the web login's deletion did not go to the channel's mirrors"
    # A phone with the editor's key, through the relay (the relay stores both, the node forwards them).
    theirs = build_post(editor, channel, "safe-place", "Flat 9", created_at=now - 20, location="Lenina 9")
    await ctx.store.add(theirs)
    retraction, deletion = build_retraction(editor, channel, theirs, "burnt", created_at=now)
    assert deletion is not None
    upkeep = Upkeep(ctx)
    for event in (retraction, deletion):
        assert (await ctx.store.add(event)).accepted
        upkeep.from_client(event)
    async with looping(upkeep.forward_loop):
        await wait_until(lambda: queued(retraction), what="the phone's retraction forwarded")
        await wait_until(lambda: queued(deletion), what="the phone's deletion forwarded")
    # A deletion of no retracted post of a kept channel goes nowhere: the node is no free courier.
    note = sign_event(editor, 1, "a note", [], created_at=now)
    stray = sign_event(editor, kinds.DELETION, "", [["e", note.id]], created_at=now)
    await ctx.store.add_many([note, stray])
    await upkeep.forward([stray])
    assert not queued(stray)


async def test_a_verifiers_label_goes_to_the_channels_mirrors_from_both_doors(ctx: Context) -> None:
    """``samizdat label`` sends a verifier's label to the channel's mirrors, where the channel's readers look; from
    the web login the same label went only to the write relays, so a reader of the mirror never saw "false"."""
    yard, _ = await posts.create_channel(ctx, "yard", "Yard", mirrors=[MIRROR])
    first = (await posts.post(ctx, "yard", "news", "Bridge closed")).ids[0]
    second = (await posts.post(ctx, "yard", "news", "Metro open")).ids[0]

    def queued(event_id: str) -> bool:
        return any(row.event_id == event_id and row.relay == MIRROR for row in ctx.local.outbox())

    by_cli = (await posts.label(ctx, first, "false", "checked on the spot")).ids[0]
    assert queued(by_cli)
    post = await ctx.store.get(second)
    assert post is not None
    label = build_label(ctx.key, post, "false", "checked on the spot", created_at=ctx.now())
    signed = await publishing.publish_as_operator(ctx, label.kind, label.content, [list(t) for t in label.tags],
                                                  ctx.now())  # fmt: skip
    assert queued(signed.id), "the web login's label did not go to the channel's mirrors"
    # A vouch for the channel (a label naming it) goes there too, as samizdat vouch sends it.
    channel = await channels.lookup(ctx, yard.address)
    assert channel is not None
    vouch = build_vouch(ctx.key, channel, "seen the owner", created_at=ctx.now())
    signed = await publishing.publish_as_operator(ctx, vouch.kind, vouch.content, [list(t) for t in vouch.tags],
                                                  ctx.now())  # fmt: skip
    assert queued(signed.id), "the web login's vouch did not go to the channel's mirrors"
    # A label of a post this node does not hold goes nowhere but the write relays, from either door.
    stranger = sign_event(SecretKey.generate(), kinds.POST, "elsewhere", [["a", yard.address]], created_at=ctx.now())
    other = build_label(ctx.key, stranger, "false", "", created_at=ctx.now())
    signed = await publishing.publish_as_operator(ctx, other.kind, other.content, [list(t) for t in other.tags],
                                                  ctx.now())  # fmt: skip
    assert not queued(signed.id)
