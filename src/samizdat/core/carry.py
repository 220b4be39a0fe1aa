"""Store-carry-forward: which events a node keeps for others, and which it drops first when over its quota.

A node keeps what it needs itself: its own events, the channels it follows (their definitions and everything
pointing at them; each of their authors up to a bound, below), and the labels of verifiers it follows. Everything
else it *carries* for others: posts of channels it does not follow, picked up from peers and relays, so that a
laptop that was online brings the news into a building and the building's hub passes it on. Carried events
share a quota. When the quota is exceeded, the node drops the carried events with the lowest :func:`carry_rank`
first.

The rank is a timestamp: an event's ``created_at`` plus a bonus for the kinds of post that matter most when the
network is cut (alerts and help requests first). An alert from yesterday outranks news from this morning; a week
old alert is still dropped before today's news. Expired events (NIP-40) are deleted by the store anyway.

Validation comes before any bonus, so that nobody can buy a place in the quota by writing ``["type", "alert"]``
(:class:`CarryRanking`). Each carried event has a :class:`Standing`, and every event of a lower standing goes
before any event of a higher one, whatever their age:

* ``VALID`` earns its bonus: a post that its channel's current definition allows (the readers' own
  :func:`~samizdat.core.thread.post_verdict`); a well-formed channel definition that such a post needs; a deletion
  request by someone who signs valid posts or holds a role in a channel carried or kept here; a verification label
  on a valid post.
* ``PLAIN`` ranks by age alone, below every valid event: kinds we have no rules for (notes, profiles), well-formed
  definitions no valid post needs (anyone can make thousands), deletions and labels of nobody in particular.
* ``JUNK`` goes first: anything that claims a place in a channel and fails its rules, i.e. a post without a
  definition here, by a stranger, revoked, malformed or dated ahead, and a malformed channel definition.

Within a standing, newer goes after older, with one exception: a definition that valid posts need goes only with
them, ranked just above the highest of them (and never below its own rank). A definition only counts while its
posts are stored, and its posts only while it is: ranked by its own age (a channel defined two months ago against
this morning's news), it went first and took every one of its posts' standing with it at the next pass, and a
node that only carries the channel then took an older version back (docs/protocol.md, "Security and privacy
considerations"; ``store/carry.py`` remembers the dropped version's floor).

Inside a channel, every author gets a fair share (:func:`fair_shares`). The ranks the channel's valid posts earned
are dealt out again: each author's first :data:`FAIR_FREE` bytes of posts in their own order, then the fewest
bytes first, so that each author's next post waits until the others have had as many bytes. A channel with one
author keeps its order; a channel where one key (an admin whose key the police hold, or a former admin
backdating) posts thousands of alerts, or huge ones, keeps the same share of the quota as before, but the
flooder's excess holds its lowest ranks and goes first: the owner's alerts are no longer pushed out by a flood of
newer ones from the same channel (docs/benchmarks.md, "A turned admin's flood").

A channel the node follows is kept whatever the quota, but not without end: each of its authors keeps their newest
a share of the quota (:func:`followed_excess`), its owner and the node's own keys everything. Without
it, a turned admin's flood filled the disk of every node that follows the channel.

What this cannot tell apart: a flood of valid posts in a channel its flooder defined himself (every check
passes), which still pushes out other channels' posts; following the channels that matter keeps them out of
reach.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from itertools import islice

from samizdat.core import kinds
from samizdat.core.channel import Channel, parse_channel
from samizdat.core.event import Event
from samizdat.core.posts import parse_label
from samizdat.core.recovery import SEIZED, parse_claim
from samizdat.core.thread import Status, post_verdict
from samizdat.errors import RemoteProtocolError

HOUR = 3600
#: Seconds added to ``created_at`` when ranking a carried event, by post type (kind 2333's ``type`` tag).
POST_TYPE_BONUS: dict[str, int] = {
    "alert": 48 * HOUR,
    "help": 48 * HOUR,
    "safe-place": 24 * HOUR,
    "contact": 24 * HOUR,
    "correction": 24 * HOUR,  # a correction must travel with its mistake
    "retraction": 24 * HOUR,
    "event": 12 * HOUR,
    "appeal": 12 * HOUR,
    "news": 0,
    # A seizure claim (core/recovery.py) is what tells readers that the channel's owner key is in other hands: it
    # lasts as long as a definition. Its proof (a definition the owner signed naming the claim's signer) is what
    # makes it valid here; which of several valid claims counts is the readers' rule.
    "seized": 30 * 24 * HOUR,
}
#: Bonus by kind for events that are not posts: channel definitions are small and needed to check every post.
KIND_BONUS: dict[int, int] = {
    kinds.CHANNEL: 30 * 24 * HOUR,
    kinds.DELETION: 24 * HOUR,
    kinds.LABEL: 12 * HOUR,
}


@dataclass(frozen=True, slots=True)
class KeepRules:
    """What this node keeps regardless of any quota."""

    own: frozenset[str] = frozenset()  # public keys (hex): the node's own and its operators'
    channels: frozenset[str] = frozenset()  # followed channel addresses "30333:<owner>:<d>"
    verifiers: frozenset[str] = frozenset()  # followed verifiers' public keys

    @classmethod
    def of(cls, own: Iterable[str], channels: Iterable[str], verifiers: Iterable[str]) -> KeepRules:
        return cls(frozenset(own), frozenset(channels), frozenset(verifiers))

    def keeps(self, pubkey: str, kind: int, d_tag: str | None, addresses: Iterable[str]) -> bool:
        """True if an event by ``pubkey`` of ``kind`` (with its ``d`` tag and ``a`` tag values) is never dropped."""
        if pubkey in self.own or pubkey in self.verifiers:
            return True
        if kind == kinds.CHANNEL and f"{kind}:{pubkey}:{d_tag or ''}" in self.channels:
            return True
        return any(address in self.channels for address in addresses)


class Standing(IntEnum):
    """How far a carried event passed the rules that apply to it; see the module's docstring."""

    JUNK = 0
    PLAIN = 1
    VALID = 2


