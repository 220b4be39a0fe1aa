"""Writing to channels: create and edit a channel, appoint admins, post, correct, resolve, retract, label, vouch.

Each builds the signed event with the pure builders of :mod:`samizdat.core` and publishes it with
:func:`samizdat.services.publishing.publish_now` (which applies the one role check). Raises UsageError with one
sentence for anything a person asked that cannot be done.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
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
from samizdat.store.base import Withdrawn

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
    ctx: Context, text: str, *, add: Sequence[str], role: str, remove: Sequence[str], since: int | None,
    drop: Collection[str] = (), keep: Collection[str] | None = None, keep_all: bool = False,
) -> tuple[Channel, Published | None]:  # fmt: skip
    """Appoint (``add``, hex keys) and remove admins of one of the node's channels.

    Removing an admin also signs, as the owner's, what keeps the posts it retracted or corrected before ``since``
    as readers saw them (:func:`kept_amendments`): the published ids are the definition's, then those. ``drop``
    (ids of the removed key's amendments, or of the posts they amend) leaves some out. Those of the key's own posts
    are kept unless dropped; those of another's post, and those the key itself withdrew (:class:`Kept`'s
    ``withdrawn``), are the owner's choice (see :func:`review_removal`): ``keep``
    (the ids of the amendments the owner saw and keeps) counts an amendment of another's post only when its id is
    among them, so that one that arrived after the review (a new one of a post the owner kept, too), or that a
    list had no room for, is not kept unseen; ``keep_all`` keeps every one not dropped; neither (``keep`` None)
    says the owner has not chosen: :class:`NotReviewed` is raised, before anything is published, when one of
    another's post would be kept. Raises UsageError."""
    current = await channels.resolve(ctx, text)
    event = None
    for pubkey in add:
        event = add_admin(ctx.key, current, pubkey, role, created_at=ctx.now())
        current = parse_channel(event)
    if remove:
        chosen = None if keep_all or keep is None else frozenset(keep)
        removal, current, kept = await _removing(ctx, current, remove, since, drop, chosen)
        event = removal or event
        if keep is None and not keep_all and (others := [k for k in kept if k.asks]):
            raise NotReviewed(others)
    else:
        kept = []
    if event is None:
        return current, None
    return current, await publishing.publish_now(ctx, [event, *(k.event for k in kept)], current.mirrors)


async def review_removal(
    ctx: Context, text: str, *, remove: Sequence[str], since: int | None, drop: Collection[str] = ()
) -> list[Kept]:
    """What :func:`change_admins` removing ``remove`` from ``since`` on would keep, each with what it keeps (the
    post, its author, what the removed key did to it and when it dated that), for the owner to choose before
    anything counts: computed as the removal does, and thrown away (nothing is published or stored, the
    definition is not changed). Raises UsageError as :func:`change_admins`."""
    current = await channels.resolve(ctx, text)
    return (await _removing(ctx, current, remove, since, drop))[2]


class NotReviewed(UsageError):
    """A removal without a choice (neither ``keep`` nor ``keep_all``) would sign again, as the owner's, amendments
    of others' posts: whoever held the key (the police, after an arrest) could have made them and dated them before
    ``since``, and the node keeps no time of arrival to tell them from the admin's own (a seized device's log of
    when it got what would itself be a record for the police). ``kept``: those amendments; each face says how to
    choose."""

    def __init__(self, kept: Sequence[Kept]) -> None:
        super().__init__(
            f"removing this key would sign again, as yours, {len(kept)} retraction(s) or correction(s) it made of "
            "others' posts, which whoever holds the key could have made and dated before the removal: look at them "
            "and choose which to keep"
        )
        self.kept = tuple(kept)


