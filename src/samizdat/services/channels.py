"""Finding channels and posts the way a person names them, and what belongs to a channel.

A person names a channel by its ``naddr``, its address ``30333:<owner hex>:<id>``, or its short id. A short id is
looked up among this node's own channels and the channels it follows, never among carried or imported ones: a
stranger can publish a channel with any id, and a short name must not lead to an impostor. When two of those
share the id, the person is asked for the naddr.

A post is named by its hex id, any unambiguous prefix of it (at least :data:`MIN_PREFIX` characters), or a
``note``/``nevent``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from samizdat.core import kinds, nip19
from samizdat.core.carry import KeepRules
from samizdat.core.channel import Channel, parse_channel, parse_channel_address, recovery_key
from samizdat.core.display import fingerprint, mixed_script_words
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.posts import VOUCH_VALUE, parse_post, split_address
from samizdat.core.recovery import SEIZED, Judgement, drop_linked, judge, vouched_key
from samizdat.core.relaylist import RelayList, parse_relay_list
from samizdat.core.trust import collisions, lookalikes, vouchers, witnesses
from samizdat.errors import RemoteProtocolError, SamizdatError, UsageError
from samizdat.services.context import Context

log = logging.getLogger(__name__)

MAX_CLAIMS = 100  #: seizure claims naming a channel read at once, per query (:func:`judged`)
MIN_PREFIX = 8  #: hex characters of a post id a person must give at least
MAX_OWN = 500  #: own channel definitions read at once
MAX_LISTED = 5000


def address_of(channel: Channel | Event) -> str:
    if isinstance(channel, Channel):
        return channel.address
    return f"{channel.kind}:{channel.pubkey}:{channel.d_tag}"


def definition_filter(address: str) -> Filter:
    kind, owner, identifier = address.split(":", 2)
    return Filter(kinds=frozenset({int(kind)}), authors=frozenset({owner}), tags=(("d", frozenset({identifier})),))


async def lookup(ctx: Context, address: str) -> Channel | None:
    """The current definition of the channel at ``address`` in the store, or None (unknown or unreadable); for a
    channel whose owner key was seized, the definition as it counts (:func:`judged`)."""
    if split_address(address) is None:
        return None
    return (await judged(ctx, address)).channel


async def judged(ctx: Context, address: str) -> Judgement:
    """The channel at ``address`` judged with the seizure claims in the store (:func:`samizdat.core.recovery.judge`),
    and the node's memory of its first recovery key; the first one seen is remembered here (for a node that
    remembers none, the key the trusted verifiers' vouches name comes first: :func:`_witnesses`). The claims of the
    remembered, named and vouched-for recovery keys are all read; any others (for a node that remembers none) only
    the newest :data:`MAX_CLAIMS`, so a stranger's pile of them can hide the real one from a new reader only."""
    definitions = await ctx.store.query([definition_filter(address)])
    remembered = ctx.local.recovery_key(address)
    vouched = await _witnesses(ctx, address) if definitions else []  # also to tell a remembered key disputed
    owner = address.split(":", 2)[1]
    keys = {remembered, *(recovery_key(e) for e in definitions), *(vouched_key(v, owner) for v in vouched)}
    named = frozenset(k for k in keys if k)
    naming = (("a", frozenset({address})), ("t", frozenset({SEIZED})))
    wanted = [Filter(kinds=frozenset({kinds.POST}), tags=naming, limit=MAX_CLAIMS)]
    if named:
        wanted.append(Filter(kinds=frozenset({kinds.POST}), authors=named, tags=naming, limit=MAX_CLAIMS))
    found = await ctx.store.query(wanted) if definitions else []
    judgement = judge(address, definitions, found, remembered, vouched)
    if not remembered and judgement.remember:
        try:
            ctx.local.remember_recovery_key(address, judgement.remember, ctx.clock())
        except SamizdatError as exc:  # reading goes on; the next read tries again
            log.warning("could not remember a channel's recovery key (-v names it): %s", exc)  # the log is plain
            log.info("the channel whose recovery key was not remembered: %s", address)
    return judgement


async def _witnesses(ctx: Context, address: str) -> list[Event]:
    """The trusted verifiers' vouches for the channel at ``address`` that count (not withdrawn, not expired)."""
    verifiers = trusted_verifiers(ctx)
    labels = await ctx.store.query(per_key(verifiers, kinds.LABEL, ("a", frozenset({address})), MAX_VOUCHES))
    if not labels:
        return []
    withdrawals = await ctx.store.query(
        per_key(verifiers, kinds.DELETION, ("e", frozenset(e.id for e in labels)), MAX_VOUCHES)
    )
    return witnesses([*labels, *withdrawals], verifiers, ctx.now()).get(address, [])