#: The distance between standings in rank: more than any ``created_at`` (at most 2**40, core/event.py) plus bonus.
TIER = 2**42
#: Bytes of each author's posts in a channel that rank by their own age and type before the rest are dealt
#: between the authors (:func:`fair_shares`): some fifty alerts, a busy day's, far less than a flood.
FAIR_FREE = 32_000
#: What each author of a channel the node follows keeps when the store is over its quota, newest first: this part
#: of the quota (:func:`followed_bound`; 16 MB of the default 256, some 16,000 posts of a kilobyte, months of the
#: busiest admin), at least :data:`FOLLOWED_AUTHOR_MIN` bytes. A flood past it loses its oldest. The channel's
#: owner and the node's own keys are not bounded.
FOLLOWED_AUTHOR_PART = 16
FOLLOWED_AUTHOR_MIN = 1_000_000
#: ``a`` tags of one post looked up at most: a post names its channel; junk may name two thousand.
MAX_ADDRESSES = 4


def standing_of(rank: int) -> Standing:
    """The standing a :func:`carry_rank` was given: every ``VALID`` rank is 0 or more, every other below 0."""
    if rank >= 0:
        return Standing.VALID
    return Standing.PLAIN if rank >= -TIER else Standing.JUNK


def _claim_of(event: Event, address: str) -> bool:
    """Whether ``event`` is a seizure claim of the channel at ``address`` whose proof checks out (signed by the
    recovery key an owner-signed definition of that channel names): not a forgery, though it is signed by no key
    with a role in the channel."""
    try:
        return parse_claim(event).channel == address
    except RemoteProtocolError:
        return False


def carry_rank(kind: int, created_at: int, post_type: str | None, standing: Standing = Standing.VALID) -> int:
    """The event's place in the carry order: higher is kept longer. Only a ``VALID`` event earns a bonus."""
    if standing is not Standing.VALID:
        return created_at - (Standing.VALID - standing) * TIER
    if kind == kinds.POST:
        return created_at + POST_TYPE_BONUS.get(post_type or "", 0)
    return created_at + KIND_BONUS.get(kind, 0)


@dataclass(frozen=True, slots=True)
class Judged:
    """A post's judgement, remembered from one carry pass to the next while the definitions it was judged against
    stay the same (judging means parsing the post: most of a pass's time)."""

    against: tuple[tuple[str, str | None], ...]  # (address looked up, id of its definition then, or None)
    post_type: str | None  # the post's type when it was valid, None when it was junk
    event_id: str
    pubkey: str