@dataclass(frozen=True, slots=True)
class Kept:
    """One amendment a removal keeps: the owner's ``event``, signed now, that keeps the ``target`` post as readers
    saw it after the removed key's (``remover``) amendments ``by``, dated before its ``since``. ``action`` is
    "retracted" or "corrected" (``fields``: what the correction changes); ``role``: the target's author's in the
    channel before the removal ("owner", "admin", "editor", "former" or "").

    ``withdrawn``: the key's amendments of the post, dated before ``since``, that its own deletion requests erased
    (the store's records: :class:`~samizdat.store.base.Withdrawn`; red team, round 13: the police, with an arrested
    admin's key, deleted the admin's honest retraction of a fake). Their content is not kept, so what keeping them
    signs is the owner's retraction of the post with :data:`WITHDRAWN_REASON`: for a withdrawn retraction, what
    readers saw; for a withdrawn correction, whose text is gone, the post withdrawn rather than shown as the key
    first posted or last left it (a safe place moved away from a raided flat would go back to the flat)."""

    event: Event
    target: Event
    by: tuple[Event, ...]
    action: str
    fields: tuple[str, ...]
    remover: str
    role: str
    withdrawn: tuple[Withdrawn, ...] = ()

    @property
    def own(self) -> bool:
        """The removed key amended its own post (it may always retract those): kept unless left out."""
        return self.target.pubkey == self.remover

    @property
    def asks(self) -> bool:
        """Kept only when the owner names it: an amendment of another's post, or one the key withdrew (a
        deletion may be honest too: an admin who retracted by mistake)."""
        return not self.own or bool(self.withdrawn)

    def to_dict(self) -> dict[str, Any]:
        """What a face shows: ``target`` (the post's id), ``author``, ``role``, ``own``, ``text`` (the post's,
        cut), ``action``, ``fields``, ``reason`` (a retraction's, cut; "" for a withdrawn one's), ``created_at``
        (the date the key gave its newest amendment of it), ``amendments`` (their ids, the withdrawn ones' too)
        and ``withdrawn`` (of each the key withdrew: ``id``, ``type`` "retraction" or "correction", its
        ``created_at`` and ``deleted_at``, the date the key's deletion request gives)."""
        reasons = [e.content for e in self.by if _amendment_type(e) == RETRACTION]
        reason = reasons[-1] if self.action == RETRACTED and reasons else ""
        dates = [*(e.created_at for e in self.by), *(w.created_at for w in self.withdrawn)]
        return {"target": self.target.id, "author": self.target.pubkey, "role": self.role, "own": self.own,
                "text": _cut(self.target.content), "action": self.action, "fields": list(self.fields),
                "reason": _cut(reason), "created_at": max(dates, default=0),
                "amendments": [e.id for e in self.by] + [w.id for w in self.withdrawn],
                "withdrawn": [{"id": w.id, "type": w.action, "created_at": w.created_at, "deleted_at": w.deleted_at}
                              for w in self.withdrawn]}  # fmt: skip


#: The reason of the owner's retraction that keeps a withdrawn amendment (whose own reason is not kept).
WITHDRAWN_REASON = "The channel retracts this post."


RETRACTED, CORRECTED = "retracted", "corrected"
#: Characters of a post's text a review shows.
REVIEW_TEXT = 120


