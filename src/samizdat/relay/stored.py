"""Answers from the store: a REQ's stored events, and COUNT, each at a bounded cost.

Theory of operation
-------------------

A REQ's stored events are read a page at a time (``Store.query_pages``: at most ``PAGE_EVENTS`` events, about a
quarter of the connection's send buffer in bytes), never as one list, so a filter's ``limit`` costs nothing until
its events are actually sent. Before each read of the store (``before_read``: only when another page may follow,
so the last page's ``EOSE`` never waits) the answer waits for room: the connection's queue at most half full, and
the queues of all connections together within ``send_buffer_total_bytes``
(:meth:`~samizdat.relay.client_conn.Client.wait_room`). Only then does it take a turn at the store
(:class:`~samizdat.relay.fair.FairScheduler`: round-robin by address, then by connection; one turn per connection
at a time) and read the page, which the store ends after ``store_seconds`` of work (``READ_SECONDS``; waiting for
a reader thread does not count). The page's frames are queued before another task of the same connection can
check for room (no await in between). So a connection holds at most one page beyond its queue, however many
subscriptions it opens, and a client that stops reading stops the reads made for it. If room does not come
within ``send_timeout``, or a page takes longer than ``store_seconds``, the subscription is closed with ``CLOSED
"error: ..."`` rather than buffered or waited for.

COUNT takes a turn the same way and gets ``store_seconds``; at most ``max_pending_counts`` of a connection wait
at once. When the connection goes, its tasks are cancelled; the store interrupts a read whose caller was
cancelled, so the work stops with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from samizdat.core.event import Event
from samizdat.core.filters import matches_any
from samizdat.relay.client_conn import Client, Dropped, TooSlow
from samizdat.relay.connection import Count, closed_frame, count_frame, eose_frame
from samizdat.relay.fair import FairScheduler, Turn
from samizdat.relay.limits import RelayLimits
from samizdat.relay.storebudget import MAX_ROUNDS, OVER_BUDGET, OverBudget
from samizdat.relay.subscriptions import Subscription
from samizdat.store.base import READ_SECONDS, Store

#: Events in one page of stored events.
PAGE_EVENTS = 500
TOO_SLOW = "error: too slow, subscription closed"
QUERY_TOO_LONG = "error: this query takes the relay too long; narrow it (fewer filters, authors or kinds)"
COUNT_TOO_LONG = "error: counting this takes the relay too long; narrow the filter"

#: ``close(client, sub_id, reason)``: end a subscription on the relay's side and send its CLOSED.
Close = Callable[[Client, str, str], None]


class StoredAnswers:
    """The store side of REQ and COUNT for every connection of one relay."""

    def __init__(self, store: Store, limits: RelayLimits, turns: FairScheduler, close: Close) -> None:
        self.store = store
        self.limits = limits
        self.turns = turns
        self.close = close
        self.page_bytes = max(4096, limits.send_buffer_bytes // 4)
        #: Events not served to other machines yet (the node's own new ones, relay/embargo.py); None: none.
        self.hidden: Callable[[str], bool] | None = None
        #: The same events themselves, left out of the COUNTs of other machines.
        self.hidden_events: Callable[[], list[Event]] | None = None

    async def query(self, client: Client, sub: Subscription[Client]) -> None:
        """Send ``sub``'s stored events, then ``EOSE`` (or ``CLOSED`` when it cannot)."""
        filters = [f for f in sub.filters if f.limit != 0 and not f.is_empty_set]
        prefix, hidden = sub.frame_prefix, self.hidden
        pages = self.store.query_pages(
            filters, page_events=PAGE_EVENTS, page_bytes=self.page_bytes, before_read=lambda: _Slot(self, client)
        )
        try:
            async for page in pages:
                if not sub.active:
                    break
                for event in page:
                    if hidden is not None and client.ip is not None and hidden(event.id):
                        continue  # held back from the LAN while a neighbour serves it first
                    client.push(prefix + event.to_json() + b"]")
            if sub.active:
                client.send(eose_frame(sub.sub_id))
        except Dropped:
            pass
        except TooSlow:
            client.log.info("subscription %r of connection %d closed: too slow", sub.sub_id, client.id)
            self._close(client, sub, TOO_SLOW)
        except TimeoutError:
            client.log.info("subscription %r of connection %d closed: query too long", sub.sub_id, client.id)
            self._close(client, sub, QUERY_TOO_LONG)
        except OverBudget:
            self._close(client, sub, OVER_BUDGET)
        except Exception:
            client.log.exception("query for subscription %r failed", sub.sub_id)
            self._close(client, sub, "error: the query failed")
        finally:
            await pages.aclose()  # type: ignore[attr-defined]  # an async generator: release it now
            if client.queries.get(sub.sub_id) is asyncio.current_task():
                del client.queries[sub.sub_id]

    def _close(self, client: Client, sub: Subscription[Client], reason: str) -> None:
        if sub.active and not client.dropped:
            self.close(client, sub.sub_id, reason)

    async def count(self, client: Client, action: Count) -> None:
        """Answer a NIP-45 COUNT (or CLOSED when it cannot be counted in time)."""
        budget = self.turns.budget
        try:
            for _ in range(MAX_ROUNDS):  # bounded: each round waits for the debt, then for a turn
                if budget is not None:
                    await budget.wait(client.party)
                async with self.turns.turn(client.party, client):
                    if budget is not None and budget.delay(client.party) > 0:
                        continue  # another query of the address ran first and spent the budget
                    limit = READ_SECONDS.set(self.limits.store_seconds)
                    try:
                        count = await self.store.count(action.filters)
                    finally:
                        READ_SECONDS.reset(limit)
                    break
            else:
                if budget is not None:
                    budget.refused += 1
                raise OverBudget(OVER_BUDGET)
        except TimeoutError:
            client.send(closed_frame(action.query_id, COUNT_TOO_LONG))
        except OverBudget:
            client.send(closed_frame(action.query_id, OVER_BUDGET))
        except Exception:
            client.log.exception("count %r failed", action.query_id)
            client.send(closed_frame(action.query_id, "error: the count failed"))
        else:
            if self.hidden_events is not None and client.ip is not None:
                # A count one higher on this node than on its neighbours would say whose the new post is.
                count = max(0, count - sum(matches_any(action.filters, e) for e in self.hidden_events()))
            client.send(count_frame(action.query_id, count))


