"""Relays that lose what they acknowledge: the one rule the sync, the outbox and the status share.

A relay that answers ``OK true`` and keeps nothing (a broken relay, one that drops what it does not like, one the
police run, or a box on the path answering in its name) would have the node tell its user that posts reached a
mirror they never reached, and be sent the node's whole scope again every sync (120 MB every 300 s for an area).

A sync asks a :class:`Witness` which of the events the relay lacks it had acknowledged (theory in
:mod:`samizdat.core.acks`): the posts the outbox delivered to it (the outbox's rows) and a sample of what syncs
uploaded (in memory). And a relay the node never syncs with (a write relay) is asked, a minute after its ``OK``,
for the posts it accepted (:func:`check_delivered`: one ``REQ`` by ids for up to :data:`CHECK_BATCH` of them, once
each: a post's own bytes again, about 1 kB; asked again for what an answer left out, while answers bring more: a
relay may cap its answers). Posts vanish later too (an operator pressured into deleting a channel weeks after
accepting it, a relay that quietly expires what it holds), so :class:`Rechecks` asks each relay again, every
:data:`RECHECK_EVERY` seconds (and soon after the node starts), for up to :data:`CHECK_BATCH` of the posts it
accepted within :data:`RECHECK_WITHIN`, those asked least recently first: the outbox rows keep when each was last
asked, so the rotation goes on across restarts and nothing new ties posts to relays on disk. A relay can also
keep a channel's posts, serve them to whoever asks by id, and leave them out of what its readers get: a re-check
asks for the posts served by id once more the way readers ask (:func:`_hidden`), through another route than its
own when the node has one (:func:`_hidden_from_readers`: a relay may hide a channel from every address but its
publisher's; :func:`other_route`, which the route memory does not learn from), and those left out are lost
there too (not sent back: it has them). When any check finds posts lost, :func:`lost` (:func:`noted` after a
sync):

- marks the posts ``lost`` in the outbox: not delivered to that relay, and not sent to it by the outbox again
  (the sync's bounded upload still offers them, newest first, should the relay mend), except once: a post a
  re-check finds gone, which the relay had served before, is sent back to it (a relay that lost it by accident,
  a disk restored from an old backup, has it again; one that deletes it again keeps it ``lost``);
- sends those posts again, at once, to every other relay they were meant for: the channel's other mirrors and
  the node's write relays, those the outbox had given up on too;
- marks the relay *losing* (counts only, in the state file) until :data:`LOSING_FOR` seconds pass without another
  loss: while it is, a sync uploads at most :data:`~samizdat.net.sync.LOSING_UPLOAD` events to it, the newest, and
  ``samizdat status`` and the web status say so. One warning is logged when a relay starts losing, not one a sync.

A relay that never acknowledged anything (a new, empty one) is no loser: it gets everything it lacks. A relay
that cannot be asked (unreachable, blocked, or refusing the request: it wants authentication) is not one either.
A relay that keeps what it accepted and serves a channel's old definition, or leaves a retraction out of its
answers, is a withholder (:mod:`samizdat.services.withholding`, which asks with :func:`served_all` too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import Any

from samizdat.core import geohash as gh
from samizdat.core.acks import SETTLE
from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.errors import RemoteProtocolError, TransportError
from samizdat.net import failover, netinfo
from samizdat.net import sync as netsync
from samizdat.net.client import RelayClient
from samizdat.net.outbox import served
from samizdat.services import areas, channels
from samizdat.services.context import Context

log = logging.getLogger(__name__)

#: Seconds a relay stays marked as losing after the last sync that found it lacking what it had acknowledged.
LOSING_FOR = 24 * 3600.0
#: The outbox row's message for a lost post.
LOST = "lost: the relay acknowledged it, then did not have it"
#: Posts asked back from one relay at once, at most.
CHECK_BATCH = 100
#: Seconds a relay is given to answer the request for its posts.
CHECK_TIMEOUT = 30.0
#: Requests for one batch at most: a relay that caps its answers at N events gets ``CHECK_BATCH / N`` (so N of 10
#: or more is served in full; below that, what is left is counted as lost).
CHECK_ROUNDS = 10
#: Seconds between two re-checks of one relay (each asks for up to :data:`CHECK_BATCH` posts, about 100 kB).
RECHECK_EVERY = 6 * 3600.0
#: Seconds after its ``OK`` that a post is still re-checked (a month: older posts are left to the relay's rules).
RECHECK_WITHIN = 30 * 24 * 3600.0
#: Relays re-checked at once, at most (the rest wait for the next look).
RECHECK_RELAYS = 8
#: Seconds between two looks for relays due for a re-check, and from the node's start to the first look.
RECHECK_LOOK = 300.0
#: Seconds before a relay that could not be reached is re-checked again (its posts are not called lost meanwhile).
RECHECK_RETRY = 3600.0
#: The outbox row's message for a post the relay serves by id but leaves out when readers ask.
HIDDEN = "lost: the relay serves it when asked for by id, but not to readers of its area or channel"
#: Filters in one request when posts are asked for the way readers ask (our relay takes 10 a REQ).
READER_FILTERS = 10
#: Seconds another route is given to connect and answer that way, before the check's own connection is asked.
OTHER_ROUTE_TIMEOUT = 10.0
#: Messages one such request may bring, at most (one second of an area is a handful of posts).
READER_ANSWER = 1000
#: The outbox row's message for a lost post sent back once to the relay that lost it.
GIVEN_BACK = "lost: the relay had served it, then did not have it; sent to it once more"


class Witness:
    """What relays acknowledged (:class:`samizdat.core.acks.Witness`): the outbox's accepted rows for posts, the
    context's in-memory ledger for what syncs uploaded."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def acknowledged(self, relay: str, ids: Sequence[str], now: float) -> None:
        self.ctx.acks.acknowledged(relay, ids, now)

    def lost(self, relay: str, lacking: Sequence[str], began: float) -> list[str]:
        posts = self.ctx.local.accepted_among(relay, lacking, began - SETTLE)
        uploads = self.ctx.acks.lost(relay, lacking, began)
        return list(dict.fromkeys([*posts, *uploads]))