class CarryRanking:
    """The ranks of one carry pass. Feed it every carried event (:meth:`add`, or :meth:`add_plain` for kinds it
        has no rules for; for a post, try :meth:`recall` first), then take :meth:`candidates`.

        ``channel_of(address)`` gives the current definition of a channel stored here (None when there is none or it
        is malformed); ``role_holders`` are the owners and admins of the channels the node keeps, whose deletion
        requests count as valid; ``remembered`` is the previous pass's :attr:`memo` (judgements by key: a key must
    never be reused for another event, as the store's ``seq`` is not). Deletions,
        labels and definitions are ranked last, once every post has been judged: whether they are valid depends on the
        posts. Memory: one small tuple per carried event, and one :class:`Judged` per carried post.
    """

    def __init__(
        self,
        now: int,
        channel_of: Callable[[str], Channel | None],
        role_holders: Iterable[str] = (),
        remembered: Mapping[int, Judged] | None = None,
    ) -> None:
        self.now = now
        self._channel_of = channel_of
        self._remembered = remembered or {}
        self.memo: dict[int, Judged] = {}  # this pass's judgements, for the next
        self._ranked: list[tuple[int, int, int]] = []
        self._channel_posts: dict[str, list[tuple[int, int, int, str]]] = {}  # address -> rank, size, key, author
        self._definitions: list[tuple[int, int, int, str, Channel | None]] = []  # key, size, created_at, address, ch
        self._deletions: list[tuple[int, int, int, str]] = []  # key, size, created_at, signer
        self._labels: list[tuple[int, int, int, str | None]] = []  # key, size, created_at, the post labelled
        self._valid_posts: set[str] = set()
        self._needed: dict[str, int] = {}  # addresses of the channels valid posts belong to: their highest rank
        self._standing: set[str] = set(role_holders)  # keys whose deletion requests are valid
        self.used = 0

    def add(self, key: int, size: int, event: Event) -> None:
        """A carried event of ``size`` bytes stored under ``key``."""
        self.used += size
        if event.kind == kinds.POST:
            self._post(key, size, event)
        elif event.kind == kinds.CHANNEL:
            try:
                channel: Channel | None = parse_channel(event)
            except RemoteProtocolError:
                channel = None
            address = f"{kinds.CHANNEL}:{event.pubkey}:{event.d_tag}"
            self._definitions.append((key, size, event.created_at, address, channel))
        elif event.kind == kinds.DELETION:
            self._deletions.append((key, size, event.created_at, event.pubkey))
        elif event.kind == kinds.LABEL:
            try:
                target: str | None = parse_label(event).post_id
            except RemoteProtocolError:
                target = None
            self._labels.append((key, size, event.created_at, target))
        else:
            self._ranked.append((carry_rank(event.kind, event.created_at, None, Standing.PLAIN), size, key))

    def add_plain(self, key: int, size: int, kind: int, created_at: int) -> None:
        """A carried event of a kind that has no rules here (it need not be read: only its kind and age count)."""
        self.used += size
        self._ranked.append((carry_rank(kind, created_at, None, Standing.PLAIN), size, key))

    def recall(self, key: int, size: int, created_at: int) -> bool:
        """Rank the post stored under ``key`` as the last pass judged it, if the definitions it was judged against
        are still the current ones; False when it must be read and given to :meth:`add`."""
        judged = self._remembered.get(key)
        if judged is None:
            return False
        for address, definition in judged.against:
            channel = self._channel_of(address)
            if (channel.event.id if channel is not None else None) != definition:
                return False
        self.used += size
        self._judged(key, size, created_at, judged)
        return True

    def _post(self, key: int, size: int, event: Event) -> None:
        against: list[tuple[str, str | None]] = []
        post_type, lasting = None, True
        for address in islice(event.tag_values("a"), MAX_ADDRESSES):
            channel = self._channel_of(address)
            against.append((address, channel.event.id if channel is not None else None))
            if channel is None:
                continue
            verdict = post_verdict(event, channel, self.now)
            lasting = lasting and verdict.status is not Status.FUTURE  # may become valid: judge it again
            if verdict.ok and verdict.post is not None:
                post_type = verdict.post.post_type
                break
            if _claim_of(event, address):
                post_type = SEIZED
                break
        judged = Judged(tuple(against), post_type, event.id, event.pubkey)
        if lasting:
            self.memo[key] = judged
        self._judged(key, size, event.created_at, judged, remember=False)

    def _judged(self, key: int, size: int, created_at: int, judged: Judged, *, remember: bool = True) -> None:
        if remember:
            self.memo[key] = judged
        if judged.post_type is None:
            self._ranked.append((carry_rank(kinds.POST, created_at, None, Standing.JUNK), size, key))
            return
        self._valid_posts.add(judged.event_id)
        rank = carry_rank(kinds.POST, created_at, judged.post_type)
        address = judged.against[-1][0]
        self._needed[address] = max(rank, self._needed.get(address, rank))
        self._standing.add(judged.pubkey)
        self._channel_posts.setdefault(address, []).append((rank, size, key, judged.pubkey))

    def candidates(self, kept: Callable[[set[str]], set[str]] = lambda ids: set()) -> list[tuple[int, int, int]]:
        """Every event fed, as ``(rank, size, key)`` for :func:`choose_evictions`. ``kept(ids)`` says which of
        the posts labelled are stored and kept by the node (a label on one of them is valid too)."""
        ranked = list(self._ranked)
        for posts in self._channel_posts.values():
            ranked += fair_shares(posts)
        for key, size, created_at, address, channel in self._definitions:
            if channel is None:
                standing = Standing.JUNK
            elif address in self._needed:
                standing = Standing.VALID
                self._standing.add(channel.owner)
                self._standing.update(channel.admins)
            else:
                standing = Standing.PLAIN
            rank = carry_rank(kinds.CHANNEL, created_at, None, standing)
            if standing is Standing.VALID:  # it goes with its posts, after the last of them (see above)
                rank = max(rank, self._needed[address] + 1)
            ranked.append((rank, size, key))
        for key, size, created_at, signer in self._deletions:
            standing = Standing.VALID if signer in self._standing else Standing.PLAIN
            ranked.append((carry_rank(kinds.DELETION, created_at, None, standing), size, key))
        asked = {t for *_, t in self._labels if t is not None and t not in self._valid_posts}
        good = self._valid_posts | (kept(asked) if asked else set())
        for key, size, created_at, target in self._labels:
            standing = Standing.VALID if target in good else Standing.PLAIN
            ranked.append((carry_rank(kinds.LABEL, created_at, None, standing), size, key))
        return ranked


