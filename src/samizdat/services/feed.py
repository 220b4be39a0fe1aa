"""What a reader sees of a channel: its valid posts, each with its corrections, retraction and labels.

Gathers the events from the store and folds them with the pure :func:`samizdat.core.thread.thread_view`.
A retraction whose original has been deleted (NIP-09) is still shown, as "retracted by the channel, because
...", so a retraction never leaves a silent gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import groupby

from samizdat.core import kinds
from samizdat.core.channel import Channel
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.posts import CORRECTION, RETRACTION, Post
from samizdat.core.thread import ThreadView, amendment_refusal, post_verdict, thread_view
from samizdat.services import channels
from samizdat.services.channels import per_key
from samizdat.services.context import Context
from samizdat.store.base import Store

MAX_RELATED = 5000  #: deletion requests and labels naming a page's posts read at once, of each key apart


@dataclass(frozen=True, slots=True)
class FeedItem:
    channel: Channel
    created_at: int
    view: ThreadView | None = None  # an original post with its amendments
    orphan_retraction: Post | None = None  # a retraction whose original is gone
    original: Event | None = None  # the event behind ``view``: a post that does not count has no parsed post
    more: int = 0  # posts by the same author folded after this one (:func:`fold_runs`)

    @property
    def event_id(self) -> str:
        if self.original is not None:
            return self.original.id
        if self.view is not None and self.view.verdict.post is not None:
            return self.view.verdict.post.id
        return self.orphan_retraction.target or "" if self.orphan_retraction else ""


async def collect_feed(
    store: Store,
    channels: Sequence[Channel],
    verifiers: Iterable[str],
    *,
    now: int,
    limit: int = 50,
    include_invalid: bool = False,
    fold: int = 0,
) -> list[FeedItem]:
    """The newest ``limit`` items across ``channels``; invalid posts only with ``include_invalid``; with ``fold``,
    each run of one author's posts past the ``fold``-th is folded (:func:`fold_runs`) before the limit applies."""
    followed = frozenset(verifiers)
    items: list[FeedItem] = []
    for channel in channels:
        # Anyone can store posts naming the channel; only its keys' count. Reading the newest of them all would let
        # a stranger's pile push every real post out of the ones read (``include_invalid`` reads both).
        keys = frozenset({channel.owner, *channel.admins, *channel.revoked})
        naming = (("a", frozenset({channel.address})),)
        # Each key's newest, so that one key's flood (an admin's, seized) does not push the others' out of reach.
        wanted = [Filter(kinds=frozenset({kinds.POST}), authors=frozenset({k}), tags=naming, limit=limit * 4)
                  for k in sorted(keys)]  # fmt: skip
        if include_invalid:
            wanted.append(Filter(kinds=frozenset({kinds.POST}), tags=naming, limit=limit * 4))
        events = list({e.id: e for e in await store.query(wanted)}.values())
        originals: list[Event] = []
        amendments: list[Event] = []
        for event in events:
            verdict = post_verdict(event, channel, now)
            post_type = verdict.post.post_type if verdict.post else None
            (amendments if post_type in (CORRECTION, RETRACTION) else originals).append(event)
        ids = frozenset(e.id for e in originals)
        related: list[Event] = list(amendments)
        if ids:
            # Only the deletion requests and labels that can count are read, for the same reason: a deletion by
            # an author of this channel's posts or by a verifier, a label by a verifier (thread_view's rules).
            # Each author's newest apart: one key's flood (a verifier's or an admin's, seized) of labels or
            # deletion requests naming these posts pushes out only its own, never an honest verifier's "false".
            related += await store.query(
                [
                    *per_key(keys | followed, kinds.DELETION, ("e", ids), MAX_RELATED),
                    *per_key(followed, kinds.LABEL, ("e", ids), MAX_RELATED),
                ]
            )
        by_target: dict[str, list[Event]] = {}
        for event in related:
            for target in event.tag_values("e"):
                by_target.setdefault(target, []).append(event)
        for original in originals:
            view = thread_view(original, by_target.get(original.id, []), channel, now, verifiers=followed)
            if view.verdict.ok or include_invalid:
                items.append(FeedItem(channel, original.created_at, view=view, original=original))
        for event in amendments:
            verdict = post_verdict(event, channel, now)
            post = verdict.post
            if (
                verdict.ok
                and post is not None
                and post.post_type == RETRACTION
                and post.target is not None
                and post.target not in ids
                and await _may_stand_alone(store, event, post.target, channel, now)
            ):
                items.append(FeedItem(channel, event.created_at, orphan_retraction=post))
    items.sort(key=lambda item: item.created_at, reverse=True)
    return (fold_runs(items, fold) if fold else items)[:limit]


def fold_runs(items: Sequence[FeedItem], run: int) -> list[FeedItem]:
    """``items`` with each run of one author's consecutive posts past the ``run``-th left out, counted in the
    ``more`` of the run's last item shown, unless nothing follows the run: a turned admin's flood of thousands of
    posts no longer hides the owner's alert beneath it (the web app folds the same way, web/src/rules.js ``fold``)."""
    groups = [list(g) for _, g in groupby(items, key=lambda i: i.original.pubkey if i.original else str(id(i)))]
    out: list[FeedItem] = []
    for n, group in enumerate(groups):
        if len(group) > run and n < len(groups) - 1:
            out += group[: run - 1]
            out.append(replace(group[run - 1], more=len(group) - run))
        else:
            out += group
    return out


async def _may_stand_alone(store: Store, retraction: Event, target: str, channel: Channel, now: int) -> bool:
    """Whether a retraction whose original is not among the posts read is shown on its own: when the original is
    gone (deleted by its author), or older than what was read and the retraction counts for it (an editor
    "retracting" the owner's older post, or the channel's admin a post of another channel, must not read as
    "retracted by the channel")."""
    original = await store.get(target)
    return original is None or amendment_refusal(retraction, original, channel, now)[0] is not None


async def feed(
    ctx: Context, channel: str | None, *, limit: int = 50, include_invalid: bool = False, fold: int = 0
) -> list[FeedItem]:
    """What ``samizdat feed`` shows: the named channel, or the node's own and followed channels, with the
    labels of the node itself and the verifiers it follows."""
    chosen = await channels.feed_channels(ctx, channel)
    verifiers = {ctx.pubkey, *ctx.local.verifiers()}
    return await collect_feed(
        ctx.store, chosen, verifiers, now=ctx.now(), limit=limit, include_invalid=include_invalid, fold=fold
    )