def losing(ctx: Context, relay: str) -> float | None:
    """Since when ``relay`` has been losing what it acknowledged; None when it is not (or no longer)."""
    health = ctx.local.relay_health().get(relay)
    if health is None or ctx.clock() - health.last_lost > LOSING_FOR:
        return None
    return health.first_lost


def upload_limit(ctx: Context, relay: str) -> int | None:
    """The most events a sync may upload to ``relay``: a bound while it is losing, else none."""
    return netsync.LOSING_UPLOAD if losing(ctx, relay) is not None else None


async def check_delivered(ctx: Context, relay: str, ids: Sequence[str], *, again: bool = False) -> bool:
    """Ask ``relay`` for posts it accepted (at most :data:`CHECK_BATCH` of ``ids``, the rest are for the next
    call); those it does not serve are lost (:func:`lost`; sent back to it once if ``again``: it had served them
    before). On a re-check (``again``) the posts it serves by id are asked for once more the way readers ask
    (:func:`_hidden`): those it leaves out are hidden, and treated as lost there. Posts no longer in the store
    here (replaced, retracted, expired) are not asked for; a relay that refuses the request (``CLOSED``: it wants
    authentication, say) cannot be checked, and its posts stay delivered. Returns False when the relay could not
    be reached (the posts are asked again later); never raises for the relay's sake."""
    ids = list(ids)[:CHECK_BATCH]
    held = await ctx.store.has(ids)
    ask = [i for i in ids if i in held]
    hidden: list[str] = []
    if ask:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                client = await ctx.connect(relay)
                try:
                    have = await served_all(client, ask)
                    if again and have:
                        hidden = await _hidden_from_readers(ctx, client, [i for i in ask if i in have])
                finally:
                    await client.close()
        except RemoteProtocolError as exc:  # it refuses to serve them (auth required, say): nothing to tell
            log.info("%s would not serve the posts it accepted, so they are taken as delivered: %s", relay, exc)
            ctx.local.mark_checked(relay, ids, ctx.clock())
            return True
        except (TransportError, TimeoutError, OSError) as exc:
            log.info("could not ask %s for the posts it accepted: %s", relay, exc)
            return False
    else:
        have = set()
    ctx.local.mark_checked(relay, ids, ctx.clock())
    missing = [i for i in ask if i not in have]
    if missing:
        await lost(ctx, relay, missing, give_back=again)
    if hidden:
        await lost(ctx, relay, hidden, message=HIDDEN)
    return True