def fair_shares(posts: Iterable[tuple[int, int, int, str]]) -> list[tuple[int, int, int]]:
    """The valid posts of one channel, given as ``(rank, size, key, author)``, as ``(rank, size, key)`` with
    their ranks dealt out again fairly between authors. The channel keeps the same ranks. Each author's
    highest-ranked posts, up to :data:`FAIR_FREE` bytes, keep their order among everyone's (an alert still
    outranks news); past that, a post's place goes by how many bytes its author has beyond the free share with
    it and their higher-ranked posts, the fewest first (ties: the higher rank first, then the lower key). So an
    author who sent thousands of posts, or a few huge ones, holds the channel's lowest ranks with all but their
    first few, whoever else posted; a channel with one author keeps its order."""
    by_author: dict[str, list[tuple[int, int, int]]] = {}
    for rank, size, key, author in posts:
        by_author.setdefault(author, []).append((rank, size, key))
    dealt: list[tuple[int, int, int, int]] = []  # bytes past the free share, rank, size, key
    ranks: list[int] = []
    for own in by_author.values():
        used = 0
        for rank, size, key in sorted(own, key=lambda p: (-p[0], p[2])):
            used += size
            dealt.append((max(0, used - FAIR_FREE), rank, size, key))
            ranks.append(rank)
    dealt.sort(key=lambda d: (d[0], -d[1], d[3]))
    ranks.sort(reverse=True)
    return [(rank, size, key) for rank, (_past, _own, size, key) in zip(ranks, dealt, strict=True)]


def followed_bound(quota: int) -> int:
    """The bytes each author of a followed channel keeps under a carry ``quota`` (see :data:`FOLLOWED_AUTHOR_PART`)."""
    return max(FOLLOWED_AUTHOR_MIN, quota // FOLLOWED_AUTHOR_PART)


def followed_excess(
    events: Iterable[tuple[int, int, int, str]],
    exempt: Collection[str],
    bound: int,
    members: Collection[str] | None = None,
) -> list[int]:
    """The events of one followed channel, given as ``(created_at, size, key, author)``, that go: each author's
    beyond their newest ``bound`` bytes (ties: the lower key is kept), except the authors in ``exempt`` (the
    channel's owner and recovery key, the node's own keys). Authors who are not ``members`` (the keys with a role
    in the channel, current or former; None: every author counts alone) share one ``bound`` between them all: a
    pile of posts by ten thousand strangers' keys takes no more room than one key's. A channel whose authors each
    stay under ``bound`` loses nothing."""
    by_author: dict[str, list[tuple[int, int, int]]] = {}
    for created_at, size, key, author in events:
        if author not in exempt:
            who = author if members is None or author in members else ""
            by_author.setdefault(who, []).append((created_at, size, key))
    excess: list[int] = []
    for own in by_author.values():
        used = 0
        for _created_at, size, key in sorted(own, key=lambda e: (-e[0], e[2])):
            used += size
            if used > bound:
                excess.append(key)
    return excess


def choose_evictions(candidates: Iterable[tuple[int, int, int]], used: int, quota: int) -> list[int]:
    """Given carried events as ``(rank, size, key)``, the keys to drop, lowest rank first, until ``used`` bytes
    fit in ``quota``. Ties go to the larger key (the later stored) so the choice is deterministic."""
    if used <= quota:
        return []
    dropped: list[int] = []
    for _rank, size, key in sorted(candidates, key=lambda c: (c[0], -c[2])):
        if used <= quota:
            break
        dropped.append(key)
        used -= size
    return dropped
