"""Writing to channels: create and edit a channel, appoint admins, post, correct, resolve, retract, label, vouch.

Each builds the signed event with the pure builders of :mod:`samizdat.core` and publishes it with
:func:`samizdat.services.publishing.publish_now` (which applies the one role check). Raises UsageError with one
sentence for anything a person asked that cannot be done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from samizdat.core import kinds
from samizdat.core.channel import (
    Channel,
    add_admin,
    build_channel_event,
    parse_channel,
    rebuild_channel,
    remove_admin,
)
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.imeta import imeta_tag
from samizdat.core.keys import SecretKey
from samizdat.core.posts import (
    CORRECTION,
    EVENT,
    RETRACTION,
    build_correction,
    build_label,
    build_post,
    build_resolution,
    build_retraction,
    build_vouch,
    build_vouch_withdrawal,
    parse_post,
)
from samizdat.core.recovery import build_claim
from samizdat.core.thread import thread_view
from samizdat.errors import SamizdatError, UsageError
from samizdat.services import channels, photo_posts, publishing
from samizdat.services.context import Context
from samizdat.services.photo_posts import Attachment
from samizdat.services.publishing import Published

#: At most this many of a removed key's posts are read for the amendments to keep (a flood's newest first).
MAX_KEPT = 5000


async def create_channel(ctx: Context, channel_id: str, name: str, **definition: Any) -> tuple[Channel, Published]:
    """A new channel owned by the node's key (``definition``: about, languages, place, geohash, mirrors)."""
    address = f"{kinds.CHANNEL}:{ctx.pubkey}:{channel_id}"
    if await channels.lookup(ctx, address) is not None:
        raise UsageError(f"you already have a channel {channel_id!r}; change it with `samizdat channel edit`")
    event = build_channel_event(ctx.key, channel_id, name, created_at=ctx.now(), **definition)
    channel = parse_channel(event)
    return channel, await publishing.publish_now(ctx, [event], channel.mirrors)


async def edit_channel(ctx: Context, text: str, **changes: Any) -> tuple[Channel, Published]:
    """A new version of one of the node's channels with ``changes`` (None keeps a field): name, about,
    languages, place, geohash, mirrors. The old and the new mirrors both get it."""
    current = await channels.resolve(ctx, text)
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        raise UsageError("nothing to change: give --name, --about, --lang, --place, --lat/--lon, --mirror or --media")
    event = rebuild_channel(ctx.key, current, created_at=ctx.now(), **given)
    channel = parse_channel(event)
    return channel, await publishing.publish_now(ctx, [event], [*current.mirrors, *channel.mirrors])


async def change_admins(
    ctx: Context, text: str, *, add: Sequence[str], role: str, remove: Sequence[str], since: int | None
) -> tuple[Channel, Published | None]:
    """Appoint (``add``, hex keys) and remove admins of one of the node's channels.

    Removing an admin also signs, as the owner's, what keeps the posts it retracted or corrected before ``since``
    as readers saw them (:func:`kept_amendments`): the published ids are the definition's, then those."""
    current = await channels.resolve(ctx, text)
    event = None
    kept: list[Event] = []
    for pubkey in add:
        event = add_admin(ctx.key, current, pubkey, role, created_at=ctx.now())
        current = parse_channel(event)
    for pubkey in remove:
        before = current
        event = remove_admin(ctx.key, current, pubkey, created_at=ctx.now(), since=since)
        current = parse_channel(event)
        kept += await kept_amendments(ctx, before, current, pubkey)
    if event is None:
        return current, None
    return current, await publishing.publish_now(ctx, [event, *kept], current.mirrors)


