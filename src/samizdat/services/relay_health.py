"""Relays that lose what they acknowledge: the one rule the sync, the outbox and the status share.

A relay that answers ``OK true`` and keeps nothing (a broken relay, one that drops what it does not like, one the
police run, or a box on the path answering in its name) would have the node tell its user that posts reached a
mirror they never reached, and be sent the node's whole scope again every sync (120 MB every 300 s for an area).

A sync asks a :class:`Witness` which of the events the relay lacks it had acknowledged (theory in
:mod:`samizdat.core.acks`): the posts the outbox delivered to it (the outbox's rows) and a sample of what syncs
uploaded (in memory). And a relay the node never syncs with (a write relay) is asked, a minute after its ``OK``,
for the posts it accepted (:func:`check_delivered`: one ``REQ`` by ids for up to :data:`CHECK_BATCH` of them, once
each: a post's own bytes again, about 1 kB; asked again for what an answer left out, while answers bring more: a
relay may cap its answers). When either finds any lost, :func:`noted`:

- marks the posts ``lost`` in the outbox: not delivered to that relay, and not sent to it by the outbox again
  (the sync's bounded upload still offers them, newest first, should the relay mend);
- sends those posts again, at once, to every other relay they were meant for: the channel's other mirrors and
  the node's write relays, those the outbox had given up on too;
- marks the relay *losing* (counts only, in the state file) until :data:`LOSING_FOR` seconds pass without another
  loss: while it is, a sync uploads at most :data:`~samizdat.net.sync.LOSING_UPLOAD` events to it, the newest, and
  ``samizdat status`` and the web status say so. One warning is logged when a relay starts losing, not one a sync.

A relay that never acknowledged anything (a new, empty one) is no loser: it gets everything it lacks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from samizdat.core.acks import SETTLE
from samizdat.errors import RemoteProtocolError, TransportError
from samizdat.net import sync as netsync
from samizdat.net.client import RelayClient
from samizdat.net.outbox import served
from samizdat.services import channels
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


async def check_delivered(ctx: Context, relay: str, ids: Sequence[str]) -> bool:
    """Ask ``relay`` for posts it accepted (at most :data:`CHECK_BATCH` of ``ids``, the rest are for the next
    call); those it does not serve are lost (:func:`lost`). Posts no longer in the store here (replaced, retracted,
    expired) are not asked for; a relay that refuses the request (``CLOSED``: it wants authentication, say) cannot
    be checked, and its posts stay delivered. Returns False when the relay could not be reached (the posts are
    asked again later); never raises for the relay's sake."""
    ids = list(ids)[:CHECK_BATCH]
    held = await ctx.store.has(ids)
    ask = [i for i in ids if i in held]
    if ask:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                client = await ctx.connect(relay)
                try:
                    have = await _served_all(client, ask)
                finally:
                    await client.close()
        except RemoteProtocolError as exc:  # it refuses to serve them (auth required, say): nothing to tell
            log.info("%s would not serve the posts it accepted, so they are taken as delivered: %s", relay, exc)
            ctx.local.mark_checked(relay, ids)
            return True
        except (TransportError, TimeoutError, OSError) as exc:
            log.info("could not ask %s for the posts it accepted: %s", relay, exc)
            return False
    else:
        have = set()
    ctx.local.mark_checked(relay, ids)
    missing = [i for i in ask if i not in have]
    if missing:
        await lost(ctx, relay, missing)
    return True


async def _served_all(client: RelayClient, ids: Sequence[str]) -> set[str]:
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


async def noted(ctx: Context, relay: str, report: netsync.SyncReport) -> None:
    """After a sync with ``relay``: if it lost events it had acknowledged, act on it (see the module)."""
    if report.lost:
        await lost(ctx, relay, report.lost_ids, report.lost)


async def lost(ctx: Context, relay: str, ids: Sequence[str], count: int | None = None) -> None:
    """``relay`` lacks ``ids`` (``count`` events in all) after acknowledging them: act on it (see the module)."""
    count = len(ids) if count is None else count
    now = ctx.clock()
    anew = losing(ctx, relay) is None
    ctx.local.record_lost(relay, count, now, anew=anew)
    posts = ctx.local.mark_lost(relay, ids, LOST)
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
        + f", and a sync sends it at most {netsync.LOSING_UPLOAD} events"
    )
    if anew:
        log.info("%s", line)
    else:
        log.info("%s", line)
