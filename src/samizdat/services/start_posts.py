"""The newest posts the web app's page carries, so that a channel opened by link shows without a round trip.

A shared link names its channel in the address's fragment (``#naddr1...``), which the browser never sends: the
node cannot know which channel the reader is about to open. It carries the posts of the channels a link most
likely names, the node's own and the ones it follows (in the start page's order: own, then followed), each with
its definition (the page's first script reads it before the start page's seed has arrived), its newest valid posts
and what amends them (corrections and retractions are posts; deletion requests by the
channel's keys and the owner's labels), so that the app's thread rules (web/src/rules.js) give the same verdicts
as they would over the relay. The app verifies every one of them before it shows it (web/src/embedded.js).

Bounded whatever is stored: at most :data:`CHANNELS` channels, :data:`POSTS` posts each, :data:`CHANNEL_BYTES` of
JSON a channel and ``max_bytes`` in all; only posts whose signer has a role in the channel at the post's date
(core.thread.post_verdict) count, and only the channel's keys' posts are read, so a flood of posts by strangers
adds nothing and pushes nothing out. Each key's newest posts are read apart and taken in the channel's fair order
(core/fairshare.py: the owner's alerts first, then each author's newest in turn), so a flood of thousands of
posts by one of the channel's own keys (an admin's, seized) does not push the owner's alert out of the first
screen: it gets what is left. Parsing and choosing run in a
worker thread, off the event loop; the web app asks again only when the start page's version changed
(:func:`samizdat.services.channels.start_page_version`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from samizdat.core import kinds
from samizdat.core.channel import Channel, current_channel
from samizdat.core.event import Event
from samizdat.core.fairshare import fair_order
from samizdat.core.filters import Filter
from samizdat.core.posts import LABEL_NAMESPACE
from samizdat.core.thread import post_verdict
from samizdat.services.channels import SEED_TRUSTED, _definitions_at, address_of, own_definitions
from samizdat.services.context import Context

CHANNELS = 20  #: own and followed channels whose posts the page carries, at most
POSTS = 50  #: newest posts of a channel, at most (its corrections and retractions among them)
CHANNEL_BYTES = 40_000  #: JSON of one channel's posts and amendments, at most
RELATED = 200  #: deletion requests and labels read per channel, at most
_READ = 4 * POSTS  #: each key's newest kind-2333 events in a channel read to find its valid ones
_SHARE_MIN = 10  #: each key's newest posts read at least, however many keys a channel has


def _channels(definitions: Sequence[Event], addresses: Sequence[str]) -> list[Channel]:
    found: list[Channel] = []
    for address in addresses:
        channel = current_channel([e for e in definitions if address_of(e) == address], address)
        if channel is not None:
            found.append(channel)
    return found


def _choose(channel: Channel, posts: Sequence[Event], now: int, room: int) -> list[Event]:
    """The valid posts of ``channel`` among ``posts`` that fit in ``room`` bytes, taken in the channel's fair
    order (core/fairshare.py), listed newest first."""
    chosen: list[Event] = []
    for event in fair_order(posts, channel.address):
        if len(chosen) >= POSTS:
            break
        size = len(event.to_json()) + 1
        if size > room or not post_verdict(event, channel, now).ok:
            continue
        chosen.append(event)
        room -= size
    return sorted(chosen, key=lambda e: (-e.created_at, e.id))


def _related(channel: Channel, events: Sequence[Event], ids: frozenset[str], room: int) -> list[Event]:
    """Deletion requests by the channel's keys and the owner's labels (samizdat.verify) of the posts ``ids``."""
    keys = {channel.owner, *channel.admins, *channel.revoked}
    chosen: list[Event] = []
    for event in events:
        if not ids.intersection(event.tag_values("e")):
            continue
        if event.kind == kinds.DELETION and event.pubkey not in keys:
            continue
        owners_label = event.pubkey == channel.owner and LABEL_NAMESPACE in event.tag_values("L")
        if event.kind == kinds.LABEL and not owners_label:
            continue
        size = len(event.to_json()) + 1
        if size <= room:
            chosen.append(event)
            room -= size
    return chosen


async def start_page_posts(ctx: Context, max_bytes: int, *, follows: bool = True) -> list[Event]:
    """The newest valid posts of the node's own and followed channels (without ``follows``: of its own only, for a
    reader who may not know whose node this is), with their amendments, their JSON at most ``max_bytes`` in all
    (see the module's docstring). Raises StoreError."""
    followed = list(ctx.local.follows())[:SEED_TRUSTED] if follows else []
    own = await own_definitions(ctx)
    addresses = list(dict.fromkeys([*(address_of(e) for e in own), *followed]))[:CHANNELS]
    definitions = [*own, *await _definitions_at(ctx, [a for a in addresses if a in followed])]
    chosen: list[Event] = []
    room, now = max_bytes, int(ctx.now())
    for channel in await asyncio.to_thread(_channels, definitions, addresses):
        if room < 512:
            break
        keys = frozenset({channel.owner, *channel.admins, *channel.revoked})  # nobody else may post: not read
        # Each key's newest apart: read together, one key's flood was all that was read. The owner's newest
        # _READ; the others share 4 * _READ, so that a hundred admins do not make a channel read 20,000 posts.
        naming = (("a", frozenset({channel.address})),)
        share = min(_READ, max(_SHARE_MIN, 4 * _READ // len(keys)))
        wanted = [Filter(kinds=frozenset({kinds.POST}), authors=frozenset({k}), tags=naming,
                         limit=_READ if k == channel.owner else share) for k in sorted(keys)]  # fmt: skip
        posts = await ctx.store.query(wanted)
        mine = await asyncio.to_thread(_choose, channel, posts, now, min(room, CHANNEL_BYTES))
        if not mine:
            continue
        used = sum(len(e.to_json()) + 1 for e in mine)
        ids = frozenset(e.id for e in mine)
        # Only the keys' deletion requests and labels are carried (_related): read no others, or a stranger's
        # pile of labels on a post would take the place of the owner's.
        amends = Filter(kinds=frozenset({kinds.DELETION, kinds.LABEL}), authors=keys, tags=(("e", ids),),
                        limit=RELATED)  # fmt: skip
        related = await ctx.store.query([amends])
        extra = await asyncio.to_thread(_related, channel, related, ids, min(room, CHANNEL_BYTES) - used)
        definition = [channel.event] if len(channel.event.to_json()) < room - used else []
        chosen += definition + mine + extra
        room -= used + sum(len(e.to_json()) + 1 for e in definition + extra)
    return chosen
