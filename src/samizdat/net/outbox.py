"""Reliable publishing: deliver queued local events to every relay they are meant for, retrying with backoff.

Theory of operation: :class:`~samizdat.store.local.LocalState` keeps one outbox row per (event, relay). Each
:func:`deliver_due` pass takes the rows that are due, groups them by relay, opens one connection per relay,
pipelines the events and records each answer: ``OK true`` (or ``duplicate:``) is accepted; a definitive refusal
(``invalid:``, ``blocked:``, ``restricted:``, ``pow:``) fails the row at once; anything else (timeouts, connection
errors, ``rate-limited:``, ``error:``) is retried later with exponential backoff until ``max_attempts``.
The rows live in SQLite, so a restart resumes where the last run stopped.

An ``OK`` is a relay's word, not proof: each answer's time is kept in the row, and a minute later the post is
asked back (:func:`served`, one ``REQ`` by ids for up to 100 posts), and again every few hours for a month, a
sample at a time; when the relay does not serve it, or a later sync finds the relay lacking it, the row becomes
``lost`` (:mod:`samizdat.core.acks`, :mod:`samizdat.services.relay_health`).
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from samizdat.core.backoff import backoff_delay
from samizdat.core.event import parse_event
from samizdat.errors import RemoteProtocolError, TransportError
from samizdat.net.client import RelayClient
from samizdat.store.base import Store
from samizdat.store.local import LocalState

log = logging.getLogger(__name__)

FINAL_REFUSALS = ("invalid", "blocked", "restricted", "pow")
#: The machine-readable prefixes of NIP-01's OK message: what the log may say of a relay's refusal.
NIP01_PREFIXES = frozenset({*FINAL_REFUSALS, "duplicate", "rate-limited", "error", "auth-required", "mute"})
MAX_ATTEMPTS = 12
GONE = "gone from the store"  #: an outbox row whose event was replaced, retracted or expired before delivery

Connect = Callable[[str], Awaitable[RelayClient]]


@dataclass
class DeliveryReport:
    accepted: int = 0
    retrying: int = 0
    failed: int = 0
    by_relay: dict[str, str] = field(default_factory=dict)


async def deliver_due(
    local: LocalState,
    store: Store,
    connect: Connect,
    *,
    now: float,
    random: Callable[[], float] = _random.random,
    max_attempts: int = MAX_ATTEMPTS,
    timeout: float = 20.0,
    relays: Collection[str] | None = None,
) -> DeliveryReport:
    """Send every due outbox row (for ``relays`` only, if given) once; return what happened. Never raises for a
    relay's failure."""
    report = DeliveryReport()
    rows_by_relay = defaultdict(list)
    for row in local.due(now):
        if relays is None or row.relay in relays:
            rows_by_relay[row.relay].append(row)

    async def one_relay(relay: str) -> None:
        rows = rows_by_relay[relay]
        events = {}
        for row in rows:
            event = await store.get(row.event_id)
            if event is None:  # deleted locally (retracted, expired): nothing left to deliver
                local.record_attempt(
                    row.event_id,
                    relay,
                    accepted=False,
                    message=GONE,
                    final=True,
                    next_attempt=now,
                )
                continue
            events[row.event_id] = event
        if not events:
            return
        attempts = {row.event_id: row.attempts for row in rows}
        try:
            async with asyncio.timeout(timeout):
                client = await connect(relay)
        except (TransportError, TimeoutError, OSError) as exc:
            message = f"error: {exc or 'connection timed out'}"
            for event_id in events:
                _record(
                    local,
                    event_id,
                    relay,
                    False,
                    message,
                    attempts[event_id],
                    now,
                    random,
                    max_attempts,
                    report,
                )
            report.by_relay[relay] = message
            return
        try:
            results = await client.publish_many(list(events.values()), timeout=timeout)
        except TransportError as exc:
            results = []
            report.by_relay[relay] = f"error: {exc}"
        finally:
            await client.close()
        answered = {r.event_id for r in results}
        for result in results:
            accepted = result.accepted or result.prefix == "duplicate"
            _record(
                local,
                result.event_id,
                relay,
                accepted,
                result.message,
                attempts[result.event_id],
                now,
                random,
                max_attempts,
                report,
            )
        for event_id in events.keys() - answered:
            _record(
                local,
                event_id,
                relay,
                False,
                "error: connection lost",
                attempts[event_id],
                now,
                random,
                max_attempts,
                report,
            )
        report.by_relay.setdefault(relay, "ok")

    await asyncio.gather(*(one_relay(relay) for relay in rows_by_relay))
    return report


def _record(
    local: LocalState,
    event_id: str,
    relay: str,
    accepted: bool,
    message: str,
    attempts: int,
    now: float,
    random: Callable[[], float],
    max_attempts: int,
    report: DeliveryReport,
) -> None:
    prefix = message.split(":", 1)[0] if ":" in message else ""
    final = accepted or prefix in FINAL_REFUSALS or attempts + 1 >= max_attempts
    delay = backoff_delay(attempts, random=random)
    local.record_attempt(
        event_id, relay, accepted=accepted, message=message, final=final, next_attempt=now + delay, answered_at=now
    )
    if accepted:
        report.accepted += 1
    elif final:
        report.failed += 1
        # No relay or post named at the default level (a system log is kept unencrypted): docs/safety.md. So not
        # the message either: a connection's error names the relay, and a relay's refusal may quote anything (the
        # post's id): only its NIP-01 prefix (red team, round 14).
        shown = prefix if prefix in NIP01_PREFIXES else "no answer"
        log.warning("giving up delivering a post to one of its relays (%s; samizdat status says which)", shown)
        log.info("giving up on %s at %s: %s", event_id[:12], relay, message)
    else:
        report.retrying += 1


async def served(client: RelayClient, ids: Collection[str], *, timeout: float = 20.0) -> set[str]:
    """Which of ``ids`` the relay serves, asked with one ``REQ`` by ids: only valid events count, each for its own
    id (a relay cannot pass for holding a post by sending anything else). Raises TransportError or
    RemoteProtocolError when the relay fails or closes the request."""
    wanted, found = set(ids), set()
    answer = client.stored([{"ids": sorted(wanted), "limit": len(wanted)}], max_messages=2 * len(wanted) + 100,
                           timeout=timeout)  # fmt: skip
    async for raw in answer:
        claimed = raw.get("id")
        if not isinstance(claimed, str) or claimed not in wanted:
            continue
        try:
            found.add(parse_event(raw).id)
        except RemoteProtocolError:
            continue
    return found
