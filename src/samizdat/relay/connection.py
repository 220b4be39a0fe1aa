"""The relay side of NIP-01 for one client connection, without I/O.

Theory of operation
-------------------

A :class:`RelayConnection` is fed each text message the client sends (:meth:`RelayConnection.receive`) and
returns a list of *actions*, small frozen dataclasses that say what the transport must do:

* :class:`Send`: write these bytes to the client as one text frame (answers, notices, refusals).
* :class:`StoreEvent`: a valid event; store it, then send :func:`ok_for_outcome` (``OK`` only once durable). With
  ``verify=False`` the signature is *not* checked here (``StoreEvent.verified`` is False) and the transport must
  check it before storing, answering :data:`BAD_SIGNATURE` if it is wrong (``RelayServer(verify_in_thread=True)``).
* :class:`Subscribe`: start (or replace, NIP-01) subscription ``sub_id``: query the store, send the events, then
  :func:`eose_frame`, and keep sending matching new events until :class:`Unsubscribe`.
* :class:`Unsubscribe`: stop subscription ``sub_id``.
* :class:`Count`: answer NIP-45 ``COUNT`` with :func:`count_frame`.
* :class:`NegRequest`: a NIP-77 ``NEG-*`` message, for a negentropy handler (only when enabled).
* :class:`CloseConnection`: the client broke the WebSocket contract itself (invalid UTF-8); close with this code.

Rule 1: everything the client sends is checked here, in order of cost, so that cheap refusals come before
expensive work: JSON shape, then the rate limit, then field types, then limits (size, tags, ``created_at``), and
only then the SHA-256 id and the BIP-340 signature (unless ``verify=False``: then the transport checks it).
Rule 2: every ``EVENT`` whose id can be read gets exactly one ``OK`` (here, or from the transport after
:class:`StoreEvent`); every refused ``REQ``/``COUNT`` whose id is a string gets ``CLOSED``; anything else gets a
``NOTICE``. Rule 3: the connection only tracks which subscription ids are open (to enforce ``max_subscriptions``);
the filters live in the server's fan-out index. When the server ends a subscription on its own (a slow reader), it
calls :meth:`RelayConnection.close_subscription`.

Time is injected (``clock``): the rate limit and the ``created_at`` window are tested without sleeping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from samizdat.core.admission import admit
from samizdat.core.event import Event, compute_id, is_hex64, parse_event
from samizdat.core.filters import Filter, parse_filter
from samizdat.core.keys import verify_signature
from samizdat.errors import RemoteProtocolError
from samizdat.relay.limits import RelayLimits
from samizdat.store.base import AddOutcome

DEFAULT_LIMITS = RelayLimits()
NEG_VERBS = frozenset({"NEG-OPEN", "NEG-MSG", "NEG-CLOSE"})
#: The ``OK false`` reason for an event whose signature is wrong.
BAD_SIGNATURE = "invalid: signature is wrong"


# -- actions ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    frame: bytes


@dataclass(frozen=True, slots=True)
class StoreEvent:
    """Store ``event``. ``verified`` is False only from a connection made with ``verify=False``: the signature
    is then still to be checked, and a bad one answered with :data:`BAD_SIGNATURE`."""

    event: Event
    verified: bool = True


@dataclass(frozen=True, slots=True)
class Subscribe:
    sub_id: str
    filters: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    sub_id: str


@dataclass(frozen=True, slots=True)
class Count:
    query_id: str
    filters: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class NegRequest:
    """``NEG-OPEN``/``NEG-MSG``/``NEG-CLOSE``; ``args`` are the message's elements after the subscription id."""

    verb: str
    sub_id: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class CloseConnection:
    code: int
    reason: str


Action = Send | StoreEvent | Subscribe | Unsubscribe | Count | NegRequest | CloseConnection


# -- frames -----------------------------------------------------------------------------------------------------


def ok_frame(event_id: str, accepted: bool, message: str) -> bytes:
    return orjson.dumps(["OK", event_id, accepted, message])


def ok_for_outcome(event_id: str, outcome: AddOutcome) -> bytes:
    """The ``OK`` answer once the store has decided on an event (``event_id``: checked, 64 hex characters)."""
    return b'["OK","' + event_id.encode() + _OK_TAILS[outcome]


#: ``",true,""]`` and the like: the end of the ``OK`` for each outcome (one per event the relay takes).
_OK_TAILS = {outcome: b'",' + orjson.dumps([outcome.accepted, outcome.reply])[1:] for outcome in AddOutcome}


def notice_frame(message: str) -> bytes:
    return orjson.dumps(["NOTICE", message])


def closed_frame(sub_id: str, message: str) -> bytes:
    return orjson.dumps(["CLOSED", sub_id, message])