class Rechecks:
    """Which relays are due for a re-check (see the module), for the outbox loop: :meth:`due` at each pass, then
    :meth:`run` for each relay it names.

    When each relay is asked next is kept in memory only: after a restart every relay with posts to re-check is
    asked soon (a node that was off for a week should look). Which posts are asked is on disk, in the outbox rows.
    Bounds: at most ``relays`` relays at once, one batch of :data:`CHECK_BATCH` posts per relay every ``every``
    seconds, each within :data:`CHECK_TIMEOUT`."""

    def __init__(
        self,
        ctx: Context,
        *,
        every: float = RECHECK_EVERY,
        within: float = RECHECK_WITHIN,
        relays: int = RECHECK_RELAYS,
        look: float = RECHECK_LOOK,
        retry: float = RECHECK_RETRY,
    ) -> None:
        self.ctx, self.every, self.within, self.relays, self.look, self.retry = ctx, every, within, relays, look, retry
        self._look_at = ctx.clock() + look
        self._next: dict[str, float] = {}  # relay -> when it may be re-checked again
        self._asking: set[str] = set()

    def due(self, now: float, busy: Collection[str] = ()) -> dict[str, list[str]]:
        """The relays to re-check now (none of ``busy``), each with the posts to ask it for; at most one look every
        ``look`` seconds reads the outbox."""
        if now < self._look_at or len(self._asking) >= self.relays:
            return {}
        self._look_at = now + self.look
        self._next = {relay: when for relay, when in self._next.items() if when > now}
        chosen: dict[str, list[str]] = {}
        for relay, ids in self.ctx.local.to_recheck(now - self.every, now - self.within, CHECK_BATCH).items():
            if relay in busy or relay in self._next or relay in self._asking:
                continue
            if len(self._asking) + len(chosen) >= self.relays:
                break
            chosen[relay] = ids
            self._next[relay] = now + self.retry  # should the check die before it says
        self._asking.update(chosen)
        return chosen

    async def run(self, relay: str, ids: Sequence[str]) -> None:
        """Re-check ``relay`` for ``ids`` (from :meth:`due`)."""
        try:
            reached = await check_delivered(self.ctx, relay, ids, again=True)
        finally:
            self._asking.discard(relay)
        self._next[relay] = self.ctx.clock() + (self.every if reached else self.retry)