async def kept_amendments(ctx: Context, before: Channel, after: Channel, pubkey: str) -> list[Event]:
    """The owner's retractions and corrections, signed now, that keep what readers saw of the posts ``pubkey``
    amended before its ``since`` in ``after`` (which removes it), as ``before`` showed them.

    A former admin's corrections never count, and its retractions only of its own posts (it can backdate
    anything: core/thread.py), so removing an admin, often an honest one who was arrested, put back every post it
    had retracted (the police's fake safe place it withdrew was shown again) and undid its corrections (its safe
    place moved back to the address that was raided). Its amendments dated from ``since`` on are the ones the owner
    does not vouch for (the key may have been in other hands), and are not kept; nor are those this node never
    got before the removal (the police's, backdated, sent later)."""
    since = after.revoked.get(pubkey)
    if since is None or pubkey not in before.admins:
        return []
    naming = (("a", frozenset({before.address})),)
    # Dated before ``since`` only: its flood dated later (revoked) does not push its genuine amendments out.
    theirs = await ctx.store.query(
        [Filter(kinds=frozenset({kinds.POST}), authors=frozenset({pubkey}), tags=naming, until=since - 1,
                limit=MAX_KEPT)]
    )  # fmt: skip
    now, kept = ctx.now(), []
    targets = dict.fromkeys(t for e in sorted(theirs, key=lambda e: (e.created_at, e.id)) if (t := _amended(e)))
    for target in targets:
        original = await ctx.store.get(target)
        if original is None:
            continue
        related = await ctx.store.query(
            [Filter(kinds=frozenset({kinds.POST, kinds.DELETION}), tags=(("e", frozenset({target})),),
                    limit=MAX_KEPT)]
        )  # fmt: skip
        prior = [e for e in related if e.pubkey != pubkey or e.created_at < since]
        seen = thread_view(original, prior, before, now)
        shown = thread_view(original, related, after, now)
        if not (seen.verdict.ok and shown.verdict.ok) or seen.deletion or shown.retraction:
            continue
        if seen.retraction is not None:
            kept.append(build_retraction(ctx.key, after, original, seen.retraction.text, created_at=now)[0])
            continue
        changes: dict[str, Any] = {n: getattr(seen.fields, n) for n in seen.fields.given()
                                   if getattr(seen.fields, n) != getattr(shown.fields, n)}  # fmt: skip
        text = seen.text if seen.text != shown.text else ""
        subject = seen.subject if seen.subject != shown.subject else ""
        if not (changes or text or subject):
            continue
        resolution = seen.resolution if changes.get("status") == "resolved" else ""
        try:
            kept.append(build_correction(ctx.key, after, original, text, created_at=now, subject=subject,
                                         resolution=resolution, **changes))  # fmt: skip
        except UsageError:
            continue  # a change a correction cannot make (e.g. an expiration): left as readers now see it
    return kept


def _amended(event: Event) -> str | None:
    """The id of the post ``event`` corrects or retracts, if it is a correction or retraction."""
    try:
        post = parse_post(event)
    except SamizdatError:
        return None
    return post.target if post.post_type in (CORRECTION, RETRACTION) else None


async def name_recovery_key(ctx: Context, text: str, pubkey: str) -> tuple[Channel, Published]:
    """A new version of one of the node's channels naming ``pubkey`` as its recovery key (docs/protocol.md,
    "Recovery"). Refused when the channel names one already: readers who saw it keep honouring the first, so a
    second would only mislead the owner."""
    current = await channels.resolve(ctx, text)
    if current.recovery:
        raise UsageError(
            "this channel names a recovery key already, and readers who saw it keep honouring that one; "
            "to change it, make a new channel"
        )
    event = rebuild_channel(ctx.key, current, created_at=ctx.now(), recovery=pubkey)
    channel = parse_channel(event)
    return channel, await publishing.publish_now(ctx, [event], channel.mirrors)


async def declare_seized(
    ctx: Context, recovery: SecretKey, proof: Event, successor: str, *, since: int, message: str = ""
) -> tuple[Event, Published]:
    """Publish, signed by the ``recovery`` key, that the owner key of the channel ``proof`` defines is seized
    since ``since`` and the channel goes on at ``successor`` (an naddr or address). Sent to the old channel's
    mirrors, the new one's (when this node has its definition) and the write relays. Raises UsageError."""
    address = channels.address_from_text(successor)
    event = build_claim(recovery, proof, address, since=since, created_at=ctx.now(), message=message)
    new = await channels.lookup(ctx, address)
    relays = [*parse_channel(proof).mirrors, *(new.mirrors if new else ())]
    outcomes = await publishing.publish(ctx, [event], dict.fromkeys(relays))
    if not outcomes[0].accepted:
        raise UsageError(f"the store refused the claim: {outcomes[0].reply}")
    report = await publishing.deliver(ctx, budget=publishing.DELIVERY_BUDGET)
    pending = sorted({r.relay for r in ctx.local.outbox(["pending"]) if r.event_id == event.id})
    return event, Published([event.id], report.accepted, pending)