def per_key(keys: Iterable[str], kind: int, tag: tuple[str, frozenset[str]], limit: int = 5000) -> list[Filter]:
    """One filter per key of ``keys``, each its newest ``limit`` events of ``kind`` with ``tag``: one key's flood (a
    verifier's or an admin's key the police hold, labelling or vouching thousands of times) pushes out only its own
    events, never another key's."""
    return [Filter(kinds=frozenset({kind}), authors=frozenset({k}), tags=(tag,), limit=limit) for k in sorted(keys)]


async def mirrors(ctx: Context, address: str) -> tuple[str, ...]:
    """The mirror relays the current definition of channel ``address`` names (none if unknown here)."""
    channel = await lookup(ctx, address)
    return tuple(channel.mirrors) if channel is not None else ()


async def own_definitions(ctx: Context) -> list[Event]:
    return await ctx.store.query(
        [Filter(kinds=frozenset({kinds.CHANNEL}), authors=frozenset({ctx.pubkey}), limit=MAX_OWN)]
    )


async def own_channels(ctx: Context) -> list[str]:
    """Addresses of the channels this node's key owns."""
    return [address_of(e) for e in await own_definitions(ctx)]


async def keep_rules(ctx: Context) -> KeepRules:
    """What this node keeps whatever its carry quota: its own events and channels, followed channels and
    verifiers."""
    channels = [*ctx.local.follows(), *await own_channels(ctx)]
    return KeepRules.of([ctx.pubkey], channels, ctx.local.verifiers())


def _is_address(text: str) -> bool:
    return ":" in text or text.strip().startswith(("naddr1", "nostr:"))


def address_from_text(text: str) -> str:
    """The address inside an ``naddr`` or an address string; UsageError when it is neither."""
    pointer = parse_channel_address(text)
    return f"{pointer.kind}:{pointer.pubkey}:{pointer.identifier}"


async def address_named(ctx: Context, text: str) -> str:
    """The address a person means by ``text`` (naddr, address, or a short id of an own or followed channel).

    A short id that matches nothing is taken as one of the node's own (so ``channel create`` and "you have no
    channel called ..." work). UsageError when the short id is ambiguous."""
    text = text.strip()
    if _is_address(text):
        return address_from_text(text)
    candidates = [a for a in [*await own_channels(ctx), *ctx.local.follows()] if a.split(":", 2)[2] == text]
    candidates = list(dict.fromkeys(candidates))
    if len(candidates) > 1:
        options = []
        follows = ctx.local.follows()
        for address in candidates:
            found = await lookup(ctx, address)
            kind, owner, identifier = address.split(":", 2)
            hints = follows.get(address, [])[:3]
            options.append(found.naddr() if found else nip19.naddr_encode(int(kind), owner, identifier, hints))
        raise UsageError(f"{len(candidates)} channels are called {text!r}; name one by its naddr: {', '.join(options)}")
    if candidates:
        return candidates[0]
    return f"{kinds.CHANNEL}:{ctx.pubkey}:{text}"


async def resolve(ctx: Context, text: str) -> Channel:
    """The channel a person named; UsageError saying what to do when the node does not have its definition."""
    address = await address_named(ctx, text)
    channel = await lookup(ctx, address)
    if channel is None:
        _, owner, identifier = address.split(":", 2)
        if owner == ctx.pubkey and not _is_address(text):
            raise UsageError(
                f"no channel called {identifier!r} among yours or the ones you follow; see `samizdat channel list`"
            )
        raise UsageError(f"this node does not have channel {text.strip()[:70]} yet: follow it, then sync with a relay")
    return channel


def scope(channel: Channel) -> list[Filter]:
    """Filters for everything that makes up a channel: its definition, its posts (corrections and retractions
    included, all tagged with its address) and the deletion requests of its owner and admins."""
    keys = frozenset({channel.owner, *channel.admins, *channel.revoked})
    return [
        definition_filter(channel.address),
        Filter(tags=(("a", frozenset({channel.address})),)),
        Filter(kinds=frozenset({kinds.DELETION}), authors=keys),
    ]


def scope_from_address(address: str) -> list[Filter]:
    """Before the node knows a channel's definition: the definition and everything that points at it."""
    return [definition_filter(address), Filter(tags=(("a", frozenset({address})),))]