async def served_all(client: RelayClient, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the relay serves. Many relays cap an answer's events (NIP-11 ``max_limit``), so what one
    answer left out is asked again, while each answer brings more (at most :data:`CHECK_ROUNDS` answers): only
    what the relay does not serve when asked for it alone, or with fewer, counts as missing."""
    have: set[str] = set()
    left = list(ids)
    for _ in range(CHECK_ROUNDS):
        got = await served(client, left, timeout=CHECK_TIMEOUT)
        have |= got
        left = [i for i in left if i not in got]
        if not left or not got:
            break
    return have


def _as_a_reader(event: Event) -> dict[str, Any] | None:
    """The filter a reader's sync finds ``event`` with (services/areas.py: its area's cell, or its channel when it
    has no area), narrowed to the second it is dated; None for an event of no channel."""
    cells = sorted((t[1] for t in event.tags if gh.is_area_tag(t)), key=len)
    if cells:
        wire = Filter(kinds=areas.AREA_KINDS, tags=(("g", frozenset({cells[-1]})),)).to_dict()
    elif address := next(iter(event.tag_values("a")), None):
        wire = Filter(tags=(("a", frozenset({address})),)).to_dict()
    else:
        return None
    return {**wire, "since": event.created_at, "until": event.created_at}


async def _hidden(ctx: Context, client: RelayClient, ids: Sequence[str]) -> list[str]:
    """Which of ``ids`` (posts ``client``'s relay serves when asked for by id) it leaves out when asked the way
    readers ask, by area or channel (:func:`_as_a_reader`, :data:`READER_FILTERS` filters a request). A relay
    pressured to hide a channel from its readers while its publisher sees every post delivered does that; a check
    by id alone never saw it. Each filter spans one second, so an honest relay's caps do not leave a post out."""
    asks: list[tuple[str, dict[str, Any]]] = []
    stored = await ctx.store.query([Filter(ids=frozenset(ids), limit=len(ids))]) if ids else []
    for event in stored:  # one read for the batch, not one per post
        wire = _as_a_reader(event)
        if wire is not None:
            asks.append((event.id, wire))
    found: set[str] = set()
    for start in range(0, len(asks), READER_FILTERS):
        part = asks[start : start + READER_FILTERS]
        wanted = {event_id for event_id, _ in part}
        answer = client.stored([wire for _, wire in part], max_messages=READER_ANSWER, timeout=CHECK_TIMEOUT)
        async for raw in answer:
            if raw.get("id") in wanted:
                try:
                    found.add(parse_event(raw).id)
                except RemoteProtocolError:
                    continue
    return [event_id for event_id, _ in asks if event_id not in found]


async def _hidden_from_readers(ctx: Context, client: RelayClient, ids: Sequence[str]) -> list[str]:
    """:func:`_hidden`, asked through another route to the relay than ``client``'s when there is one (a proxy,
    Tor, a fallback of the configuration), so that the relay sees a reader's address, not the one the node
    publishes and checks from: a relay can serve a channel to its publisher's address and hide it from every
    other. Through ``client`` when no other route connects within :data:`OTHER_ROUTE_TIMEOUT` seconds or
    answers: a route that is blocked here, or a relay that will not serve that route (many refuse Tor), says
    nothing about hiding."""
    other: RelayClient | None = None
    if client.route is not None:
        try:
            async with asyncio.timeout(OTHER_ROUTE_TIMEOUT):
                other = await other_route(ctx, client, OTHER_ROUTE_TIMEOUT)
                return await _hidden(ctx, other, ids)
        except (TransportError, RemoteProtocolError, TimeoutError, OSError) as exc:
            log.debug("asked %s the way readers ask through the node's own route: %s", client.url, exc)
        finally:
            if other is not None:
                await other.close()
    return await _hidden(ctx, client, ids)


async def other_route(ctx: Context, client: RelayClient, timeout: float) -> RelayClient:
    """A second connection to ``client``'s relay through another route than ``client``'s (raises
    :class:`~samizdat.errors.TransportError` when there is none, or none connects within ``timeout``). The route
    memory is not told how it went: a check must not move the node's syncs to that route (a route that connected
    last is tried first: a check through Tor would otherwise make every next sync start through Tor)."""
    return await failover.connect(
        client.url, ctx.routing, None, network=netinfo.network_id(), clock=ctx.clock, timeout=timeout,
        avoid=(client.route,) if client.route else (),
    )  # fmt: skip


async def noted(ctx: Context, relay: str, report: netsync.SyncReport) -> None:
    """After a sync with ``relay``: if it lost events it had acknowledged, act on it (see the module)."""
    if report.lost:
        await lost(ctx, relay, report.lost_ids, report.lost)


async def lost(
    ctx: Context,
    relay: str,
    ids: Sequence[str],
    count: int | None = None,
    *,
    give_back: bool = False,
    message: str = LOST,
) -> None:
    """``relay`` lacks ``ids`` (``count`` events in all) after acknowledging them: act on it (see the module);
    ``give_back``: send the posts back to it, once each; ``message``: what the outbox rows say."""
    count = len(ids) if count is None else count
    now = ctx.clock()
    anew = losing(ctx, relay) is None
    ctx.local.record_lost(relay, count, now, anew=anew)
    posts = ctx.local.mark_lost(relay, ids, message)
    back = ctx.local.give_back(relay, posts, GIVEN_BACK, now) if give_back else []
    health = ctx.local.relay_health()
    shunned = {url for url, h in health.items() if now - h.last_lost <= LOSING_FOR} | {relay}
    elsewhere = 0
    for event_id in posts:
        event = await ctx.store.get(event_id)
        if event is None:
            continue
        address = next(iter(event.tag_values("a")), "")
        channel = await channels.lookup(ctx, address)  # None for a post of no channel kept here, or no post
        own = await channels.relay_list(ctx)
        targets = [*(channel.mirrors if channel else ()), *own.write, *ctx.config.write_relays]
        targets = [url for url in dict.fromkeys(targets) if url and url not in shunned]
        ctx.local.enqueue(event_id, targets, now, author=event.pubkey, channel=address if channel else "")
        elsewhere += ctx.local.retry_elsewhere(event_id, shunned, now)
    line = (
        f"{relay} acknowledged {count} events and then did not have them: it loses or hides what it is "
        f"sent; {len(posts)} of them published here are no longer counted as delivered there"
        + (f" and go to other relays ({elsewhere} deliveries)" if posts else "")
        + (f"; {len(back)} go back to it once" if back else "")
        + f", and a sync sends it at most {netsync.LOSING_UPLOAD} events"
    )
    if anew:
        log.info("%s", line)
    else:
        log.info("%s", line)