def start_in_past(post_type: str, fields: dict[str, Any], now: int) -> bool:
    """True for an event whose start is already past: a likely typo (a wrong date or a missing year), which the
    faces ask to confirm. Readers never apply this: an event post about a past meeting is still valid."""
    start = fields.get("start")
    return post_type == EVENT and isinstance(start, int) and start < now


async def post(
    ctx: Context, text_channel: str, post_type: str, text: str, *, subject: str = "", hashtags: Sequence[str] = (),
    fields: dict[str, Any] | None = None, photos: Sequence[Attachment] = (),
) -> Published:  # fmt: skip
    """Publish a post; ``photos`` (prepared by :func:`samizdat.services.photos.prepare_photo`) are stored in the
    node's blob store, once the post is known to be valid, and referenced by one ``imeta`` tag each."""
    channel = await channels.resolve(ctx, text_channel)
    refs = photo_posts.photo_refs_for(channel, photos)
    event = build_post(
        ctx.key, channel, post_type, text, created_at=ctx.now(), subject=subject, hashtags=hashtags,
        extra_tags=[imeta_tag(ref) for ref in refs], **(fields or {}),
    )  # fmt: skip
    if photos:
        await photo_posts.store_attachments(ctx, photos)
    return await publishing.publish_now(ctx, [event])


async def correct(ctx: Context, ref: str, text: str, changes: dict[str, Any]) -> Published:
    original, channel = await channels.find_post(ctx, ref)
    event = build_correction(ctx.key, channel, original, text, created_at=ctx.now(), **changes)
    return await publishing.publish_now(ctx, [event])


async def resolve(ctx: Context, ref: str, note: str) -> Published:
    original, channel = await channels.find_post(ctx, ref)
    event = build_resolution(ctx.key, channel, original, note, created_at=ctx.now())
    return await publishing.publish_now(ctx, [event])


async def retract(ctx: Context, ref: str, reason: str) -> Published:
    original, channel = await channels.find_post(ctx, ref)
    retraction, deletion = build_retraction(ctx.key, channel, original, reason, created_at=ctx.now())
    return await publishing.publish_now(ctx, [retraction] + ([deletion] if deletion else []), channel.mirrors)


async def label(ctx: Context, ref: str, value: str, reason: str) -> Published:
    original, channel = await channels.find_post(ctx, ref)
    event = build_label(ctx.key, original, value, reason, created_at=ctx.now())
    return await publishing.publish_now(ctx, [event], channel.mirrors)


def vouched_recovery_key(ctx: Context, channel: Channel) -> str:
    """The recovery key a vouch for ``channel`` (as :func:`channels.lookup` judged it) names: the one this node
    honours (the first it saw the channel name, else its trusted verifiers' earliest vouch's: core/recovery.py),
    not the newest definition's, which a seized owner key can rewrite; "" for none."""
    return ctx.local.recovery_key(channel.address) or channel.recovery_honoured or channel.recovery


async def vouch(ctx: Context, text: str, reason: str = "") -> tuple[Channel, Published]:
    """As a verifier, vouch for the channel a person named: its owner key and id are the real channel. The node
    must have its definition (so the verifier sees what they vouch for); the vouch goes to its mirrors too."""
    channel = await channels.resolve(ctx, text)
    event = build_vouch(ctx.key, channel, reason, created_at=ctx.now(), recovery=vouched_recovery_key(ctx, channel))
    return channel, await publishing.publish_now(ctx, [event], channel.mirrors)


async def unvouch(ctx: Context, text: str, reason: str = "") -> tuple[str, Published]:
    """Withdraw this key's vouches for a channel (a NIP-09 deletion request of them); return its address.
    UsageError when this key has not vouched for it."""
    address = await channels.address_named(ctx, text)
    vouches = await channels.own_vouches(ctx, address)
    if not vouches:
        raise UsageError(f"you have not vouched for {text.strip()[:70]}")
    deletion = build_vouch_withdrawal(ctx.key, vouches, reason, created_at=ctx.now())
    return address, await publishing.publish_now(ctx, [deletion], await channels.mirrors(ctx, address))