async def scope_of(ctx: Context, address: str) -> list[Filter]:
    channel = await lookup(ctx, address)
    return scope(channel) if channel is not None else scope_from_address(address)


async def scope_named(ctx: Context, text: str) -> list[Filter]:
    """What ``sync --channel TEXT`` moves: the channel's events, or, for a channel the node knows only by
    address (the sync is to fetch its definition), everything that names the address."""
    address = await address_named(ctx, text)
    channel = await lookup(ctx, address)
    if channel is not None:
        return scope(channel)
    if address.split(":")[1] == ctx.pubkey and not _is_address(text):
        await resolve(ctx, text)  # one of our own that does not exist: says so
    return scope_from_address(address)


@dataclass(frozen=True, slots=True)
class Listed:
    channel: Channel | None
    address: str
    relation: str  # own, followed, carried


async def listing(ctx: Context) -> list[Listed]:
    """Every channel the node knows: own, followed (also those whose definition has not arrived), carried."""
    follows = ctx.local.follows()
    rows: list[Listed] = []
    seen: set[str] = set()
    for event in await ctx.store.query([Filter(kinds=frozenset({kinds.CHANNEL}), limit=MAX_LISTED)]):
        try:
            channel = parse_channel(event)
        except RemoteProtocolError:
            continue
        relation = "own" if channel.owner == ctx.pubkey else "followed" if channel.address in follows else "carried"
        rows.append(Listed(channel, channel.address, relation))
        seen.add(channel.address)
    rows += [Listed(None, a, "followed") for a in follows if a not in seen]
    order = {"own": 0, "followed": 1, "carried": 2}
    rows.sort(key=lambda r: order[r.relation])
    return rows


# -- the web app's start page: which channel definitions it carries (docs/web.md, "The start page") -------------

SEED_TRUSTED = 1000  #: followed channels, and as many vouched ones, looked up at most
SEED_SCAN_EVENTS = 2000  #: other channels' definitions read at most, newest first...
SEED_SCAN_BYTES = 4 * 1024 * 1024  #: ...and at most this much of their JSON
SEED_EVENT_BYTES = 16 * 1024  #: another's definition larger than this is left to the relay (a real one is ~1-5 KB)
SEED_REFRESH = 600  #: seconds after which the start page is rebuilt though nothing was stored (vouches expire)
_SEED_PAGE_EVENTS = 200
_SEED_LOOKUP = 200  #: addresses per query


class _Seed:
    """The definitions chosen so far, within a byte budget; :meth:`add` parses, so it runs in a worker thread."""

    def __init__(self, max_bytes: int) -> None:
        self.room = max_bytes
        self.events: list[Event] = []
        self.addresses: set[str] = set()

    @property
    def full(self) -> bool:
        return self.room < 512  # no channel definition is smaller

    def add(self, events: Iterable[Event], max_event: int | None) -> int:
        """Take the valid definitions of ``events`` in order while they fit; return the bytes looked at."""
        seen = 0
        for event in events:
            size = len(event.to_json()) + 1  # and a comma
            seen += size
            if size > self.room or (max_event is not None and size > max_event):
                continue
            try:
                channel = parse_channel(event)
            except RemoteProtocolError:
                continue
            if channel.address in self.addresses:
                continue
            self.addresses.add(channel.address)
            self.events.append(event)
            self.room -= size
        return seen


async def _definitions_at(ctx: Context, addresses: Sequence[str]) -> list[Event]:
    """The stored definitions of the channels at ``addresses``, newest first."""
    wanted = set(addresses)
    found: list[Event] = []
    for start in range(0, len(addresses), _SEED_LOOKUP):
        chunk = [split_address(a) for a in addresses[start : start + _SEED_LOOKUP]]
        parts = [p for p in chunk if p is not None and p[0] == kinds.CHANNEL]
        if not parts:
            continue
        query = Filter(kinds=frozenset({kinds.CHANNEL}), authors=frozenset(p[1] for p in parts),
                       tags=(("d", frozenset(p[2] for p in parts)),), limit=4 * len(parts))  # fmt: skip
        found += [e for e in await ctx.store.query([query]) if address_of(e) in wanted]
    return sorted(found, key=lambda e: e.created_at, reverse=True)