def _cut(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= REVIEW_TEXT else one[: REVIEW_TEXT - 1] + "…"


async def _removing(
    ctx: Context, current: Channel, remove: Sequence[str], since: int | None, drop: Collection[str],
    keep: Collection[str] | None = None,
) -> tuple[Event | None, Channel, list[Kept]]:  # fmt: skip
    """The definition removing ``remove`` from ``current`` (signed, not published), the channel it makes, and
    the amendments kept (of others' posts, with ``keep``, those it names only). UsageError for an id in ``drop``
    that names none of the removed keys' amendments before ``since`` nor a post they amend."""
    event, kept, known = None, [], set()
    dropped = frozenset(drop)
    for pubkey in remove:
        before = current
        event = remove_admin(ctx.key, current, pubkey, created_at=ctx.now(), since=since)
        current = parse_channel(event)
        found, ids = await kept_amendments(ctx, before, current, pubkey, dropped, keep)
        kept += found
        known |= ids
    if unknown := sorted(dropped - known):
        raise UsageError(f"{unknown[0]} is not one of the retractions or corrections this removal would keep, "
                         "nor a post they amend")  # fmt: skip
    return event, current, kept


async def kept_amendments(
    ctx: Context, before: Channel, after: Channel, pubkey: str, drop: Collection[str] = frozenset(),
    keep: Collection[str] | None = None,
) -> tuple[list[Kept], set[str]]:  # fmt: skip
    """The owner's retractions and corrections, signed now, that keep what readers saw of the posts ``pubkey``
    amended before its ``since`` in ``after`` (which removes it), as ``before`` showed them; and the ids ``drop``
    may name (the key's amendments read, and the posts they amend). An amendment in ``drop`` is left out as if
    the key had made it after ``since``; a post in ``drop`` is not kept at all. With ``keep``, so is every
    amendment of another's post whose id ``keep`` does not name (what the owner did not see is not kept).

    A former admin's corrections never count, and its retractions only of its own posts (it can backdate
    anything: core/thread.py), so removing an admin, often an honest one who was arrested, put back every post it
    had retracted (the police's fake safe place it withdrew was shown again) and undid its corrections (its safe
    place moved back to the address that was raided). Its amendments dated from ``since`` on are the ones the owner
    does not vouch for (the key may have been in other hands), and are not kept; nor are those this node never
    got before the removal. Those the police made with the key after the arrest, dated before ``since``, that
    reached this node before the removal, look the same: which of another's posts to keep is the owner's choice
    (:func:`change_admins`'s ``keep``; red team, rounds 12 and 13).

    The key's amendments dated before ``since`` that its own deletion requests erased (the store's records,
    whatever date the request gives: the holder can backdate it) are offered too (:class:`Kept`'s ``withdrawn``),
    and, with ``keep``, kept only when it names them, of its own posts too: the police, with an arrested admin's
    key, deleted the admin's honest retraction of a fake, which readers then saw again (round 13)."""
    since = after.revoked.get(pubkey)
    if since is None or pubkey not in before.admins:
        return [], set()
    naming = (("a", frozenset({before.address})),)
    # Dated before ``since`` only: its flood dated later (revoked) does not push its genuine amendments out.
    theirs = await ctx.store.query(
        [Filter(kinds=frozenset({kinds.POST}), authors=frozenset({pubkey}), tags=naming, until=since - 1,
                limit=MAX_KEPT)]
    )  # fmt: skip
    now, kept = ctx.now(), []
    amending = {e.id: t for e in theirs if (t := _amended(e))}
    records = [r for r in await ctx.store.withdrawn(pubkey)
               if r.address == before.address and r.created_at < since and r.id not in amending]  # fmt: skip
    known = {*amending, *amending.values(), *(r.id for r in records), *(r.target for r in records)}
    dated = [(e.created_at, e.id, amending[e.id]) for e in theirs if e.id in amending]
    targets = dict.fromkeys(t for _, _, t in sorted([*dated, *((r.created_at, r.id, r.target) for r in records)]))
    for target in targets:
        original = await ctx.store.get(target)
        if original is None or target in drop:
            continue
        # Only what the key could make before the removal, as readers count it (core/thread.py): a retraction of
        # the owner's or another admin's post never counted, so its deletion took nothing from readers, and
        # keeping it made the owner retract its own warning (red team, round 15).
        withdrawn = tuple(sorted((r for r in records if r.target == target and r.id not in drop
                                  and (keep is None or r.id in keep)
                                  and before.may_amend(pubkey, r.created_at, original.pubkey)),
                                 key=lambda r: (r.created_at, r.id)))  # fmt: skip
        related = await ctx.store.query(
            [Filter(kinds=frozenset({kinds.POST, kinds.DELETION}), tags=(("e", frozenset({target})),),
                    limit=MAX_KEPT)]
        )  # fmt: skip
        unseen = frozenset(
            e.id for e in related
            if keep is not None and original.pubkey != pubkey and e.pubkey == pubkey and e.id not in keep
            and _amended(e) == target
        )  # fmt: skip
        left_out = unseen | frozenset(drop)
        prior = [e for e in related if (e.pubkey != pubkey or e.created_at < since) and e.id not in left_out]
        seen = thread_view(original, prior, before, now)
        shown = thread_view(original, related, after, now)
        if not (seen.verdict.ok and shown.verdict.ok) or seen.deletion or shown.retraction:
            continue
        by = tuple(sorted((e for e in prior if e.pubkey == pubkey and _amended(e) == target),
                          key=lambda e: (e.created_at, e.id)))  # fmt: skip
        role = "owner" if original.pubkey == before.owner else before.admins.get(original.pubkey, "")
        role = role or ("former" if original.pubkey in before.revoked else "")
        if seen.retraction is not None or withdrawn:
            reason = seen.retraction.text if seen.retraction is not None else WITHDRAWN_REASON
            event = build_retraction(ctx.key, after, original, reason, created_at=now)[0]
            kept.append(Kept(event, original, by, RETRACTED, (), pubkey, role, withdrawn))
            continue
        changes: dict[str, Any] = {n: getattr(seen.fields, n) for n in seen.fields.given()
                                   if getattr(seen.fields, n) != getattr(shown.fields, n)}  # fmt: skip
        text = seen.text if seen.text != shown.text else ""
        subject = seen.subject if seen.subject != shown.subject else ""
        if not (changes or text or subject):
            continue
        resolution = seen.resolution if changes.get("status") == "resolved" else ""
        try:
            event = build_correction(ctx.key, after, original, text, created_at=now, subject=subject,
                                     resolution=resolution, **changes)  # fmt: skip
        except UsageError:
            continue  # a change a correction cannot make (e.g. an expiration): left as readers now see it
        fields = (*(("text",) if text else ()), *(("subject",) if subject else ()), *sorted(changes))
        kept.append(Kept(event, original, by, CORRECTED, fields, pubkey, role))
    return kept, known


def _amendment_type(event: Event) -> str:
    """``event``'s post type ("retraction", "correction", ...; "" when it is not a channel post)."""
    try:
        return parse_post(event).post_type
    except SamizdatError:
        return ""


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
