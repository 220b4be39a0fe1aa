"""One link to a peer: reconcile both ways, then keep posts flowing live both ways until the connection ends.

Theory of operation. The link connects to the peer's relay (a plain Nostr WebSocket), opens a live subscription
for everything new, reconciles the two stores with Negentropy (NIP-77) and moves the differences both ways, then
pushes every event this node stores from then on, whoever it came from, except those that came from this peer.
Events from the peer arrive through the live subscription. So a post crosses a LAN hop in one round trip, a hub
passes on what one neighbour brought to all the others, and ids make duplicates and loops harmless: an event
that is already stored is not stored, fanned out or pushed again.

When the connection fails, the link waits (exponential backoff with jitter, capped: LAN peers come and go) and
starts again with a reconciliation, so nothing that happened while apart is missed. A push queue that overflows
(a burst larger than the peer can take, in events or in bytes) also ends in a reconciliation instead of an
unbounded queue.

Abuse: every event from a peer is verified (its id and signature) and must pass the limits every door applies
(:func:`samizdat.core.admission.admit`, the relay's own rule) before it is stored; a peer may deliver at most
``events_per_second`` (with a burst) through the live subscription, beyond which its events wait, counted before
their signatures are checked (so forged ones cost no more than good ones); a peer that takes the link and drops it
before a reconciliation finishes is tried again ever less often; nothing a peer sends can push out followed
channels (see :mod:`samizdat.core.carry`); and a peer that keeps losing what it acknowledged (a relay that keeps
nothing, so it lacks the whole store at every reconciliation) is sent at most the newest hundred it lacks per
reconciliation for an hour, not the whole store each time (:mod:`samizdat.mesh.uploads`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import orjson

from samizdat.core.admission import DEFAULT_EVENT_LIMITS, EventLimits, admit_all
from samizdat.core.backoff import backoff_delay
from samizdat.core.event import Event, parse_event
from samizdat.core.kinds import PEER_SUBSCRIPTION
from samizdat.errors import RemoteProtocolError, SamizdatError, TransportError
from samizdat.mesh.say import Say
from samizdat.mesh.uploads import PeerUploads
from samizdat.net.client import RelayClient, relay_text
from samizdat.net.sync import LOSING_UPLOAD, Ingest, SyncReport, Unwanted, sync
from samizdat.store.base import AddOutcome, Store
from samizdat.store.local import LocalState

log = logging.getLogger(__name__)

PUSH_QUEUE = 20_000
#: The push queue's events, in bytes of their JSON. 20,000 events of the largest size the door admits (256 KiB)
#: would be 5 GB, held for as long as a peer that takes the link lets a push or a reconciliation hang (minutes).
PUSH_QUEUE_BYTES = 8 * 1024 * 1024
PUSH_BATCH = 500
RECENT_IDS = 50_000
RESYNC_INTERVAL = 600.0  # seconds between full reconciliations while connected
# A relay may answer a reconciliation from a snapshot of its store up to a few seconds old (our relay's
# NegentropyService.min_staleness is 5 s): what it stored just before we connected can be missing from the first
# reconciliation and, being older than our live subscription, never arrive live. One more reconciliation this
# long after the first closes that gap.
FOLLOW_UP = 6.0
CONNECT_TIMEOUT = 5.0
SYNC_TIMEOUT = 600.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
#: A session that ends within this many seconds of its first finished reconciliation does not end a run of
#: failures: a peer that reconciles and hangs up at once (a device's made-up node that answers) would otherwise be
#: tried again every second, each try building a Negentropy set of the whole store.
STEADY_FOR = 60.0


class _Recent:
    """A bounded set of event ids (oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids


class Valued(Protocol):
    """Whether a new event counts as news a peer brought, for who keeps a place when the room is full
    (samizdat.mesh.room). New events are cheap to make: posts signed by fresh keys pass every door. A node that
    follows channels says which keys' events count (services/lan_news.py): then a device sending such junk from
    made-up nodes brings nothing, and its nodes make room like quiet ones."""

    def __call__(self, event: Event) -> bool: ...


def brings_news(events: Sequence[Event], outcomes: Sequence[AddOutcome], valued: Valued | None) -> bool:
    """Whether ``events``, stored with ``outcomes``, brought news: one stored as new that ``valued`` counts."""
    return any(o is AddOutcome.STORED and (valued is None or valued(e)) for e, o in zip(events, outcomes, strict=False))


class _PushQueue(asyncio.Queue[Event]):
    """The events waiting to be pushed to a peer, bounded in number (``maxsize``) and in the bytes of their JSON
    (``max_bytes``). Put with :meth:`offer` only."""

    def __init__(self, maxsize: int, max_bytes: int) -> None:
        super().__init__(maxsize)
        self.max_bytes = max_bytes
        self.bytes = 0

    def offer(self, event: Event) -> bool:
        """Queue ``event`` if it fits (one event always fits an empty queue); False if it does not."""
        size = len(event.to_json())
        if self.full() or (self.bytes + size > self.max_bytes and not self.empty()):
            return False
        self.put_nowait(event)
        return True

    def _put(self, event: Event) -> None:
        super()._put(event)
        self.bytes += len(event.to_json())

    def _get(self) -> Event:
        event = super()._get()
        self.bytes -= len(event.to_json())
        return event


class _Bucket:
    """Token bucket: ``rate`` per second, up to ``burst``; :meth:`take` waits for tokens."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.stamp = burst, clock()

    async def take(self, n: int) -> None:
        while n > 0:
            part = min(n, self.burst)
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= part:
                self.tokens -= part
                n -= int(part)
            else:
                await asyncio.sleep((part - self.tokens) / self.rate)


class PeerLink:
    """Keeps this node in step with the peer at ``url`` until cancelled."""

    def __init__(
        self,
        url: str,
        store: Store,
        local: LocalState,
        ingest: Ingest,
        *,
        unwanted: Unwanted | None = None,
        connect: Callable[[str], Awaitable[RelayClient]] | None = None,
        clock: Callable[[], float] = time.time,
        events_per_second: float = 1000.0,
        events_burst: float = 5000.0,
        resync_interval: float = RESYNC_INTERVAL,
        follow_up: float = FOLLOW_UP,
        limits: EventLimits = DEFAULT_EVENT_LIMITS,
        push_bytes: int = PUSH_QUEUE_BYTES,
        say: Say | None = None,
        valued: Valued | None = None,
        uploads: PeerUploads | None = None,
        taken: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.url = url
        #: Told the ids of the pushed events the peer took (stored, or had): the node's own new event held back
        #: from the LAN is out once the neighbour it went to has it (relay/embargo.py).
        self.taken = taken
        self.store = store
        self.local = local
        self._ingest = ingest
        self.unwanted = unwanted
        self._connect = connect or (lambda u: RelayClient.connect(u, timeout=CONNECT_TIMEOUT))
        self.clock = clock
        #: The mesh's, shared by all its links: a line of each kind a minute in all (see samizdat.mesh.say).
        self.say = say or Say(log, clock)
        #: Which new events count as news the peer brought (None: all): see :class:`Valued`.
        self.valued = valued
        #: What peers acknowledged and which lose it: the mesh's, shared by its links (a link made again for the
        #: same address remembers).
        self.uploads = uploads or PeerUploads()
        self.resync_interval = resync_interval
        self.follow_up = follow_up
        self.limits = limits
        self.bucket = _Bucket(events_per_second, events_burst)
        self.queue = _PushQueue(PUSH_QUEUE, push_bytes)
        self.from_peer = _Recent(RECENT_IDS)
        self.overflowed = False
        self.state = "new"
        self.failures = 0
        self._streak = 0  # failures before the last session that was not steady (see STEADY_FOR)
        self._session_at: float | None = None  # when this session's first reconciliation finished
        #: Since when the link has not worked: from its start until a reconciliation finishes, and from its next
        #: failure on (None while it works). A node whose links all have not worked for long may lose its place
        #: to a newcomer (announcements.FAILING_FOR).
        self.failing_since: float | None = clock()
        #: When a reconciliation first finished, and when the peer last brought an event that was new here (stored
        #: as new, having passed every door's limits): a node that works but brings nothing new for long may make
        #: room for a newcomer when there is none (samizdat.mesh.room). In memory only, like everything about
        #: announced peers: a seized device does not show whom it met.
        self.worked_since: float | None = None
        self.brought_at: float | None = None
        self.last_report: SyncReport | None = None
        self.wake = asyncio.Event()  # set to cut a backoff short (the network changed)
        self.resync = asyncio.Event()  # set to reconcile again now (the network changed under a live link)

    # -- fed by the node ---------------------------------------------------------------------------------------

    def offer(self, event: Event) -> None:
        """An event this node just stored: push it to the peer unless it came from there."""
        # Also while reconciling: the reconciliation's snapshot of our store may be older than the event, so it
        # is pushed afterwards (a duplicate at worst).
        if event.id in self.from_peer or self.state not in ("syncing", "live"):
            return
        if not self.queue.offer(event):
            self.overflowed = True  # the next reconciliation catches up instead

    # -- the loop ----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            self._set_state("connecting")
            try:
                client = await self._connect(self.url)
            except TransportError as exc:
                await self._failed(exc)
                continue
            try:
                async with client:
                    await self._session(client)
            except (TransportError, RemoteProtocolError, TimeoutError) as exc:
                await self._failed(exc)
            except SamizdatError as exc:  # e.g. the store refused: log, back off, try again later
                # The default level names no LAN address (docs/safety.md, "What the log says"): -v does.
                self.say(
                    "link error", "a peer link failed on an error of ours (-v names the peer)", level=logging.WARNING
                )
                self.say("link error at", "link to %s: %s", self.url, exc)
                await self._failed(exc)

    async def _session(self, client: RelayClient) -> None:
        sub_id, live = client.open_subscription(f"{PEER_SUBSCRIPTION}{secrets.token_hex(4)}")
        # Everything the peer stores from now on, whatever its created_at (carried posts can be days old):
        # limit 0 asks for no stored events, only new ones. The reconciliation below covers the past.
        await client.send_raw(orjson.dumps(["REQ", sub_id, {"limit": 0}]).decode())
        puller = asyncio.create_task(self._pull(client, live), name=f"pull {self.url}")
        try:
            self.local.update_peer(self.url, last_seen=self.clock())
            wait = self.follow_up
            while True:
                self._drain_queue()  # what we stored until now is covered by the reconciliation
                self.overflowed = False
                self.resync.clear()
                self._set_state("syncing")
                await self._reconcile(client)
                # Only a finished reconciliation ends a run of failures, not an accepted connection: a peer that
                # takes every link and drops it at once would otherwise be tried again every second for ever,
                # each try building a Negentropy set of the whole store.
                if self._session_at is None:
                    self._session_at = self.clock()
                    self._streak = self.failures
                self.failures = 0
                self.failing_since = None
                if self.worked_since is None:
                    self.worked_since = self.clock()
                self.local.update_peer(self.url, failures=0, last_error="")
                self._set_state("live")
                await self._push_until_resync(client, puller, wait)
                wait = self.resync_interval
        finally:
            puller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await puller
            client.drop_subscription(sub_id)

    async def _reconcile(self, client: RelayClient) -> None:
        in0, out0 = client.bytes_in, client.bytes_out
        limit = self.uploads.limit(self.url, self.clock())
        async with asyncio.timeout(SYNC_TIMEOUT):
            # A peer is a samizdat node: it answers a too-fast upload with `rate-limited:`, which the upload's
            # retries handle, so the pacing meant for relays that drop busy connections would only slow it.
            report = await sync(
                client,
                self.store,
                [],
                direction="both",
                ingest=self._from_peer,
                unwanted=self.unwanted,
                now=self.clock,
                limits=self.limits,
                pacing=None,
                acks=self.uploads,
                upload_limit=limit,
            )
        self.last_report = report
        if report.lost and limit is None:
            self.say("losing", "peer %s lacks %d events it took: sending it at most the newest %d a sync for an "
                     "hour", self.url, report.lost, LOSING_UPLOAD)  # fmt: skip
        self.local.update_peer(
            self.url,
            last_sync=self.clock(),
            last_seen=self.clock(),
            events_in=report.received,
            events_out=report.sent,
            bytes_in=client.bytes_in - in0,
            bytes_out=client.bytes_out - out0,
        )
        self.say("synced", "synced with %s: %d in, %d out", self.url, report.received, report.sent)

    async def _push_until_resync(self, client: RelayClient, puller: asyncio.Task[None], wait: float) -> None:
        """Push what this node stores until ``wait`` seconds have passed (then the caller reconciles again), the
        push queue overflowed, or the connection ended (raises)."""
        deadline = asyncio.get_running_loop().time() + wait
        while client.is_open and not puller.done():
            if self.overflowed or self.resync.is_set():
                return
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(min(remaining, 1.0)):
                    first = await self.queue.get()
            except TimeoutError:
                continue
            batch = [first]
            while len(batch) < PUSH_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [e for e in batch if e.id not in self.from_peer]
            if not batch:
                continue
            in0, out0 = client.bytes_in, client.bytes_out
            results = await client.publish_many(batch, timeout=30)
            sent = sum(1 for r in results if r.accepted and r.prefix != "duplicate")
            if self.taken is not None:
                self.taken([r.event_id for r in results if r.accepted or r.prefix == "duplicate"])
            if not client.is_open:
                raise TransportError(f"{self.url} closed the connection")
            self.local.update_peer(
                self.url,
                last_seen=self.clock(),
                events_out=sent,
                bytes_in=client.bytes_in - in0,
                bytes_out=client.bytes_out - out0,
            )
        if puller.done() and not puller.cancelled() and puller.exception() is not None:
            raise puller.exception()  # type: ignore[misc]
        raise TransportError(f"the connection to {self.url} ended")

    async def _pull(self, client: RelayClient, live: asyncio.Queue[list[Any]]) -> None:
        """Store what the peer's live subscription delivers, in small batches, within the peer's rate.

        The rate is taken for every event the peer sends, before its signature is checked: the check is what an
        event costs us (a few tens of µs of the one thread that also serves the relay), and a peer sending forged
        or refused events, which are never stored, must not get more of it than one sending good ones."""
        step = max(1, int(self.bucket.burst))
        while True:
            message = await client.next_message(live, 3600.0, answer=False)
            batch: list[list[Any]] = [message]
            while len(batch) < PUSH_BATCH and not live.empty():
                batch.append(live.get_nowait())
            for m in batch:
                if m[0] == "CLOSED":
                    reason = relay_text(m[2]) if len(m) > 2 else ""
                    raise TransportError(f"{self.url} ended the live subscription: {reason}")
            offered = [m[2] for m in batch if m[0] == "EVENT" and len(m) >= 3 and isinstance(m[2], dict)]
            for start in range(0, len(offered), step):
                part = offered[start : start + step]
                await self.bucket.take(len(part))
                events = self._admitted(self._verified(part))
                if not events:
                    continue
                outcomes = await self._from_peer(events)
                stored = sum(1 for o in outcomes if o is AddOutcome.STORED)
                if stored:
                    self.local.update_peer(self.url, last_seen=self.clock(), events_in=stored)

    def _verified(self, raws: list[dict[str, Any]]) -> list[Event]:
        """The events of ``raws`` whose ids and signatures check out; the others are dropped, said once per batch."""
        events: list[Event] = []
        for raw in raws:
            with contextlib.suppress(RemoteProtocolError):
                events.append(parse_event(raw))
        if len(events) < len(raws):
            self.say("invalid", "dropped %d invalid events from peer %s", len(raws) - len(events), self.url)
        return events

    def _admitted(self, events: list[Event]) -> list[Event]:
        """The live events within the limits every door applies; the others are dropped, said once per batch."""
        passed, refused = admit_all(events, self.clock(), self.limits)
        if refused:
            self.say("refused", "refused %d events from peer %s (%s)", len(refused), self.url, refused[0][1].reply)
        return passed

    async def _from_peer(self, events: Sequence[Event]) -> list[AddOutcome]:
        for event in events:
            self.from_peer.add(event.id)
        outcomes = await self._ingest(events)
        if brings_news(events, outcomes, self.valued):
            self.brought_at = self.clock()
        return outcomes

    def _drain_queue(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    async def _failed(self, exc: BaseException) -> None:
        steady = self._session_at is None or self.clock() - self._session_at >= STEADY_FOR
        self.failures = (self.failures if steady else self._streak) + 1
        self._session_at = None
        if self.failing_since is None:
            self.failing_since = self.clock()
        delay = backoff_delay(self.failures - 1, base=BACKOFF_BASE, cap=BACKOFF_CAP, random=random.random)
        self._set_state("backoff")
        self.local.update_peer(self.url, failures=self.failures, last_error=str(exc) or type(exc).__name__)
        self.say("failed", "link to %s failed (%s); next try in %.0f s", self.url, exc, delay)
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self.wake.wait()

    def _set_state(self, state: str) -> None:
        self.state = state
        self.local.update_peer(self.url, state=state)
