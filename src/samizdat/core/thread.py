"""Whether a post may be shown (:func:`post_verdict`), and what a reader sees of it (:func:`thread_view`).

Theory of operation. :func:`post_verdict` is the gate every post passes before it is shown: it checks the post
against the channel's definition (:meth:`~samizdat.core.channel.Channel.role_of`) and its shape
(:func:`~samizdat.core.posts.parse_post`), and says valid, or which of forged / revoked / other-channel /
malformed / future / expired, so an expired alert is never confused with an impersonation. :func:`thread_view`
folds the corrections, retractions, deletion requests and labels found for a post into what a reader sees,
ignoring every amendment that its signer had no right to make.

This module sits above both :mod:`samizdat.core.channel` and :mod:`samizdat.core.posts`; neither imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from samizdat.core import kinds
from samizdat.core.channel import FORMER, Channel
from samizdat.core.event import Event
from samizdat.core.posts import (
    CORRECTION,
    RETRACTION,
    SCHEMA,
    Label,
    Post,
    PostFields,
    check_fields,
    parse_label,
    parse_post,
)
from samizdat.errors import RemoteProtocolError

#: Why a correction signed by a removed key is not applied (:func:`amendment_refusal`); readers say so.
REMOVED_CORRECTION = "a correction by a removed key does not count: it can date it before its removal"
MAX_FUTURE = 15 * 60  #: posts dated further ahead than this are "future" (clock skew allowance)


# -- verdicts ------------------------------------------------------------------------------------------------


class Status(StrEnum):
    VALID = "valid"
    NOT_A_POST = "not-a-post"
    OTHER_CHANNEL = "other-channel"
    FORGED = "forged"  # signed by a key with no authority in this channel: impersonation
    REVOKED = "revoked"  # signed by a removed admin (or a seized owner key), dated at or after the removal
    MALFORMED = "malformed"
    FUTURE = "future"  # dated too far ahead; may become valid later
    EXPIRED = "expired"  # was valid; NIP-40 expiration has passed


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str  # one sentence for people; "" when valid
    role: str | None = None  # the signer's role, when it has one
    post: Post | None = None  # the parsed post, when its shape was checked

    @property
    def ok(self) -> bool:
        return self.status is Status.VALID


def post_verdict(event: Event, channel: Channel, now: int, *, max_future: int = MAX_FUTURE) -> Verdict:
    """Whether ``event`` is a valid post of ``channel`` at time ``now``, and if not, why.

    Checks, in this order: kind 2333; an ``a`` tag naming exactly this channel's address; a signer with a role
    at the post's ``created_at`` (forged or revoked otherwise); the post's shape (:func:`parse_post`); not
    dated more than ``max_future`` seconds after ``now``; not expired at ``now``. Never raises for hostile
    input.
    """
    if event.kind != kinds.POST:
        return Verdict(Status.NOT_A_POST, f"kind {event.kind} is not a channel post")
    if channel.address not in event.tag_values("a"):
        return Verdict(Status.OTHER_CHANNEL, "the post belongs to another channel")
    role = channel.role_of(event.pubkey, event.created_at)
    if role is None:
        if event.pubkey == channel.owner:
            return Verdict(Status.REVOKED, "signed by the channel's seized owner key after it was seized")
        if event.pubkey in channel.revoked:
            return Verdict(Status.REVOKED, "signed by a removed admin after their removal")
        return Verdict(Status.FORGED, "signed by a key that is not the channel's owner or admin")
    try:
        post = parse_post(event)
    except RemoteProtocolError as exc:
        return Verdict(Status.MALFORMED, str(exc), role)
    if event.created_at > now + max_future:
        return Verdict(Status.FUTURE, "dated in the future", role, post)
    if event.is_expired(now):
        return Verdict(Status.EXPIRED, "expired", role, post)
    return Verdict(Status.VALID, "", role, post)


# -- what a reader sees --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadView:
    """A post as a reader should see it, with its amendments applied."""

    verdict: Verdict  # of the original; show nothing unless ok
    text: str  # the latest valid correction's text, else the original's
    subject: str
    fields: PostFields  # the original's fields with valid corrections applied in order
    corrections: tuple[Post, ...] = ()  # applied, oldest first
    retraction: Post | None = None  # the first valid retraction: "retracted by the channel, because ..."
    deletion: Event | None = None  # a NIP-09 request by the original's author
    labels: Mapping[str, int] = field(default_factory=dict)  # value -> followed verifiers saying it
    label_events: tuple[Label, ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()  # (event id, why it does not count)
    #: the note of the latest valid correction that set the status to resolved ("" when it had none); a later
    #: correction back to open clears it. Shown as "resolved: <note>" under the (unchanged) text.
    resolution: str = ""


def _order(event: Event) -> tuple[int, str]:
    return event.created_at, event.id


def amendment_refusal(
    event: Event, original: Event, channel: Channel, now: int, *, max_future: int = MAX_FUTURE
) -> tuple[Post | None, str]:
    """``(the correction or retraction, "")`` when ``event`` counts as one of ``original`` in ``channel``, else
    ``(None, why not)``: it must be a valid post of ``channel`` (:func:`post_verdict`) of type correction or
    retraction naming ``original``, ``original`` must name ``channel`` too, and its signer must be allowed to
    amend ``original`` (:meth:`Channel.may_amend`); a correction signed by a former admin (a removed or seized
    key) never counts: its own earlier posts stay as they were posted. The one rule for every face: the readers'
    view, and the photos a node deletes for a retraction. Never raises for hostile input."""
    amendment = post_verdict(event, channel, now, max_future=max_future)
    post = amendment.post
    if not amendment.ok or post is None:
        return None, f"not a valid post of this channel: {amendment.reason}"
    if post.post_type not in (CORRECTION, RETRACTION) or post.target != original.id:
        return None, "not an amendment of this post"
    if channel.address not in original.tag_values("a"):
        # The owner of any channel may retract "any post of the channel": never a post of someone else's.
        return None, "an amendment from another channel"
    if not channel.may_amend(event.pubkey, event.created_at, original.pubkey):
        return None, "its signer may not amend this post (admins amend their own, editors' and former admins' posts)"
    if post.post_type == CORRECTION and amendment.role == FORMER:
        # A removed key (or a seized owner key) can date a correction before its removal, and nobody can tell it
        # from a genuine one: counted, it moved the key's own trusted safe place to where the police wait. Its
        # retractions still count: NIP-09 lets it delete its own posts anyway.
        return None, REMOVED_CORRECTION
    return post, ""


def thread_view(
    original: Event,
    related: Iterable[Event],
    channel: Channel,
    now: int,
    *,
    verifiers: Iterable[str] = (),
    max_future: int = MAX_FUTURE,
) -> ThreadView:
    """Fold corrections, retractions, deletion requests (kind 5) and labels (kind 1985) into ``original``.

    A correction or retraction counts when it is a valid post of ``channel`` (:func:`post_verdict`) naming
    ``original`` and its signer may amend the original (:meth:`Channel.may_amend`: the owner any post, admins their
    own and editors' and former admins', editors their own, former admins only retract their own). A correction
    that sets the status to resolved also sets the view's ``resolution`` note (its ``resolution`` tag, or ""
    without one); one back to open clears it. A deletion request counts only from the original's author (NIP-09).
    A label counts when it is from one of ``verifiers``; each verifier's newest label is its vote. Anything an
    author later deleted with a kind-5 request (a correction, a retraction, a label) stops counting.
    Never raises for hostile input.
    """
    verdict = post_verdict(original, channel, now, max_future=max_future)
    followed = frozenset(verifiers)
    events = {e.id: e for e in related if e.id != original.id}
    ignored: list[tuple[str, str]] = []
    authors = {e.id: e.pubkey for e in events.values()} | {original.id: original.pubkey}
    deleted: dict[str, Event] = {}
    for event in sorted(events.values(), key=_order):
        if event.kind == kinds.DELETION:
            hits = [i for i in event.tag_values("e") if authors.get(i) == event.pubkey]
            for target in hits:
                deleted.setdefault(target, event)
            if not hits:
                ignored.append((event.id, "a deletion request by someone other than the author"))
    base = verdict.post
    allowed = (SCHEMA[base.post_type][0] | SCHEMA[base.post_type][1]) if base else frozenset()
    text, subject, resolution = original.content, base.subject if base else "", ""
    fields = base.fields if base else PostFields()
    corrections: list[Post] = []
    retractions: list[Post] = []
    votes: dict[str, Label] = {}
    for event in sorted(events.values(), key=_order):
        if event.kind == kinds.DELETION:
            continue
        if event.id in deleted:
            ignored.append((event.id, "deleted by its author"))
        elif event.kind == kinds.POST:
            post, refusal = amendment_refusal(event, original, channel, now, max_future=max_future)
            if post is None:
                ignored.append((event.id, refusal))
            elif post.post_type == RETRACTION:
                retractions.append(post)
            else:
                changes = PostFields(**{n: getattr(post.fields, n) for n in post.fields.given() & allowed})
                merged = fields.merged(changes)
                try:
                    if base is not None:
                        check_fields(merged, base.post_type, base.created_at)
                except RemoteProtocolError as exc:
                    ignored.append((event.id, f"the correction would make the post malformed: {exc}"))
                    continue
                fields, text = merged, post.text if post.text.strip() else text
                subject = post.subject or subject
                if changes.status:
                    resolution = post.resolution if changes.status == "resolved" else ""
                corrections.append(post)
        elif event.kind == kinds.LABEL:
            try:
                label = parse_label(event)
            except RemoteProtocolError as exc:
                ignored.append((event.id, f"not a verification label: {exc}"))
                continue
            if label.post_id != original.id:
                ignored.append((event.id, "a label on another post"))
            elif label.verifier not in followed:
                ignored.append((event.id, "a label by a verifier you do not follow"))
            elif event.created_at > now + max_future or event.is_expired(now):
                ignored.append((event.id, "a label dated in the future or expired"))
            else:
                votes[label.verifier] = label  # sorted oldest first, so the newest stays
        else:
            ignored.append((event.id, f"kind {event.kind} is not an amendment"))
    counts: dict[str, int] = {}
    for label in votes.values():
        counts[label.value] = counts.get(label.value, 0) + 1
    return ThreadView(
        verdict, text, subject, fields, tuple(corrections), retractions[0] if retractions else None,
        deleted.get(original.id), MappingProxyType(counts), tuple(votes.values()), tuple(ignored), resolution,
    )  # fmt: skip