def eose_frame(sub_id: str) -> bytes:
    return orjson.dumps(["EOSE", sub_id])


def count_frame(query_id: str, count: int) -> bytes:
    return orjson.dumps(["COUNT", query_id, {"count": count}])


def neg_err_frame(sub_id: str, message: str) -> bytes:
    return orjson.dumps(["NEG-ERR", sub_id, message])


def event_frame_prefix(sub_id: str) -> bytes:
    """``["EVENT","<sub_id>",``: computed once per subscription, then joined with each event's cached JSON."""
    return b'["EVENT",' + orjson.dumps(sub_id) + b","


def event_frame(prefix: bytes, event: Event) -> bytes:
    return prefix + event.to_json() + b"]"


# -- rate limiting ----------------------------------------------------------------------------------------------


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; :meth:`take` spends one if there is one."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# -- the protocol -----------------------------------------------------------------------------------------------


class RelayConnection:
    """NIP-01 (plus 45, 77 hooks) for one client. Call :meth:`receive` for each message, act on the result.

    ``verify=False`` leaves the signature check to the caller (see :class:`StoreEvent`); only a transport that
    checks ``StoreEvent.verified`` may pass it.
    """

    def __init__(
        self,
        limits: RelayLimits = DEFAULT_LIMITS,
        *,
        clock: Callable[[], float],
        negentropy: bool = False,
        verify: bool = True,
        event_bucket: TokenBucket | None = None,
        address_req_bucket: TokenBucket | None = None,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.negentropy = negentropy
        self.verify = verify
        self._filter_limits = limits.filter_limits
        self._event_limits = limits.event_limits  # the same rule every other door applies (core/admission.py)
        now = clock()
        # A bucket may be shared: the server gives every connection from one remote address the same one.
        self._event_bucket = event_bucket or TokenBucket(limits.events_per_second, limits.events_burst, now)
        self._req_bucket = TokenBucket(limits.reqs_per_second, limits.reqs_burst, now)
        # ... and the REQ rate of the connection's address, which the server gives all its connections (None: none).
        self._address_req_bucket = address_req_bucket
        #: Open REQ subscription ids.
        self.subscriptions: set[str] = set()

    # public API

    def receive(self, data: bytes | str) -> list[Action]:
        """Handle one client message (a whole WebSocket text message) and return what to do about it."""
        if len(data) > self.limits.max_message_bytes:
            return [Send(notice_frame(f"invalid: message larger than {self.limits.max_message_bytes} bytes"))]
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if isinstance(data, bytes) and not _is_utf8(data):
                return [CloseConnection(1007, "invalid UTF-8")]
            return [Send(notice_frame(f"invalid: malformed JSON ({_short(str(exc))})"))]
        if not isinstance(message, list) or not message or not isinstance(message[0], str):
            return [Send(notice_frame("invalid: a message must be a JSON array that starts with a string"))]
        verb = message[0]
        if verb == "EVENT":
            return self._on_event(message)
        if verb == "REQ":
            return self._on_req(message)
        if verb == "CLOSE":
            return self._on_close(message)
        if verb == "COUNT":
            return self._on_count(message)
        if verb in NEG_VERBS:
            return self._on_neg(verb, message)
        return [Send(notice_frame(f"invalid: unknown message type {_short(verb)!r}"))]

    def close_subscription(self, sub_id: str, reason: str) -> bytes | None:
        """The server ends ``sub_id`` on its own; return the ``CLOSED`` frame to send (None if it was not open)."""
        if sub_id not in self.subscriptions:
            return None
        self.subscriptions.discard(sub_id)
        return closed_frame(sub_id, reason)

    # EVENT

    def _on_event(self, message: list[Any]) -> list[Action]:
        if len(message) != 2 or not isinstance(message[1], dict):
            return [Send(notice_frame('invalid: EVENT must be ["EVENT", <event object>]'))]
        raw = message[1]
        event_id = raw.get("id")
        if not is_hex64(event_id):
            return [Send(notice_frame("invalid: event id must be 64 lowercase hex characters"))]
        now = self.clock()
        if not self._event_bucket.take(now):
            return [Send(ok_frame(event_id, False, "rate-limited: too many events, slow down"))]
        try:
            event = parse_event(raw, verify=False)
            admit(event, now, self._event_limits)
            if compute_id(event.pubkey, event.created_at, event.kind, event.tags, event.content) != event_id:
                raise RemoteProtocolError("event id does not match its content")
            if not self.verify:
                return [StoreEvent(event, verified=False)]
            if not verify_signature(event.pubkey, event.sig, bytes.fromhex(event_id)):
                raise RemoteProtocolError("signature is wrong")
        except RemoteProtocolError as exc:
            return [Send(ok_frame(event_id, False, exc.reply))]
        return [StoreEvent(event)]

    # REQ / CLOSE / COUNT

    def _sub_id(self, message: list[Any], verb: str) -> tuple[str | None, list[Action]]:
        """The subscription id of ``message``, or None and the answer refusing it."""
        if len(message) < 2 or not isinstance(message[1], str):
            return None, [Send(notice_frame(f"invalid: {verb} needs a subscription id string"))]
        sub_id: str = message[1]
        if not sub_id or len(sub_id) > self.limits.max_subid_length:
            reason = f"invalid: subscription id must be 1 to {self.limits.max_subid_length} characters"
            return None, [Send(closed_frame(sub_id, reason))]
        return sub_id, []

    def _filters(self, raw_filters: list[Any], *, for_count: bool) -> tuple[Filter, ...]:
        """Parse REQ/COUNT filters; raise RemoteProtocolError naming the first problem."""
        if not raw_filters:
            raise RemoteProtocolError("at least one filter is needed")
        if len(raw_filters) > self.limits.max_filters:
            raise RemoteProtocolError(f"too many filters ({len(raw_filters)} > {self.limits.max_filters})")
        filters = []
        for raw in raw_filters:
            parsed = parse_filter(raw, self._filter_limits)
            if not for_count and parsed.limit is None:
                # Enough room for every id asked for, else the relay's default.
                wanted = max(self.limits.default_limit, len(parsed.ids) if parsed.ids is not None else 0)
                parsed = dataclasses.replace(parsed, limit=min(wanted, self.limits.max_limit))
            filters.append(parsed)
        return tuple(filters)

    def _refuse_sub(self, sub_id: str, reason: str) -> list[Action]:
        # A refused REQ that reuses an open id ends the old subscription too: after CLOSED the client considers
        # the id closed, so nothing more may be sent under it.
        actions: list[Action] = [Send(closed_frame(sub_id, reason))]
        if sub_id in self.subscriptions:
            self.subscriptions.discard(sub_id)
            actions.insert(0, Unsubscribe(sub_id))
        return actions

    def _on_req(self, message: list[Any]) -> list[Action]:
        sub_id, refusal = self._sub_id(message, "REQ")
        if sub_id is None:
            return refusal
        if not self._take_req():
            return self._refuse_sub(sub_id, "rate-limited: too many requests, slow down")
        if sub_id not in self.subscriptions and len(self.subscriptions) >= self.limits.max_subscriptions:
            reason = f"blocked: too many subscriptions (limit {self.limits.max_subscriptions})"
            return [Send(closed_frame(sub_id, reason))]
        try:
            filters = self._filters(message[2:], for_count=False)
        except RemoteProtocolError as exc:
            return self._refuse_sub(sub_id, exc.reply)
        self.subscriptions.add(sub_id)
        return [Subscribe(sub_id, filters)]

    def _on_close(self, message: list[Any]) -> list[Action]:
        if len(message) != 2 or not isinstance(message[1], str):
            return [Send(notice_frame('invalid: CLOSE must be ["CLOSE", <subscription id>]'))]
        sub_id = message[1]
        if sub_id in self.subscriptions:
            self.subscriptions.discard(sub_id)
            return [Unsubscribe(sub_id)]
        return []

    def _on_count(self, message: list[Any]) -> list[Action]:
        query_id, refusal = self._sub_id(message, "COUNT")
        if query_id is None:
            return refusal
        if not self._take_req():
            return [Send(closed_frame(query_id, "rate-limited: too many requests, slow down"))]
        try:
            filters = self._filters(message[2:], for_count=True)
        except RemoteProtocolError as exc:
            return [Send(closed_frame(query_id, exc.reply))]
        return [Count(query_id, filters)]

    def _take_req(self) -> bool:
        """Spend a REQ token of the connection, then of its address (REQ, COUNT and NEG-OPEN share them)."""
        now = self.clock()
        bucket = self._address_req_bucket
        return self._req_bucket.take(now) and (bucket is None or bucket.take(now))

    # NIP-77

    def _on_neg(self, verb: str, message: list[Any]) -> list[Action]:
        if len(message) < 2 or not isinstance(message[1], str) or len(message[1]) > self.limits.max_subid_length:
            return [Send(notice_frame(f"invalid: {verb} needs a subscription id string"))]
        sub_id = message[1]
        if not self.negentropy:
            if verb == "NEG-CLOSE":
                return []
            return [Send(neg_err_frame(sub_id, "error: this relay does not support NIP-77 negentropy"))]
        if verb == "NEG-OPEN" and not self._take_req():
            return [Send(neg_err_frame(sub_id, "rate-limited: too many requests, slow down"))]
        return [NegRequest(verb, sub_id, tuple(message[2:]))]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _short(text: str, length: int = 64) -> str:
    return text if len(text) <= length else text[:length] + "..."