class _Slot:
    """Around one read of a page: room in the queues, a fair turn at the store, at most ``store_seconds``
    (an async context manager; a class, not a generator: it is on every query's path). Raises TooSlow, Dropped,
    OverBudget when the address's store time is spent (relay/storebudget.py),
    and TimeoutError when the read takes too long."""

    __slots__ = ("answers", "client", "turn", "limit")

    def __init__(self, answers: StoredAnswers, client: Client) -> None:
        self.answers = answers
        self.client = client

    async def __aenter__(self) -> None:
        answers, client = self.answers, self.client
        budget = answers.turns.budget
        spent = 0  # rounds lost to another query of the address that spent its budget first
        while True:
            if not client.has_room():
                await client.wait_room(answers.limits.send_timeout)
            if budget is not None:
                await budget.wait(client.party)  # the address's store time (relay/storebudget.py)
            turn: Turn = answers.turns.turn(client.party, client)
            await turn.__aenter__()
            if budget is not None and budget.delay(client.party) > 0:
                await turn.__aexit__(None, None, None)
                spent += 1
                if spent >= MAX_ROUNDS:
                    budget.refused += 1
                    raise OverBudget(OVER_BUDGET)
                continue
            if client.has_room():
                break
            await turn.__aexit__(None, None, None)  # another subscription of this connection filled it meanwhile
        self.turn = turn
        self.limit = READ_SECONDS.set(answers.limits.store_seconds)  # the store ends a longer read

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        READ_SECONDS.reset(self.limit)
        await self.turn.__aexit__(None, None, None)
