"""What an event must satisfy to enter a node, whichever door it comes through.

Theory of operation. A verified event (:func:`~samizdat.core.event.parse_event`) is well-formed and really signed,
but it can still be something no relay of ours would take: dated in 2100 (it would sit at the top of every list
until then), 450 KB of text, ten thousand tags. :func:`admit` applies the relay's per-event limits
(:class:`EventLimits`, built by :class:`samizdat.relay.limits.RelayLimits`) to one event, and every door calls it
with the same limits before anything is stored:

* the relay, for each ``EVENT`` a client or peer sends (``relay/connection.py``);
* ``samizdat import``, for each event of a bundle (``store/bundles.py``);
* ``samizdat sync`` and the background sync, for each event fetched (``net/sync.py``);
* a peer link, for each event the peer pushes live (``mesh/link.py``).

So an event is refused with the same words everywhere: the relay answers ``["OK", id, false, reply]``, an import
counts it as rejected with ``reply``, a sync counts it as rejected and lists ``reply`` among its errors.

The checks are cheap and run cheapest first: kind, tag count, content length, ``created_at``, then the size of
the event's JSON (serialised once; the relay sends the same bytes to subscribers). None depends on the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from samizdat.core.event import Event
from samizdat.errors import RemoteProtocolError

#: ``["EVENT",`` and ``]`` around an event in a relay message: what an event may take of ``max_message_bytes``.
EVENT_FRAME_BYTES = len('["EVENT",]')


@dataclass(frozen=True, slots=True)
class EventLimits:
    """The per-event limits every door applies. Defaults are the relay's (:class:`RelayLimits`)."""

    max_tags: int = 2000
    max_content_length: int = 64 * 1024  # characters, not bytes (NIP-11 max_content_length)
    max_event_bytes: int = 256 * 1024 - EVENT_FRAME_BYTES  # the event's compact JSON
    future_seconds: int = 900  # refuse events dated further ahead than this
    past_seconds: int | None = None  # refuse events older than this (None: any age)
    kinds: frozenset[int] | None = None  # the kinds accepted (None: every kind)


DEFAULT_EVENT_LIMITS = EventLimits()


def admit(event: Event, now: float, limits: EventLimits = DEFAULT_EVENT_LIMITS) -> None:
    """Check ``event`` against ``limits`` at time ``now`` (seconds). Raises :class:`RemoteProtocolError` whose
    :attr:`~samizdat.errors.RemoteProtocolError.reply` is the relay's ``OK false`` message."""
    if limits.kinds is not None and event.kind not in limits.kinds:
        raise RemoteProtocolError(f"events of kind {event.kind} are not accepted here", "blocked")
    if len(event.tags) > limits.max_tags:
        raise RemoteProtocolError(f"too many tags ({len(event.tags)} > {limits.max_tags})")
    if len(event.content) > limits.max_content_length:
        raise RemoteProtocolError(f"content longer than {limits.max_content_length} characters")
    if event.created_at > now + limits.future_seconds:
        raise RemoteProtocolError("created_at too far in the future")
    if limits.past_seconds is not None and event.created_at < now - limits.past_seconds:
        raise RemoteProtocolError("created_at too far in the past")
    if len(event.to_json()) > limits.max_event_bytes:
        raise RemoteProtocolError(f"event larger than {limits.max_event_bytes} bytes")


def admit_all(
    events: Iterable[Event], now: float, limits: EventLimits = DEFAULT_EVENT_LIMITS
) -> tuple[list[Event], list[tuple[Event, RemoteProtocolError]]]:
    """Split ``events`` into those :func:`admit` lets in (in order) and those it refuses, each with its error."""
    admitted: list[Event] = []
    refused: list[tuple[Event, RemoteProtocolError]] = []
    for event in events:
        try:
            admit(event, now, limits)
        except RemoteProtocolError as exc:
            refused.append((event, exc))
        else:
            admitted.append(event)
    return admitted, refused
