"""The loops that keep a serving node in order: outbox delivery, expiry purge, the carry quota, and forwarding
posts that phones and peers send to our relay on to their channel's mirrors.

Theory of operation. :class:`Upkeep` is fed two events by the relay: :meth:`Upkeep.stored` for every event it
stores (whoever sent it) and :meth:`Upkeep.from_client` for every new event a client sent. The loops take their
time from ``ctx.clock`` and wait with ``ctx.sleep``, so a test drives them with a fake clock in milliseconds.

* Outbox: every :data:`OUTBOX_EVERY` seconds, each relay with due rows gets its own delivery task, so a
  blackholed relay (which takes the whole connection time limit to fail) never holds up the others. A relay with
  none due whose posts accepted a minute ago or more were not asked back yet gets a task that asks for them
  (:func:`~samizdat.services.relay_health.check_delivered`); one that could not be asked waits
  :data:`CHECK_RETRY` seconds. And every few hours each relay is asked again for some of the posts it accepted
  (:class:`~samizdat.services.relay_health.Rechecks`): posts vanish later too.
* Purge: expired events (NIP-40) go every :data:`PURGE_EVERY` seconds, and before each carry pass.
* Carry: every :data:`CARRY_INTERVAL` seconds, or as soon as a tenth of the quota (at least
  :data:`CARRY_KICK_MIN` bytes) was stored since the last pass, so a flood cannot grow the store far past the
  quota between passes.
* Forwarding: posts younger than :data:`FORWARD_MAX_AGE` in channels this node keeps (own and followed) are
  queued for the channel's mirrors, but only when the channel's current definition says their signer may post
  there (:func:`~samizdat.core.thread.post_verdict`, the readers' own rule), and a correction or retraction only
  when it would count (:func:`~samizdat.services.publishing.check_amendment`, as the node's own): a node passes
  nothing forged on. A deletion request goes with its retraction to the same mirrors
  (:func:`~samizdat.services.publishing.deletion_mirrors`), else nowhere. The
  queue holds at most :data:`FORWARD_QUEUE` posts (a flood drops, never grows memory), and the outbox at most
  so many waiting events per author and per channel (:mod:`samizdat.store.local`).
* The purge pass also forgets carry drops that are too old or of kept channels, and the oldest finished outbox
  rows beyond what ``samizdat status`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from samizdat.core import kinds
from samizdat.core.acks import SETTLE
from samizdat.core.event import Event
from samizdat.core.posts import CORRECTION, RETRACTION
from samizdat.core.recovery import Judgement
from samizdat.core.thread import post_verdict
from samizdat.errors import UsageError
from samizdat.net.outbox import deliver_due
from samizdat.services import blob_quota, blob_travel, channels, publishing, relay_health
from samizdat.services.context import Context

log = logging.getLogger(__name__)

OUTBOX_EVERY = 5.0
CHECK_RETRY = 300.0
PURGE_EVERY = 600.0
CARRY_INTERVAL = 15.0
CARRY_KICK_MIN = 250_000
FORWARD_MAX_AGE = 24 * 3600
FORWARD_QUEUE = 10_000
FORWARD_BATCH = 500


class Upkeep:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.carry_state: dict[str, int | None] = {"evicted": 0}  # what the last carry pass saw (status)
        self._carry_seq = -1
        self._stored_since_carry = 0
        self._carry_kick = asyncio.Event()
        self._forward: asyncio.Queue[Event] = asyncio.Queue(FORWARD_QUEUE)
        #: Set when a post with photos is stored: they are fetched now, not at the next timed pass (blob_travel).
        self.photos = asyncio.Event()
        self.rechecks = relay_health.Rechecks(ctx)

    # -- fed by the relay --------------------------------------------------------------------------------------

    def stored(self, event: Event) -> None:
        """Every event the running relay stores: a flood of them brings the next carry pass forward."""
        self.stored_bytes(len(event.to_json()))
        if blob_travel.has_photos(event):
            self.photos.set()

    def stored_bytes(self, size: int) -> None:
        """Events of ``size`` bytes in all were stored (by another worker, and not read back: relay/cluster.py)."""
        self._stored_since_carry += size
        if self._stored_since_carry >= max(CARRY_KICK_MIN, self.ctx.config.carry_bytes // 10):
            self._carry_kick.set()

    def from_client(self, event: Event) -> None:
        """A new event someone sent to our relay (a phone, a LAN peer's push)."""
        forwarded = event.kind in (kinds.POST, kinds.DELETION)  # a deletion with its retraction: forward()
        if forwarded and event.created_at >= self.ctx.now() - FORWARD_MAX_AGE:
            with contextlib.suppress(asyncio.QueueFull):
                self._forward.put_nowait(event)

    @property
    def kicked(self) -> bool:
        """True while a carry pass is due because of what was stored (not because of the time)."""
        return self._carry_kick.is_set()

    # -- the loops ---------------------------------------------------------------------------------------------

    def loops(self) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
        return {"outbox": self.outbox_loop, "purge": self.purge_loop, "carry": self.carry_loop,
                "forward": self.forward_loop}  # fmt: skip

    async def outbox_loop(self) -> None:
        ctx = self.ctx
        running: dict[str, asyncio.Task[Any]] = {}
        check_after: dict[str, float] = {}  # relays that could not be asked for their posts: when to ask again
        try:
            while True:
                try:
                    for relay in [r for r, task in running.items() if task.done()]:
                        del running[relay]
                    now = ctx.clock()
                    due = {row.relay for row in ctx.local.due(now)}
                    for relay in due - running.keys():
                        task = asyncio.get_running_loop().create_task(
                            deliver_due(ctx.local, ctx.store, publishing.outbox_connect(ctx), now=now,
                                        random=ctx.random, relays={relay}),
                            name=f"outbox {relay}",
                        )  # fmt: skip
                        task.add_done_callback(_log_failure)
                        running[relay] = task
                    for relay, ids in ctx.local.to_check(now - SETTLE).items():
                        if relay in running or check_after.get(relay, 0.0) > now:
                            continue
                        check_after.pop(relay, None)
                        check = asyncio.get_running_loop().create_task(
                            self._check(relay, ids, check_after), name=f"outbox check {relay}"
                        )
                        check.add_done_callback(_log_failure)
                        running[relay] = check
                    for relay, ids in self.rechecks.due(now, running.keys()).items():
                        check = asyncio.get_running_loop().create_task(
                            self.rechecks.run(relay, ids), name=f"outbox recheck {relay}"
                        )
                        check.add_done_callback(_log_failure)
                        running[relay] = check
                except Exception:  # a background pass must never stop the node
                    log.exception("outbox pass failed; it will run again")
                await ctx.sleep(OUTBOX_EVERY)
        finally:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    async def _check(self, relay: str, ids: list[str], check_after: dict[str, float]) -> None:
        if not await relay_health.check_delivered(self.ctx, relay, ids):
            check_after[relay] = self.ctx.clock() + CHECK_RETRY

    async def purge_loop(self) -> None:
        while True:
            try:
                await self.purge_pass()
            except Exception:  # a background pass must never stop the node
                log.exception("purge pass failed; it will run again")
            await self.ctx.sleep(PURGE_EVERY)

    async def purge_pass(self) -> int:
        ctx = self.ctx
        purged = await ctx.store.purge_expired()
        if purged:
            log.info("purged %d expired events", purged)
        await ctx.store.prune_evicted(await channels.keep_rules(ctx))  # a drop never shuts a genuine post out
        ctx.local.prune_outbox()
        return purged

    async def carry_loop(self) -> None:
        while True:
            await self._kicked_or_slept(CARRY_INTERVAL)
            self._carry_kick.clear()
            self._stored_since_carry = 0
            try:
                await self.carry_pass()
            except Exception:  # a background pass must never stop the node
                log.exception("carry pass failed; it will run again")

    async def _kicked_or_slept(self, seconds: float) -> None:
        kicked = asyncio.ensure_future(self._carry_kick.wait())
        slept = asyncio.ensure_future(self.ctx.sleep(seconds))
        try:
            await asyncio.wait([kicked, slept], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (kicked, slept):
                task.cancel()
            await asyncio.gather(kicked, slept, return_exceptions=True)

    async def carry_pass(self) -> None:
        ctx = self.ctx
        seq = await ctx.store.last_seq()
        if seq == self._carry_seq:
            return
        self._carry_seq = seq
        await self.purge_pass()  # expired events go first, whoever they belong to
        rules = await channels.keep_rules(ctx)
        photos = await blob_quota.enforce(ctx, rules, ctx.config.carry_bytes)  # photos go before text
        report = await ctx.store.enforce_carry_quota(rules, max(0, ctx.config.carry_bytes - photos.carried_bytes))
        self.carry_state = {
            "store_bytes": report.store_bytes,
            "carried_bytes": report.used,
            "evicted": (self.carry_state.get("evicted") or 0) + report.evicted,
        }
        if report.evicted:
            log.info("carry quota: dropped %d carried events, %d bytes still carried", report.evicted, report.used)

    async def forward_loop(self) -> None:
        while True:
            batch = [await self._forward.get()]
            while not self._forward.empty() and len(batch) < FORWARD_BATCH:
                batch.append(self._forward.get_nowait())
            try:
                await self.forward(batch)
            except Exception:  # a background pass must never stop the node
                log.exception("forwarding posts to mirrors failed")

    async def forward(self, batch: list[Event]) -> int:
        """Queue the posts of kept channels in ``batch`` that their signers may make for their channel's
        mirrors; return how many."""
        ctx = self.ctx
        keep = await channels.keep_rules(ctx)
        known: dict[str, Judgement] = {}
        queued = refused = 0
        for event in batch:
            if event.kind == kinds.DELETION:  # only with a retraction, to its channel's mirrors, as the node's own
                if mirrors := await publishing.deletion_mirrors(ctx, event):
                    ctx.local.enqueue(event.id, mirrors, ctx.clock(), author=event.pubkey)
                    queued += 1
                continue
            address = next(iter(event.tag_values("a")), None)
            if address is None or address not in keep.channels:
                continue
            if address not in known:
                known[address] = await channels.judged(ctx, address)
            judgement = known[address]
            channel = judgement.channel
            if channel is None or not channel.mirrors:
                continue
            if judgement.claim is not None and judgement.claim.event.id == event.id:
                pass  # the seizure claim in force: signed by the recovery key, which has no role, and not forged
            elif not (verdict := post_verdict(event, channel, ctx.now())).ok:
                # a forgery, a revoked key, a malformed post: readers would not show it either
                log.debug("not forwarding %s to the mirrors of %s: %s", event.id[:12], address, verdict.reason)
                refused += 1
                continue
            elif verdict.post is not None and verdict.post.post_type in (CORRECTION, RETRACTION):
                try:  # the rule the node's own amendments pass (an editor rewriting the owner's safe place...)
                    await publishing.check_amendment(ctx, event, channel, original_needed=False)
                except UsageError as exc:
                    log.debug("not forwarding %s to the mirrors of %s: %s", event.id[:12], address, exc)
                    refused += 1
                    continue
            ctx.local.enqueue(event.id, channel.mirrors, ctx.clock(), author=event.pubkey, channel=address)
            queued += 1
        if refused:
            log.info("not forwarded to mirrors: %d posts their channel does not allow", refused)
        return queued


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("outbox delivery failed; it will run again", exc_info=task.exception())