async def start_page_definitions(ctx: Context, max_bytes: int, *, follows: bool = True) -> list[Event]:
    """Valid channel definitions for the web app's start page, best first, their JSON at most ``max_bytes`` in
    all: the node's own, then the followed ones, then those a trusted verifier vouches for (:func:`vouches`), then
    any other; newest first within each group. Without ``follows`` (a page for a reader who may not know whose node
    this is) the followed and vouched groups are not put first: which definitions fit would tell them apart.

    However many definitions the store holds, at most :data:`SEED_SCAN_EVENTS` others (and
    :data:`SEED_SCAN_BYTES` of them) are read, so a flood of definitions costs each rebuild the same. An invalid
    definition is left out, and so is another's larger than :data:`SEED_EVENT_BYTES`: a few bloated ones must not
    fill the page. Parsing runs in a worker thread, off the event loop. Raises StoreError."""
    seed = _Seed(max_bytes)
    groups = [await own_definitions(ctx)]
    if follows:
        followed = list(ctx.local.follows())[:SEED_TRUSTED]
        vouched = [a for a in await vouches(ctx) if a not in followed][:SEED_TRUSTED]
        groups += [await _definitions_at(ctx, followed), await _definitions_at(ctx, vouched)]
    for group in groups:
        await asyncio.to_thread(seed.add, group, None)
    read = 0  # each page is read in a transaction of its own: leaving early holds nothing open
    others = [Filter(kinds=frozenset({kinds.CHANNEL}), limit=SEED_SCAN_EVENTS)]
    async for page in ctx.store.query_pages(others, page_events=_SEED_PAGE_EVENTS, page_bytes=SEED_SCAN_BYTES // 16):
        read += await asyncio.to_thread(seed.add, page, SEED_EVENT_BYTES)
        if seed.full or read >= SEED_SCAN_BYTES:
            break
    return seed.events


async def start_page_version(ctx: Context) -> tuple[object, ...]:
    """A value that changes whenever :func:`start_page_definitions` may answer differently: an event was stored,
    the node follows other channels or verifiers, or :data:`SEED_REFRESH` seconds have passed (vouches and
    definitions expire, the carry quota drops some). Cheap: the web app asks before every rebuild."""
    follows, verifiers = tuple(ctx.local.follows()), tuple(ctx.local.verifiers())
    return await ctx.store.last_seq(), follows, verifiers, int(ctx.now() // SEED_REFRESH)


async def feed_channels(ctx: Context, text: str | None) -> list[Channel]:
    """The channel a person named, or by default the node's own and followed channels that it has."""
    if text is not None:
        return [await resolve(ctx, text)]
    channels = []
    for address in dict.fromkeys([*await own_channels(ctx), *ctx.local.follows()]):
        found = await lookup(ctx, address)
        if found is not None:
            channels.append(found)
    return channels


async def relay_list(ctx: Context) -> RelayList:
    """The node's own NIP-65 relay list (newest kind 10002 in the store), or an empty one."""
    event = await relay_list_event(ctx)
    return parse_relay_list(event) if event else RelayList()


async def relay_list_event(ctx: Context) -> Event | None:
    found = await ctx.store.query(
        [Filter(kinds=frozenset({kinds.RELAY_LIST}), authors=frozenset({ctx.pubkey}), limit=1)]
    )
    return found[0] if found else None


async def known_relays(ctx: Context) -> list[str]:
    """Every relay this node uses: its relay list, write relays, followed channels' relays and own mirrors."""
    own = await relay_list(ctx)
    relays = [*own.write, *own.read, *ctx.config.write_relays]
    for address, hints in ctx.local.follows().items():
        relays += hints
        relays += await mirrors(ctx, address)
    for event in await own_definitions(ctx):
        try:
            relays += parse_channel(event).mirrors
        except RemoteProtocolError:
            continue
    return [r for r in dict.fromkeys(relays) if r.startswith(("ws://", "wss://"))]


def _event_ref(ref: str) -> str:
    text = ref.strip().removeprefix("nostr:")
    try:
        if text.startswith("nevent1"):
            return nip19.nevent_decode(text).id
        if text.startswith("note1"):
            return nip19.note_decode(text)
    except SamizdatError as exc:
        raise UsageError(f"{ref[:70]} is not a valid note or nevent: {exc}") from exc
    return text.lower()


async def find_event(ctx: Context, ref: str) -> Event:
    """The stored event a person named by hex id, unambiguous id prefix, ``note`` or ``nevent``."""
    event_id = _event_ref(ref)
    if len(event_id) == 64:
        event = await ctx.store.get(event_id)
        if event is None:
            raise UsageError(f"no post {ref.strip()[:70]} in this node's store")
        return event
    if len(event_id) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in event_id):
        raise UsageError(
            f"{ref.strip()[:70]!r} is not a post id: give at least {MIN_PREFIX} hex characters, a note or an nevent"
        )
    found = await ctx.store.ids_with_prefix(event_id, limit=2)
    if not found:
        raise UsageError(f"no post starting with {event_id} in this node's store")
    if len(found) > 1:
        raise UsageError(f"more than one post starts with {event_id}: give more characters")
    event = await ctx.store.get(found[0])
    if event is None:  # deleted meanwhile
        raise UsageError(f"no post starting with {event_id} in this node's store")
    return event


async def find_post(ctx: Context, ref: str) -> tuple[Event, Channel]:
    """A channel post a person named (see :func:`find_event`), with its channel; UsageError if unknown."""
    event = await find_event(ctx, ref)
    try:
        post = parse_post(event)
    except RemoteProtocolError as exc:
        raise UsageError(f"event {event.id[:12]} is not a channel post: {exc}") from exc
    channel = await lookup(ctx, post.channel)
    if channel is None:
        raise UsageError(f"this node does not have the definition of the post's channel {post.channel}")
    return event, channel


def _is_pubkey_ref(text: str) -> bool:
    return text.strip().removeprefix("nostr:").startswith(("npub1", "nprofile1"))


async def follow(ctx: Context, target: str, relays: list[str]) -> dict[str, object]:
    """Follow a channel (naddr or address; ``serve`` keeps it in sync) or a verifier (npub: their labels count)."""
    if _is_pubkey_ref(target):
        pubkey = nip19.parse_pubkey(target)
        return {"verifier": nip19.npub_encode(pubkey), "added": ctx.local.follow_verifier(pubkey, ctx.clock())}
    pointer = parse_channel_address(target)
    address = f"{pointer.kind}:{pointer.pubkey}:{pointer.identifier}"
    added = ctx.local.follow(address, [*pointer.relays, *relays], ctx.clock())
    await ctx.store.forget_evicted(address)  # what was dropped as carried may come back now
    owner = nip19.npub_encode(pointer.pubkey)
    return {"channel": address, "owner": owner, "relays": ctx.local.follows()[address], "added": added}


async def unfollow(ctx: Context, target: str) -> None:
    """Stop following a channel or a verifier; UsageError when the node does not follow it."""
    if _is_pubkey_ref(target):
        done = ctx.local.unfollow_verifier(nip19.parse_pubkey(target))
    else:
        done = ctx.local.unfollow(await address_named(ctx, target))
    if not done:
        raise UsageError(f"you do not follow {target.strip()[:70]}")


# -- telling channels apart: fingerprints, vouches, collisions (docs/protocol.md, "Vouching for a channel") -----

MAX_VOUCHES = 5000  #: vouch labels (and as many withdrawals) read at once, of each verifier apart (per_key)


@dataclass(frozen=True, slots=True)
class Entry:
    """A channel as a reader should see it: whose it is (the owner key's fingerprint), whether the reader owns or
    follows it and which trusted verifiers vouch for it, and which of the reader's own, followed or vouched
    channels it could be mistaken for (:func:`samizdat.core.trust.collisions`)."""

    channel: Channel | None  # None: followed, definition not synced yet
    address: str
    relation: str  # own, followed, carried
    fingerprint: str
    vouched_by: tuple[str, ...]  # verifiers' keys (hex)
    collides_with: tuple[str, ...]  # addresses of the trusted channels it could be taken for
    mixed_scripts: tuple[str, ...]  # words of its name and place that mix alphabets
    lookalikes: tuple[str, ...] = ()  # addresses of any other channels it could be taken for

    @property
    def warned(self) -> bool:
        """Shown "not the channel you follow" first: it collides, and the reader neither owns nor follows it."""
        return bool(self.collides_with) and self.relation == "carried"

    @property
    def twinned(self) -> bool:
        """Shown "another channel has this name" first: it has look-alikes, and nothing the reader trusts tells
        them apart (neither owned, followed nor vouched for, and not :attr:`warned`)."""
        return bool(self.lookalikes) and self.relation == "carried" and not self.vouched_by and not self.warned


def trusted_verifiers(ctx: Context) -> frozenset[str]:
    """Whose vouches and labels count here: the node's own key and the verifiers it follows."""
    return frozenset({ctx.pubkey, *ctx.local.verifiers()})


async def vouches(ctx: Context) -> dict[str, frozenset[str]]:
    """Channel address -> the trusted verifiers (:func:`trusted_verifiers`) who vouch for it now."""
    verifiers = trusted_verifiers(ctx)
    events = await ctx.store.query(
        [
            *per_key(verifiers, kinds.LABEL, ("l", frozenset({VOUCH_VALUE})), MAX_VOUCHES),
            *per_key(verifiers, kinds.DELETION, ("k", frozenset({str(kinds.LABEL)})), MAX_VOUCHES),
        ]
    )
    return vouchers(events, verifiers, ctx.now())


def _entry(
    row: Listed, vouched: dict[str, frozenset[str]], clashes: dict[str, tuple[str, ...]],
    twins: dict[str, tuple[str, ...]],
) -> Entry:  # fmt: skip
    channel = row.channel
    mixed = mixed_script_words(f"{channel.name}\n{channel.place}") if channel else ()
    return Entry(
        channel, row.address, row.relation, fingerprint(row.address.split(":", 2)[1]),
        tuple(sorted(vouched.get(row.address, ()))), clashes.get(row.address, ()), mixed, twins.get(row.address, ()),
    )  # fmt: skip


async def _survey(ctx: Context) -> tuple[list[Listed], dict[str, frozenset[str]], list[Channel]]:
    """The listing, the vouches, and the trusted channels: own, followed, vouched."""
    rows = await listing(ctx)
    vouched = await vouches(ctx)
    follows = ctx.local.follows()
    for index, row in enumerate(rows):  # a seized channel the reader trusts is shown as its claim says
        if row.channel is not None and row.relation != "carried":
            counted = (await judged(ctx, row.address)).channel
            rows[index] = Listed(counted or row.channel, row.address, row.relation)
    trusted = [
        row.channel for row in rows
        if row.channel is not None and (row.relation != "carried" or row.address in vouched or row.address in follows)
    ]  # fmt: skip
    return rows, vouched, trusted


async def directory(ctx: Context, *, vouched_only: bool = False) -> list[Entry]:
    """Every channel the node knows (as :func:`listing`), each as an :class:`Entry`; with ``vouched_only``,
    only the channels a trusted verifier vouches for."""
    rows, vouched, trusted = await _survey(ctx)
    known = [row.channel for row in rows if row.channel is not None]
    links = successors(trusted)
    clashes, twins = drop_linked(collisions(known, trusted), links), drop_linked(lookalikes(known), links)
    entries = [_entry(row, vouched, clashes, twins) for row in rows]
    # A look-alike never comes before the channel the reader trusts it could be taken for (stable: the listing's
    # own, followed, carried order stays).
    entries.sort(key=lambda e: e.warned or e.twinned)
    return [e for e in entries if e.vouched_by] if vouched_only else entries


async def entry(ctx: Context, channel: Channel) -> Entry:
    """What :func:`directory` says of ``channel`` (also of one beyond the listing's :data:`MAX_LISTED`)."""
    rows, vouched, trusted = await _survey(ctx)
    relation = next((row.relation for row in rows if row.address == channel.address), None)
    if relation is None:
        own = channel.owner == ctx.pubkey
        relation = "own" if own else "followed" if channel.address in ctx.local.follows() else "carried"
    known = [row.channel for row in rows if row.channel is not None and row.address != channel.address]
    links = successors([*trusted, channel])
    twins = drop_linked(collisions([channel], known), links)
    clashes = drop_linked(collisions([channel], trusted), links)
    return _entry(Listed(channel, channel.address, relation), vouched, clashes, twins)


def successors(channels: Iterable[Channel]) -> dict[str, str]:
    """Seized channel address -> the address its recovery key says it goes on at, among ``channels`` (judged by
    :func:`judged`): those pairs are not look-alikes of each other."""
    return {c.address: c.successor for c in channels if c.successor}


async def own_vouches(ctx: Context, address: str) -> list[Event]:
    """The node key's vouch labels on the channel at ``address`` (what withdrawing a vouch deletes)."""
    found = await ctx.store.query([
        Filter(kinds=frozenset({kinds.LABEL}), authors=frozenset({ctx.pubkey}), tags=(("a", frozenset({address})),),
               limit=MAX_VOUCHES),
    ])  # fmt: skip
    return [e for e in found if VOUCH_VALUE in e.tag_values("l") and not e.tag_values("e")]
