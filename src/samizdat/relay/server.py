"""The relay: an asyncio WebSocket server that moves messages between sockets and the sans-IO protocol.

Theory of operation
-------------------

One port serves WebSocket and plain HTTP (:mod:`samizdat.relay.http`). Each WebSocket connection gets a
:class:`~samizdat.relay.connection.RelayConnection` (the protocol), a bounded outgoing queue, and a writer task only
while its socket is congested. The reader loop feeds each message to the protocol and carries out the actions it
returns:

* ``StoreEvent`` goes to the :class:`~samizdat.relay.ingest.Intake`, which stores the events of every
  connection read in one turn of the event loop with one task and one ``store.add_many`` (one commit, or part of
  one); ``OK`` goes out only after that returned, i.e. once the event is durable. At most
  ``max_pending_events`` per connection are in flight; beyond that the reader stops reading (TCP backpressure
  onto the publisher). With ``verify_in_thread`` the protocol leaves the signature check to the intake, which has
  the batch checked by the :class:`~samizdat.relay.verifier.Verifier` thread before storing, while the batch before
  it is written (relay/ingest.py, ``overlap``). ``samizdat serve`` turns it on where two cores are spare
  (``[relay] verify_in_thread``, web/serving.py): on two cores, where the store's writer thread already keeps
  the second one partly busy, one worker took 10-25% fewer events a second with it.
* ``Subscribe`` files the subscription in the :class:`~samizdat.relay.subscriptions.SubscriptionIndex` *before*
  querying the store, so no event stored meanwhile is missed (one may arrive twice; clients de-duplicate by id),
  then a query task sends the stored events and ``EOSE`` (:mod:`samizdat.relay.stored`: a page at a time, each
  read under a fair turn at the store). A subscription the index can only file by search words counts against
  ``max_search_subscriptions`` (per connection), ``..._per_ip`` and ``..._total``; over them it is refused, as is
  one that would take the values its connection's (or its address's) filters list past ``max_subscription_values``
  (``..._per_ip``), or everyone's past ``..._total`` unless its address lists less than ``subscription_values_reserve``.
  With workers, what an address holds is counted over all of them (:mod:`samizdat.relay.shared`).
* ``Count`` and ``NegRequest`` take fair turns at the store too (:mod:`samizdat.relay.fair`), at most
  ``max_pending_counts`` COUNTs of a connection waiting at once (``..._per_ip`` of an address); NIP-77 builds one at
  a time, in a scheduler of their own, and each also takes a turn of the store's scheduler, so REQ, COUNT and
  builds together never want more reader threads than the store has, and one address never holds them all. The
  NIP-77 messages of a remote address are answered one at a time and paced by the bytes of their answers
  (:mod:`samizdat.relay.syncpace`), and REQ, COUNT and NEG-OPEN count against a rate of the connection and one of
  its address.
* Every stored (or ephemeral) event, from a client or from :meth:`RelayServer.ingest`, is fanned out: the index
  gives the matching subscriptions, the event's JSON is serialised once, and its message and WebSocket frame are
  built once per subscription id (:mod:`samizdat.relay.wire`): every connection without compression is handed the
  same bytes object.

Writing: frames are queued, and once per turn of the event loop one callback writes every client that got some,
each with ONE transport write (:meth:`Client.flush`): a fan-out to thousands of connections costs one ``send``
system call per connection and no task switch. A connection whose socket is congested gets a writer task, which
writes with flow control (waiting for the transport to drain) until the queue is empty, then ends. Either way
frames go out in the order they were queued. Keep-alive pings of every connection come from one task
(:mod:`samizdat.relay.keepalive`), not one per connection: an idle reader costs its websockets connection, its
handler task waiting for a message, and little else (``bench/fanout.py`` measures it).

Backpressure: everything for a client goes through its queue, whose size in bytes is tracked, per connection and
in all (:class:`~samizdat.relay.client_conn.QueueTotal`). A stored-event answer reads its next page only once the
queue is at most half full and the total is within ``send_buffer_total_bytes``, so it holds at most one page
beyond the queue; if that room does not come within ``send_timeout`` the subscription is closed with ``CLOSED
"error: too slow..."`` rather than buffered. The reader stops reading while the queue is over the high-water mark
(and drops the connection if it stays there for ``send_timeout``); a *live* event that would push the queue over
``send_buffer_bytes``, or arrives while the total is over its bound and this queue holds more than an eighth of
``send_buffer_bytes``, closes that subscription with ``CLOSED "error: too slow..."``; and if even control frames
would exceed ``send_buffer_bytes + send_buffer_slack`` the connection is dropped. So memory per connection is
bounded by the queue plus one page, ``websockets``' ``write_limit`` and ``max_queue`` incoming messages, and the
queues together by ``send_buffer_total_bytes`` (plus one page per connection answering a REQ).

Connections: :mod:`samizdat.relay.door` counts every TCP connection from its accept (handshakes and plain HTTP
requests included) against ``max_connections`` and ``max_connections_per_ip``, refuses the rest with a canned
503 inside ``accept()``, before asyncio builds anything for them (:mod:`samizdat.relay.accept`: the relay owns its
listening sockets), gives each ``handshake_timeout`` to complete its request, and logs refusals as a
rate-limited summary. :meth:`RelayServer.start` raises the open-file limit to fit ``max_connections``. When a
connection goes (however it goes), its queries, counts and NIP-77 work are cancelled, and the store interrupts
the reads they were waiting for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import itertools
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from samizdat.core.event import Event
from samizdat.core.kinds import PEER_SUBSCRIPTION
from samizdat.errors import LocalProtocolError, SamizdatError, UsageError
from samizdat.relay import accept, bodies, http, proxyproto
from samizdat.relay.client_conn import Client, QueueTotal, forget_handshake
from samizdat.relay.connection import (
    BAD_SIGNATURE,
    CloseConnection,
    Count,
    NegRequest,
    RelayConnection,
    Send,
    StoreEvent,
    Subscribe,
    TokenBucket,
    Unsubscribe,
    closed_frame,
    event_frame_prefix,
    neg_err_frame,
    ok_for_outcome,
    ok_frame,
)
from samizdat.relay.door import Door, GuardedConnection, QuietWsLog, RefusalLog, open_file_budget
from samizdat.relay.embargo import Embargo
from samizdat.relay.fair import FairScheduler
from samizdat.relay.follow import Follower
from samizdat.relay.ingest import Intake
from samizdat.relay.keepalive import Keepalive
from samizdat.relay.limits import RelayInfo, RelayLimits, nip11_document
from samizdat.relay.negentropy import NegentropyFactory, NegentropyService
from samizdat.relay.proxied import proxied_class
from samizdat.relay.shared import REQ_RATE, SharedBucket, SharedLimits
from samizdat.relay.storebudget import OverBudget, StoreBudget
from samizdat.relay.stored import TOO_SLOW, StoredAnswers
from samizdat.relay.subscriptions import Subscription, SubscriptionIndex, Tally, filter_values, is_broad
from samizdat.relay.syncpace import SyncPace
from samizdat.relay.verifier import Verifier
from samizdat.relay.wire import text_frame
from samizdat.store.base import CALLER, AddOutcome, Store

logger = logging.getLogger("samizdat.relay")


_FANNED_OUT = (AddOutcome.STORED, AddOutcome.EPHEMERAL)
#: Seconds between keep-alive pings of a connection; one that has not answered by the next ping is dropped.
PING_INTERVAL = 30.0
_NO_ACTION = Unsubscribe("")  # see RelayServer._handle
#: Messages one connection handles before it lets the event loop run others (see RelayServer._handle).
YIELD_EVERY = 8
#: A plain HTTP answer refused because its address (or everyone) has too much unread on its way out (outgoing.py).
BUSY_SENDING = "answers not read yet"
BUSY_SENDING_BODY = b"This node has too much on its way to this address; try again in a moment.\n"
#: The transport's high-water mark (``websockets``' ``write_limit``): the relay hands a socket more only below it.
WRITE_LIMIT = 64 * 1024
#: What the other WebSocket routes (/op, the photo preview) may leave unsent beyond the relay's own cap.
ROUTE_WRITE_SLACK = 16 * 1024 * 1024


class RelayServer:
    """A Nostr relay over WebSocket on one port, with NIP-11 and plain HTTP beside it.

    Call :meth:`start`, then :meth:`stop` (also on errors). ``store`` is not closed by :meth:`stop`; its owner
    closes it afterwards. ``on_event`` is called (on the event loop, must not block) with every event that was
    stored or was ephemeral, after subscribers got it. ``verify_in_thread`` checks signatures of incoming events in
    a :class:`~samizdat.relay.verifier.Verifier` thread instead of on the event loop (worth it with a free core).
    """

    def __init__(
        self,
        store: Store,
        *,
        limits: RelayLimits | None = None,
        info: RelayInfo | None = None,
        http_handler: http.HttpHandler | None = None,
        request_handler: bodies.RequestHandler | None = None,
        max_body: int = 0,
        ws_routes: Mapping[str, Callable[[ServerConnection], Awaitable[None]]] | None = None,
        on_event: Callable[[Event], None] | None = None,
        negentropy: NegentropyFactory | None = None,
        clock: Callable[[], float] = time.time,
        compression: bool = False,
        verify_in_thread: bool = False,
    ) -> None:
        self.store = store
        self.limits = limits or RelayLimits()
        self.info = info or RelayInfo()
        self.http_handler = http_handler
        #: Answers requests of any method before anything else (Blossom, web/blossom.py); bodies up to ``max_body``.
        self.request_handler = request_handler
        self.max_body = max_body
        self.ws_routes = dict(ws_routes or {})  # path -> handler for WebSockets that are not the relay (/op)
        self.on_event = on_event
        #: Called after ``on_event`` for new events a client connection sent (an EVENT, not the node's ingest).
        self.on_client_event: Callable[[Event], None] | None = None
        self.negentropy = negentropy
        self.clock = clock
        self.compression = compression
        self.verify_in_thread = verify_in_thread
        self.index: SubscriptionIndex[Client] = SubscriptionIndex(group=lambda client: client.ip)
        self.verifier = Verifier()
        self.intake = Intake(store, self.verifier, self._stored, max_bytes=self.limits.max_pending_event_bytes,
                             max_bytes_per_ip=self.limits.max_pending_event_bytes_per_ip,
                             reserve_per_ip=self.limits.pending_event_bytes_reserve,
                             overlap=verify_in_thread)  # fmt: skip
        self.clients: set[Client] = set()
        limits = self.limits
        self.refusals = RefusalLog()
        self.door = Door(limits, self.refusals)  # open TCP connections, in all and per address
        self.queued = QueueTotal(limits.send_buffer_total_bytes)  # bytes queued for every client together
        rate, burst = limits.address_store_budget  # ... and the store time of each remote address
        self.store_budget = StoreBudget(rate, burst, max_wait=limits.store_budget_max_wait)
        self.turns = FairScheduler(limits.store_slots, budget=self.store_budget)  # reads for REQ and COUNT
        self.answers = StoredAnswers(store, limits, self.turns, self._close_subscription)
        self._ip_buckets: dict[str, TokenBucket] = {}  # the event rate shared by one address's connections
        self._req_buckets: dict[str, TokenBucket] = {}  # ... and their REQ rate
        #: NIP-77 answer bytes per address (relay/syncpace.py).
        self.sync_pace = SyncPace(limits.sync_bytes_per_second, limits.sync_bytes_burst, max_wait=limits.sync_max_wait,
                                  max_waiting=limits.sync_waiting_per_ip, clock=self.clock)  # fmt: skip
        #: COUNTs waiting for the store, per remote address (with workers: of all of them, relay/cluster.py).
        self.pending_counts = Tally()
        #: Request bodies (Blossom uploads) in flight per remote address (with workers: of all of them), and the
        #: workers that share relay/bodies.py's bound on their bytes.
        self.bodies_in_flight = Tally()
        self.bodies_share = 1
        self.counts_waiting = 0  # COUNTs of every connection waiting for the store (this process's)
        self._refused_pages: set[str] = set()  # Host names and Origins refused on this machine, logged once each
        # What a connection's transport may hold unsent (door.GuardedConnection.write_cap). The relay writes while
        # it holds less than WRITE_LIMIT, a batch of about that much plus one frame (at most the queue's hard
        # bound) at a time, so a client that reads never comes near this; one that sends pings and never reads
        # (their pongs bypass the queue) is dropped here instead of being buffered without end.
        self._write_cap = max(1 << 20, 2 * (limits.send_buffer_bytes + limits.send_buffer_slack) + 4 * WRITE_LIMIT)
        #: With workers or a bus (relay/follow.py): told of each event stored here, it tells the other processes.
        self.follower: Follower | None = None
        #: With workers (relay/shared.py): event rates per address shared by all of them.
        self.shared: SharedLimits | None = None
        #: With workers: shown to local readers in NIP-11 (which worker answered).
        self.worker: dict[str, int] | None = None
        #: The node's own new events, held back from the LAN while a neighbour serves them first
        #: (relay/embargo.py); None: every event is served at once. Set with :meth:`hold_own`.
        self.embargo: Embargo | None = None
        #: The outgoing peer links (their URLs) a held event may go out through, besides the peers' subscriptions.
        self.stem_links: Callable[[], Sequence[str]] = tuple
        #: Pings every connection once per ``PING_INTERVAL`` seconds, from one task.
        self.keepalive = Keepalive(PING_INTERVAL)
        self._keepalive_task: asyncio.Task[None] | None = None
        self._dirty: list[Client] = []  # clients with frames to flush at the next turn of the loop
        self._ids = itertools.count(1)
        self._servers: list[Server] = []  # one per listening address
        self._started = 0.0
        self._stats_cache: tuple[float, int | None] = (0.0, None)
        self._npub: str | None = None
        if self.info.pubkey:
            from samizdat.core import nip19  # only for the status page

            with contextlib.suppress(SamizdatError):
                self._npub = nip19.npub_encode(self.info.pubkey)

    # -- lifecycle --------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (useful after ``start(port=0)``)."""
        if not self._servers:
            raise LocalProtocolError("the relay is not started")
        port: int = self._servers[0].sockets[0].getsockname()[1]
        return port

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 4848,
        *,
        sock: socket.socket | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """Listen on ``host``:``port`` (every address ``host`` resolves to; 0: any free port, see :attr:`port`), or
        on the bound socket ``sock`` (taken over: it is detached, and the relay closes it when it stops); with
        ``tls`` (relay/tls.py), as HTTPS and WSS. Connections over the caps are refused in ``accept()``
        (relay/accept.py). Raises the open-file limit first (see :mod:`samizdat.relay.door`). Raises OSError if it
        cannot listen."""
        if tls is not None and self.limits.trusted_proxies:
            raise UsageError("the relay's own TLS cannot be combined with trusted proxies: terminate TLS at the proxy")
        self._started = time.monotonic()
        self.door.max_connections = open_file_budget(self.limits.max_connections)
        # Our own listening sockets, whose accept() refuses connections over the door's caps (relay/accept.py).
        trusted = proxyproto.networks(self.limits.trusted_proxies)
        sockets = [sock] if sock is not None else accept.listening_sockets(host, port)
        listening = [accept.DoorSocket.take(s, self.door, trusted, tls=tls is not None) for s in sockets]
        try:
            for listener in listening:
                self._servers.append(await serve(
                    self._handle,
                    sock=listener,
                    backlog=accept.BACKLOG,
                    ssl=tls,
                    process_request=self._process_request,
                    process_response=self._process_response if self.worker is not None else None,
                    create_connection=self._connection_class(),
                    open_timeout=self.limits.handshake_timeout,
                    max_size=self.limits.max_message_bytes,
                    max_queue=4,  # incoming messages buffered per connection (each up to max_message_bytes)
                    write_limit=WRITE_LIMIT,
                    compression="deflate" if self.compression else None,
                    ping_interval=None,  # one task pings every connection (relay/keepalive.py)
                    close_timeout=5,
                    server_header=f"samizdat/{nip11_document(self.info, self.limits)['version']}",
                    logger=QuietWsLog(logging.getLogger("samizdat.relay.ws"), self.refusals),
                ))  # fmt: skip
        except BaseException:
            servers, self._servers = self._servers, []
            for server in servers:
                server.close()
            for listener in listening:
                listener.close()
            raise
        self._keepalive_task = asyncio.create_task(self.keepalive.run())
        for server in self._servers:
            address = server.sockets[0].getsockname()
            logger.info("relay listening on %s:%d", address[0], address[1])

    def _connection_class(self) -> type[ServerConnection]:
        guarded = self.door.connection_class()
        if self.request_handler is not None and self.max_body > 0:
            guarded = bodies.body_connection_class(guarded, self.max_body, self.bodies_in_flight,  # type: ignore[arg-type]
                                                   self.bodies_share)  # fmt: skip
        if self.limits.trusted_proxies:  # behind a load balancer: its PROXY header comes first (relay/proxied.py)
            guarded = proxied_class(guarded, proxyproto.networks(self.limits.trusted_proxies))  # type: ignore[arg-type]
        return guarded

    async def stop(self) -> None:
        """Close every connection, wait for the handlers and pending stores; the store stays open."""
        if not self._servers:
            return
        servers, self._servers = self._servers, []
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            self._keepalive_task = None
        for server in servers:
            server.close(close_connections=True)
        for server in servers:
            await server.wait_closed()
        for client in list(self.clients):
            client.drop("relay stopping")
        await self.intake.drain()  # events read before the stop are stored (their OKs go nowhere)
        if self.embargo is not None:
            self.embargo.close()
        self.door.close()
        self.verifier.close()
        self.refusals.flush()

    # -- for the node -----------------------------------------------------------------------------------------

    def hold_own(self, embargo: Embargo, links: Callable[[], Sequence[str]] = tuple) -> None:
        """Serve the node's own new events to the LAN only after a neighbour does (relay/embargo.py): ``links``
        gives the outgoing peer links a held event may be handed to, besides the peers subscribed here."""
        self.embargo = embargo
        self.stem_links = links
        self.answers.hidden = embargo.holds
        self.answers.hidden_events = embargo.held_events
        if isinstance(self.negentropy, NegentropyService):
            self.negentropy.hidden = embargo.held_ids
        embargo.on_release.append(self._released)

    async def ingest(self, event: Event) -> AddOutcome:
        """Store an already verified event (made here, or from sync or a bundle) and fan it out if new."""
        return (await self.ingest_many([event]))[0]

    async def ingest_many(self, events: Sequence[Event]) -> list[AddOutcome]:
        """:meth:`ingest` for a batch (a sync or bundle download): one store transaction, fan-out in order."""
        outcomes = await self.store.add_many(events)
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome is AddOutcome.DUPLICATE and self.embargo is not None:
                self.embargo.came_back(event.id)  # a peer link or a sync brought our own held event back
            if outcome in _FANNED_OUT:
                self._fan_out(event, stored=outcome is AddOutcome.STORED)
                if outcome is AddOutcome.EPHEMERAL and self.follower is not None:
                    self.follower.share(event)  # never stored: it goes to the other processes on the bus
        return outcomes

    def fan_out_stored(self, event: Event, *, from_client: bool = False) -> None:
        """Fan out an event another process stored (read back from the store by the follower); ``from_client``:
        also to ``on_client_event`` (the other process took it from a client and runs no loops of its own)."""
        self._fan_out(event)
        if from_client and self.on_client_event is not None:
            try:
                self.on_client_event(event)
            except Exception:
                logger.exception("on_client_event hook failed")

    @property
    def subscription_count(self) -> int:
        return len(self.index)

    def nip11(self, *, local_reader: bool = False) -> dict[str, Any]:
        extra = (77,) if self.negentropy else ()
        doc = nip11_document(self.info, self.limits, extra_nips=extra, local_reader=local_reader)
        if local_reader and self.worker is not None:
            doc["samizdat_worker"] = self.worker
        return doc

    # -- HTTP -------------------------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' hook before every handshake: refuse bad requests, answer plain HTTP (HEAD without body),
        or return None to let a WebSocket upgrade go on. (Connection counts are the door's job, and so is weighing
        the answers' bodies until they are read: relay/outgoing.py.)"""
        answer = await self._answer_request(connection, request)
        if answer is None or not answer.body or not isinstance(connection, GuardedConnection):
            return answer
        if self.door.outgoing.take(connection, len(answer.body)):
            return answer
        self.refusals.count(BUSY_SENDING, connection.ip)
        return http.response(503, "text/plain; charset=utf-8", BUSY_SENDING_BODY, (("Retry-After", "10"),))

    async def _answer_request(self, connection: ServerConnection, request: Request) -> Response | None:
        repeated = http.repeated_header(request.headers)
        if repeated is not None:
            return http.bad_request(f"the {repeated} header is given more than once")
        limits = self.limits
        refusal = http.refused_on_this_machine(connection, request.headers, limits.host_names, limits.allowed_origins)
        if refusal is not None:
            # No answer at all: to the page a closed connection looks like a port where nothing listens, where
            # even a 403 it cannot read (an opaque answer to a no-cors fetch) or a bare 421 would say that
            # something does. The log says why, once per name or page.
            self.refusals.count(http.LOGGED[refusal])
            asker = http.header(request.headers, "Host" if refusal is http.REBOUND else "Origin") or "(no Origin)"
            self._refused_page(asker, refusal)
            connection.transport.abort()
            return http.misdirected()  # never sent: the connection is gone
        if self.request_handler is not None and not http.is_websocket_upgrade(request.headers):
            handled = await self._request(connection, request)
            if handled is not None:
                return http.head(handled) if request.method == "HEAD" else handled
        if request.method not in ("GET", "HEAD"):
            return http.method_not_allowed()
        answer = await self._answer(connection, request)
        if request.method == "HEAD" and answer is not None:
            return http.head(answer)
        return answer

    def _refused_page(self, asker: str, refusal: str) -> None:
        """Say why a browser on this machine was refused: the page gets no answer, and the operator of a proxy that
        gives the node a name, or of a web client, needs the reason. Once at WARNING without the name or page (the
        sites the machine's browser visited are not the journal's to keep: red team, round 14), and once per name
        or page (of the first 100) at INFO, which ``-v`` shows."""
        if asker in self._refused_pages or len(self._refused_pages) >= 100:
            return
        if not self._refused_pages:
            logger.warning(
                "a browser on this machine was refused without an answer: a page of another site, or a name not the "
                "node's ([relay] host_names, allowed_origins; -v names it)"
            )
        self._refused_pages.add(asker)
        what = "asked for" if refusal is http.REBOUND else "a page of"
        logger.info("a browser on this machine, %s %r: refused without an answer (%s)", what, asker[:100], refusal)

    async def _request(self, connection: ServerConnection, request: Request) -> Response | None:
        assert self.request_handler is not None
        ip = getattr(connection, "ip", None)  # the door's view (relay/proxied.py: the client a balancer names)
        body: bytes = getattr(connection, "request_body", b"")
        secure = connection.transport.get_extra_info("sslcontext") is not None
        given = bodies.HttpRequest(request.method, request.path, request.headers, body, ip,
                                   http.from_loopback(connection), secure)  # fmt: skip
        caller = CALLER.set(ip)  # the photo store shares its connections out by address (store/pgblobs.py)
        try:
            result = await self.request_handler(given)
        finally:
            CALLER.reset(caller)
        if result is None:
            return None
        status, content_type, answer = result[:3]
        return http.response(status, content_type, answer, result[3] if len(result) == 4 else ())

    def _process_response(self, connection: ServerConnection, request: Request, response: Response) -> None:
        """With workers: tell a reader on this machine which worker took its connection (tests, debugging)."""
        if self.worker is not None and http.from_loopback(connection):
            response.headers["X-Samizdat-Worker"] = str(self.worker["index"])

    async def _answer(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = request.headers
        if http.is_websocket_upgrade(headers):
            return None
        local = http.local_reader(connection, headers)  # may see the node's key (relay/http.py)
        if http.wants_nip11(headers):
            return http.nip11_response(self.nip11(local_reader=local))
        if self.http_handler is not None:
            shown = http.KEY_VISIBLE.set(self.info.publish_pubkey or local)
            try:
                result = self.http_handler(request.path, headers)
                if inspect.isawaitable(result):
                    result = await result
            finally:
                http.KEY_VISIBLE.reset(shown)
            if result is not None:
                status, content_type, body = result[:3]
                return http.response(status, content_type, body, result[3] if len(result) == 4 else ())
        if request.path.split("?", 1)[0] in ("/", "/index.html", "/status"):
            shown_status = await self.status()
            if not (self.info.publish_pubkey or local):  # not to the hub's network, nor to another site's page
                shown_status = dataclasses.replace(shown_status, pubkey=None, npub=None)
            return http.status_page(shown_status)
        return http.not_found()

    async def status(self) -> http.Status:
        """What the status page shows; the store's event count is cached for a few seconds."""
        now = time.monotonic()
        stamp, events = self._stats_cache
        if now - stamp > 5.0:
            try:
                events = (await self.store.stats()).get("events")
            except Exception:  # a status page never fails because of the store
                logger.exception("store stats failed")
                events = None
            self._stats_cache = (now, events)
        return http.Status(
            name=self.info.name,
            pubkey=self.info.pubkey,
            npub=self._npub,
            events=events,
            connections=len(self.clients),
            subscriptions=len(self.index),
            uptime_seconds=now - self._started,
        )

    # -- WebSocket --------------------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        route = self.ws_routes.get(ws.request.path.split("?", 1)[0]) if ws.request is not None else None
        if route is not None:
            # Not the relay (/op, ...): a few connections, kept alive by websockets as it would do by itself.
            ws.ping_interval = ws.ping_timeout = PING_INTERVAL
            ws.start_keepalive()
            if isinstance(ws, GuardedConnection):  # their own answers (a photo preview) may be large; pongs are not
                ws.write_cap = self._write_cap + ROUTE_WRITE_SLACK
            await route(ws)
            return
        forget_handshake(ws)
        if isinstance(ws, GuardedConnection):
            ws.write_cap = self._write_cap
        ip = getattr(ws, "ip", None)  # the door's view of the peer (None: loopback)
        bucket = req_bucket = None
        if ip is not None:
            if ip not in self._ip_buckets:
                limits = self.limits
                rate, burst, now = limits.events_per_second, limits.events_burst, self.clock()
                shared = self.shared  # with workers: one rate per address for all of them
                self._ip_buckets[ip] = (
                    TokenBucket(rate, burst, now) if shared is None else SharedBucket(shared, ip, rate, burst, now)
                )
                rate, burst = limits.address_req_rate
                self._req_buckets[ip] = (
                    TokenBucket(rate, burst, now)
                    if shared is None
                    else SharedBucket(shared, ip, rate, burst, now, REQ_RATE)
                )
            bucket, req_bucket = self._ip_buckets[ip], self._req_buckets[ip]
        protocol = RelayConnection(
            self.limits,
            clock=self.clock,
            negentropy=self.negentropy is not None,
            verify=not self.verify_in_thread,  # else the intake has the signatures checked by the verifier
            event_bucket=bucket,  # one event rate per remote address, however many connections it opens
            address_req_bucket=req_bucket,  # ... and one REQ rate
        )
        client = Client(ws, next(self._ids), protocol, self.limits, self._schedule_flush, self.queued, ip)
        # However the connection ends, the work done for it stops at once (not when the reader next wakes up).
        ws.connection_lost_waiter.add_done_callback(client.on_lost)
        debug = logger.isEnabledFor(logging.DEBUG)
        if debug:
            client.log.debug("connection %d from %s", client.id, ws.remote_address)
        self.clients.add(client)
        self.keepalive.add(client)
        max_pending = self.limits.max_pending_events
        intake = self.intake
        handled = 0
        try:
            while not client.dropped:
                handled += 1
                if handled % YIELD_EVERY == 0:
                    # recv() returns buffered messages without giving the loop a turn: a flooding connection
                    # would otherwise hold it for hundreds of messages while others (a handshake) wait.
                    await asyncio.sleep(0)
                data = await ws.recv(decode=False)
                if debug:
                    client.log.debug("< %.200r", data)
                for action in protocol.receive(data):
                    if isinstance(action, Send):
                        client.send(action.frame)
                    elif isinstance(action, StoreEvent):
                        intake.put(client, action.event, action.verified, len(data))
                    elif isinstance(action, Subscribe):
                        self._subscribe(client, action)
                    elif isinstance(action, Unsubscribe):
                        self._unsubscribe(client, action.sub_id)
                    elif isinstance(action, Count):
                        self._count(client, action)
                    elif isinstance(action, NegRequest):
                        # In order, one at a time; a task, so that the connection going cancels it.
                        await asyncio.wait([self._work(client, self._negentropy(client, action))])
                    elif isinstance(action, CloseConnection):
                        await ws.close(action.code, action.reason)
                        return
                # While it waits for its next message, an idle reader holds neither its last message nor the action
                # it became (a REQ's own filters: the index keeps the shared ones).
                data, action = b"", _NO_ACTION
                # Backpressure: stop reading while the client does not read our answers, or while too many of
                # its events wait for the store.
                if client.queued > client.high:
                    client.drained.clear()
                    try:
                        async with asyncio.timeout(self.limits.send_timeout):
                            await client.drained.wait()
                    except TimeoutError:
                        client.drop("client does not read")
                while client.pending >= max_pending and not client.dropped:
                    client.room.clear()
                    await client.room.wait()
                while intake.crowded(client.ip) and not client.dropped:
                    await intake.wait_room()
        except ConnectionClosed:
            pass
        finally:
            await self._cleanup(client)

    async def _cleanup(self, client: Client) -> None:
        self.index.remove_owner(client)
        self.keepalive.discard(client)
        client.lost()  # cancels its queries, counts and NIP-77 work; empties its queue
        if client.neg is not None:
            client.neg.close()
        # Events being stored are left to finish (they may already be committed); their OKs go nowhere.
        pending = [t for t in client.tasks if not t.done()]
        if client.writer is not None:
            pending.append(client.writer)
        await asyncio.gather(*pending, return_exceptions=True)
        self.clients.discard(client)
        if client.ip is not None and len(self._ip_buckets) > 4 * self.limits.max_connections:
            # Buckets outlive connections (reconnecting must not refill one); forget idle ones in bulk.
            self._ip_buckets = {k: v for k, v in self._ip_buckets.items() if k in self.door.per_ip}
            self._req_buckets = {k: v for k, v in self._req_buckets.items() if k in self.door.per_ip}
        if logger.isEnabledFor(logging.DEBUG):
            client.log.debug("connection %d closed", client.id)

    def _schedule_flush(self, client: Client) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty.append(client)

    def _flush(self) -> None:
        """Write out every client that got frames since the last turn: one callback for all of them."""
        dirty, self._dirty = self._dirty, []
        for client in dirty:
            try:
                client.flush()
            except Exception:  # one broken connection must not keep the others' frames back
                client.log.exception("writing to connection %d failed", client.id)
                client.drop("write failed")

    def _spawn(self, client: Client, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        client.tasks.add(task)
        task.add_done_callback(client.tasks.discard)
        return task

    def _work(self, client: Client, coro: Awaitable[None]) -> asyncio.Task[None]:
        """:meth:`_spawn` for work the client's going cancels (COUNT, NIP-77)."""
        task = self._spawn(client, coro)
        client.work.add(task)
        task.add_done_callback(client.work.discard)
        return task

    # -- actions ----------------------------------------------------------------------------------------------

    def _stored(self, client: Client, event: Event, outcome: AddOutcome | BaseException | None) -> None:
        """The intake is done with ``event`` from ``client`` (relay/ingest.py): its ``OK``, then its fan-out."""
        if outcome is None:
            client.send(ok_frame(event.id, False, BAD_SIGNATURE))
        elif isinstance(outcome, TimeoutError):  # the store's write limit (store/pgconn.py WRITE_SECONDS)
            client.send(ok_frame(event.id, False, "error: the relay's store is busy; not stored, try again later"))
        elif isinstance(outcome, BaseException):  # logged by the intake
            client.send(ok_frame(event.id, False, "error: could not store the event"))
        else:
            client.send(ok_for_outcome(event.id, outcome))
            if outcome is AddOutcome.DUPLICATE and client.ip is not None and self.embargo is not None:
                self.embargo.came_back(event.id)  # a neighbour pushed our own held event back: it is out
            if outcome in _FANNED_OUT:
                self._fan_out(event, origin=client, stored=outcome is AddOutcome.STORED)
                if outcome is AddOutcome.EPHEMERAL and self.follower is not None:
                    self.follower.share(event)  # never stored: it goes to the other processes on the bus

    def _fan_out(self, event: Event, origin: Client | None = None, *, stored: bool = False) -> None:
        """``stored``: stored by this process (not read back from the store for another one)."""
        if stored and self.follower is not None and not self.follower.own(event):
            return  # the follower read it back from the store first, and fanned it out
        subs = self.index.match(event)
        if stored and self.embargo is not None and self.embargo.take(event):
            subs = self._stem(event, subs, origin)
        if subs:
            # One message and one WebSocket frame per subscription id (relay/wire.py), the same bytes for every
            # connection: a channel's readers mostly share one id, so the event is framed once for all of them.
            event_json = event.to_json()
            frames: dict[bytes, tuple[bytes, bytes]] = {}
            send_live = self._send_live
            for sub in subs:
                if sub.active and not (sub.owner is origin and sub.sub_id.startswith(PEER_SUBSCRIPTION)):
                    prefix = sub.frame_prefix
                    framed = frames.get(prefix)
                    if framed is None:
                        message = prefix + event_json + b"]"
                        frames[prefix] = framed = (message, text_frame(message))
                    send_live(sub, framed)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("on_event hook failed")
        if origin is not None and self.on_client_event is not None:
            try:
                self.on_client_event(event)
            except Exception:
                logger.exception("on_client_event hook failed")

    def _stem(
        self, event: Event, subs: list[Subscription[Client]], origin: Client | None
    ) -> list[Subscription[Client]]:
        """The subscriptions a held event goes to now: this machine's, and the one LAN neighbour picked to serve
        it first (a peer's subscription here; or, when the pick is an outgoing link, none: the mesh pushes it)."""
        local = [s for s in subs if s.owner.ip is None]
        # One candidate per address: any device may name its subscriptions "peer:...", and one that opened many
        # was picked nearly every time, i.e. got the node's own posts straight from it, alone.
        by_address: dict[str, Subscription[Client]] = {}
        for s in subs:
            if s.owner.ip is not None and s.owner is not origin and s.sub_id.startswith(PEER_SUBSCRIPTION):
                by_address.setdefault(s.owner.ip, s)
        peers: list[object] = list(by_address.values())
        assert self.embargo is not None
        stem = self.embargo.choose([*peers, *self.stem_links()])
        if stem is None:
            # No neighbour to serve it first: holding it would hide nothing (the node would still be the first, and
            # the only one, to serve it) and only keep a hub's alert from its phones for minutes. Served at once.
            self.embargo.release(event.id)  # the LAN's subscribers get it now (_released); this machine's below
        elif isinstance(stem, str):
            self.embargo.went_by(event.id, stem)
        else:
            local.append(stem)  # type: ignore[arg-type]
        return local

    def _released(self, event: Event) -> None:
        """A held event's hold ended: live subscribers on the LAN get it now (this machine's had it already)."""
        if isinstance(self.negentropy, NegentropyService):
            self.negentropy.forget_cached()  # storages built while it was held lack it
        subs = [s for s in self.index.match(event) if s.owner.ip is not None and s.active]
        event_json = event.to_json()
        frames: dict[bytes, tuple[bytes, bytes]] = {}
        for sub in subs:
            framed = frames.get(sub.frame_prefix)
            if framed is None:
                message = sub.frame_prefix + event_json + b"]"
                frames[sub.frame_prefix] = framed = (message, text_frame(message))
            self._send_live(sub, framed)

    def _send_live(self, sub: Subscription[Client], framed: tuple[bytes, bytes]) -> None:
        """Queue a live event for ``sub``: ``framed`` is its message and that message as a WebSocket frame."""
        client = sub.owner
        if client.dropped:
            return
        queued = client.queued
        frame, wire = framed
        if queued + len(wire) <= client.high and (queued <= client.high >> 3 or not client.total.over):
            client.push_framed(frame, wire)
            return
        # A slow reader (or a long queue while all queues together are over their bound): end this subscription
        # rather than buffer without bound.
        client.log.info("subscription %r of connection %d closed: too slow", sub.sub_id, client.id)
        self._close_subscription(client, sub.sub_id, TOO_SLOW)

    def _close_subscription(self, client: Client, sub_id: str, reason: str) -> None:
        """End ``sub_id`` on the relay's side: out of the index, its query stopped, ``CLOSED`` sent."""
        self._unsubscribe(client, sub_id)
        closed = client.protocol.close_subscription(sub_id, reason)
        if closed is not None:
            client.send(closed)

    def _subscribe(self, client: Client, action: Subscribe) -> None:
        self._unsubscribe(client, action.sub_id)
        limits = self.limits
        values = sum(map(filter_values, action.filters))
        refusal = self.index.values_refusal(
            client,
            client.ip,
            values,
            per_owner=limits.max_subscription_values,
            per_group=limits.max_subscription_values_per_ip,
            total=limits.max_subscription_values_total,
            reserve=limits.subscription_values_reserve,
        )
        if refusal is None and any(is_broad(f) and not f.is_empty_set for f in action.filters):
            refusal = self.index.search_refusal(
                client,
                client.ip,
                per_owner=limits.max_search_subscriptions,
                per_group=limits.max_search_subscriptions_per_ip,
                total=limits.max_search_subscriptions_total,
                reserve=limits.search_subscriptions_reserve,
            )
        if refusal is not None:
            frame = client.protocol.close_subscription(action.sub_id, refusal)
            if frame is not None:
                client.send(frame)
            return
        sub = self.index.add(client, action.sub_id, action.filters, event_frame_prefix(action.sub_id), values=values)
        task = self._spawn(client, self.answers.query(client, sub))
        client.queries[action.sub_id] = task

    def _unsubscribe(self, client: Client, sub_id: str) -> None:
        self.index.remove(client, sub_id)
        task = client.queries.pop(sub_id, None)
        if task is not None:
            task.cancel()

    def _count(self, client: Client, action: Count) -> None:
        if len(client.work) >= self.limits.max_pending_counts:
            client.send(closed_frame(action.query_id, "rate-limited: too many COUNTs at once, wait for answers"))
            return
        ip, counts, limits = client.ip, self.pending_counts, self.limits
        held = len(client.work) if ip is None else counts.of(ip)
        if ip is not None and held >= limits.max_pending_counts_per_ip:
            reason = "rate-limited: too many COUNTs at once from this address, wait for answers"
            client.send(closed_frame(action.query_id, reason))
            return
        # Everyone's, past which an address still has pending_counts_reserve of its own: a device giving itself
        # 60 addresses had 960 COUNTs waiting, 7 MB an address (red-team finding).
        if self.counts_waiting >= limits.max_pending_counts_total and held >= limits.pending_counts_reserve:
            reason = "rate-limited: too many COUNTs waiting on this relay, try again later"
            client.send(closed_frame(action.query_id, reason))
            return
        if ip is not None:
            counts.change(ip, 1)
        self.counts_waiting += 1
        task = self._work(client, self.answers.count(client, action))
        task.add_done_callback(self._count_done)
        if ip is not None:
            task.add_done_callback(lambda _: counts.change(ip, -1))

    def _count_done(self, _task: asyncio.Task[None]) -> None:
        self.counts_waiting -= 1

    async def _negentropy(self, client: Client, request: NegRequest) -> None:
        """Answer a NIP-77 message; one of a remote address waits for that address's turn and budget
        (relay/syncpace.py), or is refused with ``NEG-ERR "blocked: ..."`` (and its session closed)."""
        ip = client.ip
        if ip is None or request.verb == "NEG-CLOSE":
            await self._negentropy_answer(client, request)
            return
        async with self.sync_pace.turn(ip) as refusal:
            if refusal is None and request.verb == "NEG-OPEN":
                try:  # a storage build is a turn at the store like a REQ's page (relay/storebudget.py)
                    await self.store_budget.wait(ip)
                except OverBudget as exc:
                    refusal = str(exc)
            if refusal is None:
                await self._negentropy_answer(client, request)
                return
        client.send(neg_err_frame(request.sub_id, refusal))
        await self._negentropy_answer(client, NegRequest("NEG-CLOSE", request.sub_id, ()))

    async def _negentropy_answer(self, client: Client, request: NegRequest) -> None:
        if self.negentropy is None:  # the protocol does not produce NegRequest then; be safe anyway
            client.send(neg_err_frame(request.sub_id, "error: this relay does not support NIP-77 negentropy"))
            return
        if client.neg is None:
            turns, party, ip, pace = self.turns, client.party, client.ip, self.sync_pace  # builds: NIP-77's lanes

            def send(frame: bytes) -> bool:
                if ip is not None:
                    pace.spent(ip, len(frame))  # what the address's NIP-77 answers cost (relay/syncpace.py)
                return client.send(frame)

            client.neg = self.negentropy(
                send,
                self.store,
                turn=lambda: turns.turn(party, client),
                address=party,
            )
        try:
            await client.neg.handle(request)
        except Exception:  # a bug answers NEG-ERR rather than leaving the client waiting
            client.log.exception("NIP-77 %s %r failed", request.verb, request.sub_id)
            client.send(neg_err_frame(request.sub_id, "error: the relay could not answer this"))
