"""What a relay allows, and how it says so (NIP-11).

:class:`RelayLimits` is the one place where a relay's limits live. They are constructor arguments (STYLE habit 3):
the sans-IO :class:`~samizdat.relay.connection.RelayConnection` enforces the per-message ones, the server the
per-socket ones (message size, connection count, send buffer), and :func:`nip11_document` advertises the ones
NIP-11 has a name for, so well-behaved clients can stay inside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from samizdat import __version__
from samizdat.core.admission import EVENT_FRAME_BYTES, EventLimits
from samizdat.core.filters import FilterLimits

#: The NIPs the relay implements by itself. NIP-77 is added by the server when a negentropy handler is installed.
SUPPORTED_NIPS: tuple[int, ...] = (1, 9, 11, 40, 45, 50)


@dataclass(frozen=True, slots=True)
class RelayLimits:
    """Limits a relay applies to each client. Defaults suit a public relay on a small machine."""

    max_message_bytes: int = 256 * 1024  # one WebSocket message, in bytes (NIP-11 max_message_length)
    max_subscriptions: int = 50  # open REQ subscriptions per connection
    max_filters: int = 10  # filters in one REQ or COUNT
    max_subid_length: int = 64  # NIP-01 says 64 characters at most
    max_limit: int = 5000  # a filter's ``limit`` is clamped to this
    default_limit: int = 500  # the ``limit`` of a filter that has none
    max_filter_values: int = 1000  # values in one ids/authors/kinds/#x list
    max_event_tags: int = 2000
    max_content_length: int = 64 * 1024  # characters, not bytes (NIP-11)
    created_at_future_seconds: int = 900  # reject events dated further ahead than this
    created_at_past_seconds: int | None = None  # reject events older than this (None: any age)
    # A person never comes near these; a flood does. Sync uploads slow down to them (the client backs off).
    events_per_second: float = 500.0  # token bucket refill for EVENT, per connection
    events_burst: int = 5000  # token bucket size for EVENT
    reqs_per_second: float = 20.0  # token bucket refill for REQ and COUNT, per connection
    reqs_burst: int = 100
    # ... and of all connections from one address together (loopback exempt; with workers, of all of them): the
    # rate per connection alone let one device send 1,280 REQs a second on its 64 connections (red-team finding).
    # A phone's few tabs open a few dozen subscriptions at once and a handful a minute after that. These suit the
    # default max_connections_per_ip (64); an operator who raises that for readers behind a carrier NAT raises
    # these in proportion (address_req_rate).
    reqs_per_ip_per_second: float = 40.0
    reqs_per_ip_burst: int = 200
    # Open TCP connections: WebSockets, and also HTTP requests and handshakes not yet complete (and /op).
    max_connections: int = 10_000
    # Per remote address (loopback exempt: local processes are the operator's own): one flooding device on a
    # hub's Wi-Fi cannot take every connection, nor multiply the per-connection event rate.
    max_connections_per_ip: int = 64
    # ... and new connections per address (loopback exempt; relay/door.py, Door.arrival): every plain HTTP request
    # is one (a page load is a few dozen, a screen of photos as many), refused at accept past the burst; a device
    # opening 2,700 a second kept 0.8 of a core busy. Scaled as address_req_rate.
    connections_per_ip_per_second: float = 100.0
    connections_per_ip_burst: int = 500
    # Load balancers whose PROXY protocol header names the client (relay/proxied.py): networks such as
    # "10.0.0.5/32"; a connection from one must start with a header, from anyone else must not.
    trusted_proxies: tuple[str, ...] = ()
    # From this machine (loopback) only requests naming it in their Host are answered, and none a page of another
    # site makes (relay/http.py, refused_on_this_machine): further names this node is reached by on this machine
    # (a reverse proxy's), and web pages that may use it from here ("https://client.example").
    # The operator login (/op) answers only to this machine's names and host_names, from any address.
    host_names: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    handshake_timeout: float = 10.0  # seconds from TCP accept to a complete HTTP request / WebSocket handshake
    max_pending_events: int = 256  # EVENTs of one connection waiting for the store before we stop reading
    # ... and what the EVENTs waiting for the store weigh in memory (relay/ingest.py, held_bytes), of one address
    # (loopback exempt) and of everyone: an event of 2,000 tags weighs ten times its JSON, and 256 of them per
    # connection from one device's 64 connections held gigabytes while the store lagged behind.
    max_pending_event_bytes_per_ip: int = 8 * 1024 * 1024
    max_pending_event_bytes: int = 64 * 1024 * 1024
    # ... past which an address (not loopback) whose own events waiting weigh less than this is still read: a few
    # devices filling everyone's bound made every phone's post wait for as long as they kept it full.
    pending_event_bytes_reserve: int = 256 * 1024
    # Bodies of plain HTTP answers (the web app's files, photos) not yet read by their clients, of one address
    # (loopback exempt: eight photos of 2 MB at once) and of everyone (relay/outgoing.py): a device asking for the
    # 1.2 MB secp256k1.wasm on 1,024 connections and reading nothing made a node hold 1.36 GB.
    max_http_answer_bytes_per_ip: int = 16 * 1024 * 1024
    max_http_answer_bytes: int = 64 * 1024 * 1024
    send_buffer_bytes: int = 512 * 1024  # queued outgoing bytes per connection before live subs are closed
    send_buffer_slack: int = 64 * 1024  # room above that for CLOSED/OK frames before the connection is dropped
    send_buffer_total_bytes: int = 64 * 1024 * 1024  # queued outgoing bytes of all connections together
    # No room in a client's queue this long: a stored answer's subscription is closed; a queue that stays over
    # send_buffer_bytes this long (the client reads nothing at all) drops the connection.
    send_timeout: float = 60.0
    # The store's time is shared fairly between addresses (relay/fair.py): this many reads at once (the store's
    # reader threads), each page of a REQ or COUNT at most store_seconds, else CLOSED "error: ...".
    store_slots: int = 2
    store_seconds: float = 2.0
    # ... and the seconds of those turns an address may use (relay/storebudget.py; loopback exempt): a burst, then
    # this many a second; its next read waits while it is in debt, and is refused with CLOSED "rate-limited: ..."
    # past store_budget_max_wait. One COUNT took 0.9 s of CPU, so 40 a second (the REQ rate) kept a core busy.
    store_seconds_per_ip_per_second: float = 0.25
    store_seconds_per_ip_burst: float = 10.0
    store_budget_max_wait: float = 10.0
    max_pending_counts: int = 8  # COUNTs of one connection waiting for the store; more are refused
    # ... and of all connections from one address (loopback exempt): a COUNT's filters take up to a megabyte while
    # it waits, and an address's COUNTs wait for one turn at the store at a time, so its connections' COUNTs
    # otherwise piled up to hundreds of megabytes.
    max_pending_counts_per_ip: int = 16
    # ... and of everyone (each worker's), past which an address (a loopback connection) still has this many of its
    # own: one device giving itself 60 addresses on a hub's Wi-Fi had 960 COUNTs waiting, 7 MB an address.
    max_pending_counts_total: int = 128
    pending_counts_reserve: int = 1
    # Live subscriptions whose filters the fan-out index can only file by search words (no ids, authors, kinds or
    # tags; see relay/subscriptions.py): each costs a check for every event with its word.
    # Broad live subscriptions (search-only or time-window-only: they match a large share of all events, so each
    # multiplies every publisher's fan-out): per connection, per address (loopback exempt) and in all.
    max_search_subscriptions: int = 4  # per connection
    max_search_subscriptions_per_ip: int = 16
    max_search_subscriptions_total: int = 1024
    # ... past which an address still opens this many of its own (a phone's live search), as for the values below.
    search_subscriptions_reserve: int = 2
    # Values (ids, authors, kinds, tag values) the filters of open subscriptions list together, per connection and
    # per address (loopback exempt): each costs a few hundred bytes for as long as the subscription is open, so
    # without a bound 50 subscriptions of 10 filters of 1,000 values each held about 170 MB per connection.
    max_subscription_values: int = 20_000  # per connection: two REQs of max_filters * max_filter_values
    max_subscription_values_per_ip: int = 50_000
    # ... and of everyone (each worker's connections, with --workers): one device giving itself 40 addresses on a
    # hub's Wi-Fi held 800 MB with the per-address bound alone. Past it, an address still opens subscriptions while
    # its own list at most subscription_values_reserve values (a phone's reading: a channel's admins), so that
    # device cannot keep newcomers out; it gets at most reserve more per address (253 in a /24).
    max_subscription_values_total: int = 200_000
    subscription_values_reserve: int = 2_000
    # NIP-77 answers (relay/syncpace.py), per address (loopback exempt): the bytes of NEG-MSG and NEG-ERR frames
    # sent to all its connections, refilled at this rate; a 5-byte NEG-MSG asking for a whole range's ids gets
    # ~400 KB back, and 64 connections doing that without pause took a reader's REQ p95 to 3.4 s (red-team
    # finding). An address's NIP-77 messages are answered one at a time, each once its budget is not in debt; one
    # that would wait more than sync_max_wait seconds, or finds sync_waiting_per_ip of the address's waiting
    # already, gets NEG-ERR "blocked: ...". A phone's or a LAN peer's sync sends ids of what differs: a
    # 100,000-event store is 6.4 MB of them, inside the burst.
    sync_bytes_per_second: float = 1024 * 1024
    sync_bytes_burst: int = 8 * 1024 * 1024
    sync_max_wait: float = 10.0
    sync_waiting_per_ip: int = 8

    @property
    def filter_limits(self) -> FilterLimits:
        return FilterLimits(
            max_values=self.max_filter_values, max_limit=self.max_limit, default_limit=self.default_limit
        )

    @property
    def address_req_rate(self) -> tuple[float, int]:
        """The REQ rate and burst of one address: ``reqs_per_ip_*``, times ``max_connections_per_ip / 64`` when that
        is raised (docs/scaling.md: readers behind one NAT share an address and must not share a hub's rate)."""
        scale = max(1.0, self.max_connections_per_ip / 64)
        return self.reqs_per_ip_per_second * scale, int(self.reqs_per_ip_burst * scale)

    @property
    def address_connection_rate(self) -> tuple[float, float]:
        """New connections a second and burst of one address, scaled as :attr:`address_req_rate`."""
        scale = max(1.0, self.max_connections_per_ip / 64)
        return self.connections_per_ip_per_second * scale, self.connections_per_ip_burst * scale

    @property
    def address_store_budget(self) -> tuple[float, float]:
        """The store seconds a second and burst of one address, scaled as :attr:`address_req_rate`."""
        scale = max(1.0, self.max_connections_per_ip / 64)
        return self.store_seconds_per_ip_per_second * scale, self.store_seconds_per_ip_burst * scale

    @property
    def event_limits(self) -> EventLimits:
        """The per-event limits, which every door applies too (:func:`samizdat.core.admission.admit`)."""
        return EventLimits(
            max_tags=self.max_event_tags,
            max_content_length=self.max_content_length,
            max_event_bytes=self.max_message_bytes - EVENT_FRAME_BYTES,
            future_seconds=self.created_at_future_seconds,
            past_seconds=self.created_at_past_seconds,
        )


@dataclass(frozen=True, slots=True)
class RelayInfo:
    """Who runs the relay (the descriptive half of NIP-11). ``pubkey`` is 64 lowercase hex characters; with
    ``publish_pubkey`` False it is shown only to readers on this machine (a node does not out its operator to the
    hub's network: docs/operating.md, "Who sees the node's key")."""

    name: str = "samizdat"
    description: str = "A Samizdat node: channels that keep talking when the network is blocked."
    pubkey: str | None = None
    publish_pubkey: bool = True
    contact: str | None = None
    icon: str | None = None
    software: str | None = None  # NIP-11: a URL to the project's homepage, when there is one
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # further NIP-11 fields, copied as they are


def nip11_document(
    info: RelayInfo, limits: RelayLimits, *, extra_nips: tuple[int, ...] = (), local_reader: bool = False
) -> dict[str, Any]:
    """The NIP-11 relay information document for ``info`` and ``limits``; ``pubkey`` only when the relay publishes
    it or the reader is on this machine (``local_reader``)."""
    version = info.version or __version__
    doc: dict[str, Any] = dict(info.extra)
    doc.update(
        {
            "name": info.name,
            "description": info.description,
            "supported_nips": sorted(set(SUPPORTED_NIPS) | set(extra_nips)),
            "version": version,
        }
    )
    for key in ("pubkey", "contact", "icon", "software"):
        value = getattr(info, key)
        if value and (key != "pubkey" or info.publish_pubkey or local_reader):
            doc[key] = value
    limitation: dict[str, Any] = {
        "max_message_length": limits.max_message_bytes,
        "max_subscriptions": limits.max_subscriptions,
        "max_limit": limits.max_limit,
        "max_subid_length": limits.max_subid_length,
        "max_event_tags": limits.max_event_tags,
        "max_content_length": limits.max_content_length,
        "auth_required": False,
        "payment_required": False,
        "restricted_writes": False,
        "created_at_upper_limit": limits.created_at_future_seconds,
        "default_limit": limits.default_limit,
    }
    if limits.created_at_past_seconds is not None:
        limitation["created_at_lower_limit"] = limits.created_at_past_seconds
    doc["limitation"] = limitation
    return doc
