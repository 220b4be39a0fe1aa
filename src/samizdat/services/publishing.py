"""Publishing: store our own new events, queue them for relays, and the rule of who may post where.

:func:`authorize` is the one role check: ``samizdat post`` (and every amending command) and the web app's
operator login (``/op``) both call it, so a post the node's key may not make in a channel is refused on every
path, with the same sentence. :func:`publish` stores through a ``serve`` running on the same data directory when
there is one (its live subscribers and LAN peers then see the events at once) and queues the events in the
outbox; :func:`deliver` tries the outbox now, for at most a budget, leaving the rest to ``serve``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from samizdat.core import kinds
from samizdat.core.admission import DEFAULT_EVENT_LIMITS, admit
from samizdat.core.channel import Channel
from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.posts import CORRECTION, RETRACTION, parse_label, parse_post, parse_vouch
from samizdat.core.thread import Status, amendment_refusal, post_verdict
from samizdat.errors import RemoteProtocolError, TransportError, UsageError
from samizdat.net.client import RelayClient
from samizdat.net.outbox import DeliveryReport, deliver_due
from samizdat.services import channels, relay_memory
from samizdat.services.context import Context
from samizdat.services.instance import running_relay_url
from samizdat.store.base import AddOutcome

log = logging.getLogger(__name__)

#: How long a command (``post``, ``relays``) waits for relays before leaving the rest to ``serve``'s outbox.
DELIVERY_BUDGET = 3.0
#: What the operator login may sign: channel posts, deletion requests of the node's own events, labels.
OPERATOR_KINDS = frozenset({kinds.POST, kinds.DELETION, kinds.LABEL})
#: How far back the operator login may date an event (a phone's clock may be off; history may not be rewritten).
OPERATOR_MAX_AGE = 24 * 3600
#: What a deletion request may name: the key's own channel posts (a retraction) and labels (a withdrawn vouch).
DELETABLE_KINDS = frozenset({kinds.POST, kinds.LABEL})
MAX_DELETED = 500  #: events one deletion request may name
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Published:
    ids: list[str]
    delivered: int
    pending: list[str]  # relays still to reach (serve keeps retrying)

    def to_dict(self) -> dict[str, object]:
        return {"ids": self.ids, "delivered": self.delivered, "pending": self.pending}


async def authorize(ctx: Context, event: Event) -> Channel | None:
    """Check that the node may publish ``event``; return the post's channel (None for other kinds).

    A channel post must name a channel this node has, be signed by its owner, an admin or an editor at the post's
    time, have the shape of its type, and not be dated in the future; a correction or retraction must amend a
    post of that channel that its signer may amend (editors amend only their own). A label must have the shape of
    a verification label or a vouch. A deletion request may name only the signer's own channel posts and labels
    on this node, by id (:func:`check_deletion`). Raises UsageError with one sentence otherwise."""
    if event.kind == kinds.DELETION:
        await check_deletion(ctx, event)
        return None
    if event.kind == kinds.LABEL:
        try:  # a label on a post, or a vouch: a label on a channel's address (an 'a' tag, no 'e' tag)
            (parse_vouch if event.tag_values("a") and not event.tag_values("e") else parse_label)(event)
        except RemoteProtocolError as exc:
            raise UsageError(str(exc)) from exc
        return None
    if event.kind != kinds.POST:
        return None
    try:
        post = parse_post(event)
    except RemoteProtocolError as exc:
        raise UsageError(str(exc)) from exc
    channel = await channels.lookup(ctx, post.channel)
    if channel is None:
        raise UsageError(f"this node does not have channel {post.channel}: follow it and sync first")
    verdict = post_verdict(event, channel, ctx.now())
    if verdict.status in (Status.FORGED, Status.REVOKED):
        raise UsageError(f"this key is not the owner, an admin or an editor of the channel {channel.channel_id!r}")
    if not verdict.ok:
        raise UsageError(f"the post would not count: {verdict.reason}")
    if post.post_type in (CORRECTION, RETRACTION):
        await check_amendment(ctx, event, channel)
    return channel


async def check_amendment(ctx: Context, event: Event, channel: Channel, *, original_needed: bool = True) -> None:
    """Check that the correction or retraction ``event`` (a valid post of ``channel``) would count for readers
    (:func:`~samizdat.core.thread.amendment_refusal`, the readers' rule, whole). Whoever signed it, the node
    publishes (:func:`authorize`) and forwards to mirrors (services/upkeep.py) only such. The amended post must
    be on this node unless ``original_needed`` is false (then an amendment of a post the node lacks passes: the
    readers who have it judge it). Raises UsageError with one sentence."""
    post = parse_post(event)
    original = await ctx.store.get(post.target or "")
    if original is None:
        if original_needed:
            raise UsageError(f"the post this {post.post_type} amends is not on this node")
        return
    if not channel.may_amend(event.pubkey, event.created_at, original.pubkey):
        raise UsageError(
            "only the channel's owner may amend the owner's or an admin's post; admins amend their own, editors' "
            "and former admins' posts, editors only their own"
        )
    _, why = amendment_refusal(event, original, channel, ctx.now())  # the readers' rule, whole
    if why:
        raise UsageError(f"the {post.post_type} would not count: {why}")


async def check_deletion(ctx: Context, event: Event) -> None:
    """What the command line deletes (the node's own post with its retraction, its own vouches when withdrawn),
    and nothing else: every ``e`` tag names an event on this node, signed by the same key, that is a channel post
    or a label; no ``a`` tag (never a channel definition, nor anything by address); ``k`` tags only of those
    kinds. A channel's definition is never deleted: readers would lose who may post in it. Raises UsageError."""
    channel_kind, addresses = str(kinds.CHANNEL), event.tag_values("a")
    if channel_kind in event.tag_values("k") or any(a.startswith(channel_kind + ":") for a in addresses):
        raise UsageError("a deletion request may not name a channel definition")
    if addresses:
        raise UsageError("a deletion request names the events it deletes by id ('e' tags), not by address")
    if any(k not in {str(kind) for kind in DELETABLE_KINDS} for k in event.tag_values("k")):
        raise UsageError("this node deletes only its own channel posts and labels")
    ids = list(dict.fromkeys(event.tag_values("e")))
    if not ids:
        raise UsageError("a deletion request must name the events it deletes ('e' tags)")
    if len(ids) > MAX_DELETED or not all(_HEX64.fullmatch(i) for i in ids):
        raise UsageError(f"a deletion request names at most {MAX_DELETED} events, each by its 64-character hex id")
    found = {e.id: e for e in await ctx.store.query([Filter(ids=frozenset(ids), limit=len(ids))])}
    for event_id in ids:
        target = found.get(event_id)
        if target is None:
            raise UsageError(f"the event {event_id[:12]} this deletion request names is not on this node")
        if target.kind == kinds.CHANNEL:
            raise UsageError("a deletion request may not name a channel definition")
        if target.pubkey != event.pubkey:
            raise UsageError("a deletion request may name only this key's own events")
        if target.kind not in DELETABLE_KINDS:
            raise UsageError("this node deletes only its own channel posts and labels")


async def publish(ctx: Context, events: Sequence[Event], relays: Iterable[str]) -> list[AddOutcome]:
    """Store our own new events and queue them for every relay in ``relays`` and our write relays (the outbox
    retries; the outbox holds at most so many waiting events per author and per channel, store/local.py).

    Each event must first pass the relay's per-event limits (:func:`samizdat.core.admission.admit`, as at every
    other door): a deletion or label dated in 2100 is refused here, not stored on this node and then refused by
    every relay it is sent to. Raises UsageError with the relay's reason."""
    for event in events:
        try:
            admit(event, ctx.now(), DEFAULT_EVENT_LIMITS)
        except RemoteProtocolError as exc:
            raise UsageError(f"the node refuses the event: {exc}") from exc
    outcomes = await _through_running_node(ctx, events) or await ctx.ingest(events)
    own = await channels.relay_list(ctx)
    targets = list(dict.fromkeys(r for r in [*relays, *own.write, *ctx.config.write_relays] if r))
    for event, outcome in zip(events, outcomes, strict=True):
        if outcome.accepted:
            ctx.local.enqueue(event.id, targets, ctx.clock(), author=event.pubkey, channel=channel_of(event))
    return outcomes


async def deletion_mirrors(ctx: Context, event: Event) -> list[str]:
    """The mirrors a deletion request goes to: those of the channels whose posts it deletes along with their
    retraction (docs/protocol.md, kind 5 "accompanies a retraction"), as ``samizdat retract`` sends both. Found
    by the valid retractions of the same key naming them, which stay on this node when the post itself is gone
    (a phone's request reached the relay, which applied it, before it is forwarded). [] for any other request
    (a node is no courier of strangers' deletions), and for any other kind."""
    ids = [i for i in dict.fromkeys(event.tag_values("e")) if _HEX64.fullmatch(i)][:MAX_DELETED]
    if event.kind != kinds.DELETION or not ids:
        return []
    naming = Filter(kinds=frozenset({kinds.POST}), authors=frozenset({event.pubkey}),
                    tags=(("e", frozenset(ids)),), limit=MAX_DELETED)  # fmt: skip
    mirrors: list[str] = []
    for retraction in await ctx.store.query([naming]):
        channel = await channels.lookup(ctx, channel_of(retraction))
        if channel is None:
            continue
        verdict = post_verdict(retraction, channel, ctx.now())
        if verdict.ok and verdict.post is not None and verdict.post.post_type == RETRACTION:
            if verdict.post.target in ids:
                mirrors += channel.mirrors
    return list(dict.fromkeys(mirrors))


async def label_mirrors(ctx: Context, event: Event) -> list[str]:
    """The mirrors a verifier's label goes to, as ``samizdat label`` and ``samizdat vouch`` send it: those of the
    channel of the post it labels, or of the channel a vouch names; [] for a post this node does not hold, a
    channel it does not know, or any other kind."""
    if event.kind != kinds.LABEL:
        return []
    post_id = next(iter(event.tag_values("e")), "")
    if _HEX64.fullmatch(post_id):
        post = await ctx.store.get(post_id)
        address = channel_of(post) if post is not None else ""
    else:  # a vouch names the channel itself
        address = next(iter(event.tag_values("a")), "")
    channel = await channels.lookup(ctx, address) if address else None
    return list(channel.mirrors) if channel is not None else []


def channel_of(event: Event) -> str:
    """The channel a post names (its first ``a`` tag), for the outbox's per-channel bound; "" for other kinds."""
    return next(iter(event.tag_values("a")), "") if event.kind == kinds.POST else ""


async def publish_now(ctx: Context, events: Sequence[Event], relays: Iterable[str] = ()) -> Published:
    """What a command does: check and publish ``events`` (to their channel's mirrors and ``relays``), then try
    to deliver for at most :data:`DELIVERY_BUDGET` seconds. UsageError when the node refuses an event."""
    targets = list(relays)
    for event in events:
        channel = await authorize(ctx, event)
        if channel is not None:
            targets += channel.mirrors
    outcomes = await publish(ctx, events, dict.fromkeys(targets))
    refused = [o.reply for o in outcomes if not o.accepted]
    if refused:
        raise UsageError(f"the store refused the event: {refused[0]}")
    report = await deliver(ctx, budget=DELIVERY_BUDGET)
    ids = {e.id for e in events}
    pending = sorted({r.relay for r in ctx.local.outbox(["pending"]) if r.event_id in ids})
    return Published([e.id for e in events], report.accepted, pending)


async def publish_as_operator(ctx: Context, kind: int, content: str, tags: list[list[str]], created_at: int) -> Event:
    """Sign a request from the web app's operator login with the node's key and publish it, under the same
    :func:`authorize` as the command line (which signs what it builds itself, dated now): so also not dated more
    than :data:`OPERATOR_MAX_AGE` back. Delivery is left to ``serve``'s outbox loop. Raises UsageError."""
    if kind not in OPERATOR_KINDS:
        raise UsageError("the operator login signs only channel posts, deletion requests and labels")
    try:
        event = sign_event(ctx.key, kind, content, tags, created_at=created_at)
    except RemoteProtocolError as exc:
        raise UsageError(str(exc)) from exc
    channel = await authorize(ctx, event)
    if created_at < ctx.now() - OPERATOR_MAX_AGE:
        raise UsageError("created_at is more than a day in the past; check the phone's clock")
    if channel is not None:
        mirrors = list(channel.mirrors)
    else:  # where the command line sends a retraction's deletion or a label (samizdat retract, samizdat label)
        mirrors = await (label_mirrors if kind == kinds.LABEL else deletion_mirrors)(ctx, event)
    outcome = (await publish(ctx, [event], mirrors))[0]
    log.info("operator signed %s (kind %d) from the web: %s", event.id[:12], kind, outcome.value)
    if not outcome.accepted:
        raise UsageError(f"the node did not store it ({outcome.value})")
    return event


def outbox_connect(ctx: Context) -> Callable[[str], Awaitable[RelayClient]]:
    """How the outbox connects to a relay: not through a route in doubt there (red team, round 15: a censor's
    relay at the relay's address accepted the post, which then counted as delivered and never reached the relay;
    :func:`samizdat.services.relay_memory.connect_undoubted`)."""
    return functools.partial(relay_memory.connect_undoubted, ctx)


async def deliver(ctx: Context, *, budget: float | None = None) -> DeliveryReport:
    """Deliver what is due; with ``budget``, stop waiting after that many seconds (what is left stays queued
    for ``serve``'s outbox loop, so a command never hangs on a blackholed relay)."""
    connect = outbox_connect(ctx)
    if budget is None:
        return await deliver_due(ctx.local, ctx.store, connect, now=ctx.clock(), random=ctx.random)
    try:  # each relay gets ``budget`` to connect and as much to answer; a relay that does not is retried later
        async with asyncio.timeout(2 * budget + 1):
            return await deliver_due(ctx.local, ctx.store, connect, now=ctx.clock(), random=ctx.random, timeout=budget)
    except TimeoutError:
        return DeliveryReport()


async def _through_running_node(ctx: Context, events: Sequence[Event]) -> list[AddOutcome] | None:
    """If ``samizdat serve`` runs on this home in another process, store the events through it, so its live
    subscribers get them (it shares our store file: storing them here first would make them duplicates there,
    and duplicates are not fanned out). None when no node runs or it did not take them all; the caller then
    stores them itself, which also gives the precise reason for a refusal."""
    url = None if ctx.serving() else running_relay_url(ctx.home)
    if url is None:
        return None
    try:
        async with await RelayClient.connect(url, timeout=3) as client:
            results = await client.publish_many(events, timeout=10)
    except TransportError as exc:
        log.info("the running node at %s did not take the events: %s", url, exc)
        return None
    if not all(r.accepted for r in results):
        return None
    return [AddOutcome.DUPLICATE if r.prefix == "duplicate" else AddOutcome.STORED for r in results]
