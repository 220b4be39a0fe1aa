"""The relay's door: which TCP connections get in, and how refusals are logged.

Theory of operation
-------------------

Every TCP connection to the relay's port is counted from the moment it is accepted, whatever it turns out to be
(a WebSocket, a plain HTTP request, ``/op``, a TLS handshake, or nothing at all yet), until it is closed:
:class:`Door` holds the count, in all and per remote address (loopback is exempt from the per-address cap: local
processes are the operator's own). A connection over either cap is refused inside ``accept()`` itself
(:mod:`samizdat.relay.accept`): a canned ``503`` and a close, before asyncio builds a transport or ``websockets``
a connection for it, so a flood of connections costs the event loop a few system calls each. A trusted load
balancer's connection is judged later, by the client its PROXY header names (:mod:`samizdat.relay.proxied`):
:class:`GuardedConnection` counts it then, and refuses it over the caps with the same 503 (delivered before the
close, reading what the client still sends for a moment). The handshake itself (HTTP request, or WebSocket
upgrade) must be complete within ``handshake_timeout`` seconds of the accept.

When every place is taken, a newcomer is not simply refused: one device can give itself a hundred addresses on a
hub's Wi-Fi and hold every place with the per-address cap. :meth:`Door.make_room` closes the newest connection of
the address holding the most, if it holds more than the newcomer's address would, and lets the newcomer in.

Refusals and failures are not logged one by one, so an attack cannot fill the disk through the log:
:class:`RefusalLog` counts them by reason (and the address that caused the most) and writes at most one summary
line per ``interval``. ``websockets``' own log goes through :class:`QuietWsLog`: its line per connection is moved
to DEBUG, and its errors (each with a traceback) become counts in the same summary; a traceback is logged at
DEBUG.

:func:`open_file_budget` raises the process's open-file limit at start-up, as far as the hard limit allows, and
says how many connections fit in it.

The listening socket's queue (:data:`samizdat.relay.accept.BACKLOG`) and how many refusals one turn of the event
loop makes are explained in :mod:`samizdat.relay.accept`.

An address over its rate of new connections (:meth:`Door.arrival`) is in the penalty box for
:data:`PENALTY_SECONDS` (:meth:`Door.in_box`): :mod:`samizdat.relay.accept` holds its connections unanswered until
then, so that a device flooding with connections that wait for their answer waits instead of coming back at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, MutableMapping
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode

from samizdat.relay.limits import RelayLimits
from samizdat.relay.outgoing import Outgoing

logger = logging.getLogger("samizdat.relay")

#: File descriptors kept for everything but client connections (the store, peer links, sync, logs).
FD_RESERVE = 1024
#: How long a refused connection is kept to deliver its 503 (reading and discarding what it sends)...
LINGER_SECONDS = 2.0
#: ... unless this many already linger: then it is closed at once.
MAX_LINGERING = 256

REFUSED_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 39\r\n"
    b"Retry-After: 10\r\nConnection: close\r\n\r\nToo many connections, try again later.\n"
)

# Reasons, as the summary line says them.
OVER_ADDRESS = "over the per-address limit"
OVER_TOTAL = "over the connection limit"
SLOW_HANDSHAKE = "handshake not complete in time"
BAD_REQUEST = "bad HTTP or WebSocket request"
FAILED = "failed in the server"
NOT_READING = "sent while not reading our answers"
CONTROL_FLOOD = "sent pings or pongs too fast"
MADE_ROOM = "closed to make room for another address"
OVER_RATE = "new connections too fast from one address"
#: Addresses whose rate of new connections is remembered; past it, the one not heard of longest is forgotten.
MAX_TRACKED = 4096
#: How long an address over its rate of new connections stays "in the box": its connections are then closed at
#: accept with a reset and no answer, and held first if there is room (relay/accept.py).
PENALTY_SECONDS = 1.0


def peer_ip(peername: Any, *, exempt_loopback: bool = True) -> str | None:
    """Whom a socket's peer counts as for the per-address limits: its IPv4 address (also when IPv4-mapped), the
    /64 network of an IPv6 address (one device picks addresses from its /64 at will), or None for loopback (never
    limited per address, unless not ``exempt_loopback``: a client a load balancer relays) and unknown peers."""
    try:
        ip = ipaddress.ip_address(str(peername[0]).split("%", 1)[0])
    except (TypeError, IndexError, ValueError):
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback and exempt_loopback:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def shut_down(fd: int) -> None:
    """Shut both ways the socket ``fd`` that asyncio holds (it is not closed here: its transport then reads the
    end, the connection ends as if its client had gone, and closing the socket is left to it). Never raises."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


def open_file_budget(max_connections: int) -> int:
    """Raise the soft open-file limit towards ``max_connections`` + :data:`FD_RESERVE` (as far as the hard limit
    allows), log what was done, and return how many client connections fit."""
    try:
        import resource
    except ImportError:  # not on this system: trust the operator's limits
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if new > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            except (ValueError, OSError) as exc:
                logger.warning("could not raise the open-file limit from %d: %s", soft, exc)
            else:
                logger.info("open-file limit raised from %d to %d (for %d connections)", soft, new, max_connections)
                soft = new
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return max_connections
    fits = max(16, soft - FD_RESERVE)
    logger.warning(
        "the open-file limit is %d (hard limit %d): accepting at most %d connections instead of %d",
        soft,
        hard,
        fits,
        max_connections,
    )
    return fits


class RefusalLog:
    """Counts refused and failed connections by reason and logs one summary line per ``interval`` seconds."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.counts: Counter[str] = Counter()  # since the last summary
        self.by_ip: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()  # since start (for tests and status)
        self._last = -float("inf")
        self._timer: asyncio.TimerHandle | None = None

    def count(self, reason: str, ip: str | None = None) -> None:
        self.counts[reason] += 1
        self.totals[reason] += 1
        if ip is not None and len(self.by_ip) < 10_000:  # bounded: a flood from many addresses cannot grow it
            self.by_ip[ip] += 1
        now = self.clock()
        if now - self._last >= self.interval:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self._last + self.interval - now, self.flush)

    def flush(self) -> None:
        """Log what was counted since the last summary (nothing if nothing was)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.counts:
            return
        self._last = self.clock()
        total = sum(self.counts.values())
        parts = ", ".join(f"{n:,} {reason}" for reason, n in self.counts.most_common())
        worst = ""
        if self.by_ip:
            ip, n = self.by_ip.most_common(1)[0]
            # A LAN address names a device on the hub's Wi-Fi, which a seized hub's log must not (docs/safety.md,
            # "What the log says"); the operator who wants to block it runs with -v.
            who = ip if logger.isEnabledFor(logging.DEBUG) else "one address"
            worst = f"; most from {who} ({n:,})"
        plural = "" if total == 1 else "s"
        logger.warning("refused or dropped %s connection%s: %s%s", f"{total:,}", plural, parts, worst)
        self.counts.clear()
        self.by_ip.clear()


class QuietWsLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``websockets``' logger for the relay: per-connection lines go to DEBUG, errors to :class:`RefusalLog`."""

    def __init__(self, logger: logging.Logger, refusals: RefusalLog) -> None:
        super().__init__(logger, {})
        self.refusals = refusals

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level >= logging.WARNING:
            self.refusals.count(FAILED)
            if self.logger.isEnabledFor(logging.DEBUG):
                self.logger.debug(msg, *args, **kwargs)
            return
        if self.logger.isEnabledFor(logging.DEBUG):
            kwargs.pop("exc_info", None)
            self.logger.debug(msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


class Door:
    """Counts open TCP connections, in all and per remote address, and says whether one more may come in."""

    def __init__(self, limits: RelayLimits, refusals: RefusalLog, max_connections: int | None = None) -> None:
        self.limits = limits
        self.refusals = refusals
        self.max_connections = limits.max_connections if max_connections is None else max_connections
        self.open = 0
        self.per_ip: dict[str, int] = {}
        #: The addresses holding each number of places, and the sockets counted at accept of each address in the
        #: order they came: :meth:`make_room` finds the heaviest address's newest in a few steps, not by going
        #: through every address and connection (a newcomer to a full node must cost no more than its accept).
        self._holding: dict[int, set[str]] = {}
        self._fds: dict[str, dict[int, None]] = {}
        self.lingering: set[asyncio.Transport] = set()  # refused connections still delivering their 503
        #: Connections counted at accept (relay/accept.py), by file descriptor, until their socket is closed.
        self.accepted: dict[int, str | None] = {}
        #: The bodies of plain HTTP answers on their way out, until their connection is gone (relay/outgoing.py).
        self.outgoing = Outgoing(limits.max_http_answer_bytes_per_ip, limits.max_http_answer_bytes)
        #: address -> (new connections it may still open, as of when): see :meth:`arrival`.
        self._arrivals: OrderedDict[str, tuple[float, float]] = OrderedDict()
        #: address -> until when its new connections are closed unheard (:meth:`in_box`), oldest first.
        self.boxed: dict[str, float] = {}
        self.clock: Callable[[], float] = time.monotonic

    def arrival(self, ip: str | None) -> bool:
        """Whether ``ip`` (None: loopback, never limited) may open one more connection now, and count it. Each
        plain HTTP request is a connection of its own (the web app's files, photos, the phone's share), about
        0.3-0.6 ms of the event loop before any answer: one device opening them as fast as it could (2,700 a
        second) kept 0.8 of a core busy (bench/reqcost.py). A refusal here costs the few system calls of
        relay/accept.py. ``connections_per_ip_per_second``, burst ``connections_per_ip_burst``."""
        if ip is None:
            return True
        rate, burst = self.limits.address_connection_rate
        now = self.clock()
        tokens, stamp = self._arrivals.pop(ip, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - stamp) * rate)
        allowed = tokens >= 1.0
        self._arrivals[ip] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._arrivals) > MAX_TRACKED:
            del self._arrivals[next(iter(self._arrivals))]
        if not allowed:
            self.box(ip, now)
        return allowed

    def box(self, ip: str, now: float) -> None:
        """Put ``ip`` in the penalty box for :data:`PENALTY_SECONDS` from ``now``."""
        self.boxed[ip] = now + PENALTY_SECONDS
        if len(self.boxed) > MAX_TRACKED:
            del self.boxed[next(iter(self.boxed))]

    def in_box(self, ip: str | None) -> bool:
        """Whether ``ip`` went over its rate of new connections less than :data:`PENALTY_SECONDS` ago: its
        connections are then closed at accept without a word (relay/accept.py), before the rate is asked."""
        if ip is None or not self.boxed:
            return False
        until = self.boxed.get(ip)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self.boxed[ip]
        return False

    def admit(self, ip: str | None) -> str | None:
        """Count a new connection from ``ip`` (None: loopback) and return None, or the reason it is refused. When
        every place is taken, one of the address holding the most is closed for it, if that address holds more
        than ``ip`` would (:meth:`make_room`), and past the address's rate of new connections (:meth:`arrival`)."""
        over_address = ip is not None and self.per_ip.get(ip, 0) >= self.limits.max_connections_per_ip
        if over_address:
            return OVER_TOTAL if self.open >= self.max_connections else OVER_ADDRESS
        if not self.arrival(ip):  # before make_room: no one's connection is closed for a refused newcomer
            return OVER_RATE
        if self.open >= self.max_connections and not self.make_room(ip):
            return OVER_TOTAL
        self.open += 1
        if ip is not None:
            self._hold(ip, self.per_ip.get(ip, 0) + 1)
        return None

    def counted(self, fd: int, ip: str | None) -> None:
        """The socket ``fd`` admitted at accept for ``ip`` (relay/accept.py): it holds its place until
        :meth:`release`."""
        self.accepted[fd] = ip
        if ip is not None:
            self._fds.setdefault(ip, {})[fd] = None

    def _hold(self, ip: str, count: int) -> None:
        """``ip`` now holds ``count`` places (0: none)."""
        before = self.per_ip.get(ip, 0)
        if before:
            same = self._holding.get(before)
            if same is not None:
                same.discard(ip)
                if not same:
                    del self._holding[before]
        if count > 0:
            self.per_ip[ip] = count
            self._holding.setdefault(count, set()).add(ip)
        else:
            self.per_ip.pop(ip, None)

    def make_room(self, ip: str | None) -> bool:
        """Every place is taken: close the newest connection counted at accept of the address holding the most, if
        it holds more than ``ip`` would with one more (loopback holds none), and say whether one was closed.

        Why: one device on a hub's Wi-Fi can give itself as many addresses as the network has free (158 addresses
        of 64 connections each held all 10,000 places, and every phone got 503), so a cap per address alone does
        not keep a place for a newcomer. The newcomer takes one from whoever holds the most; shares even out, and
        a device that holds more than anyone keeps losing the difference to newcomers. Its socket is shut here
        (its connection then ends as any other does) and stops counting at once."""
        held = self.per_ip.get(ip, 0) if ip is not None else 0
        for count in sorted(self._holding, reverse=True):  # at most max_connections_per_ip numbers
            if count <= held + 1:
                return False
            # An address whose connections came through a trusted balancer has none counted at accept: not ours
            # to close here.
            heaviest = next((a for a in self._holding[count] if self._fds.get(a)), None)
            if heaviest is not None:
                fd = next(reversed(self._fds[heaviest]))
                self.release(fd)
                self.refusals.count(MADE_ROOM, heaviest)
                shut_down(fd)
                return True
        return False

    def leave(self, ip: str | None) -> None:
        self.open -= 1
        if ip is not None:
            self._hold(ip, self.per_ip.get(ip, 1) - 1)

    def release(self, fd: int) -> None:
        """The connection counted at accept as ``fd`` is closed: give its place back (once)."""
        if fd in self.accepted:
            ip = self.accepted.pop(fd)
            if ip is not None and (fds := self._fds.get(ip)) is not None:
                fds.pop(fd, None)
                if not fds:
                    del self._fds[ip]
            self.leave(ip)

    def close(self) -> None:
        """Abort the refused connections still lingering (the server is stopping)."""
        for transport in list(self.lingering):
            transport.abort()

    def connection_class(self) -> type[ServerConnection]:
        """A :class:`GuardedConnection` class that counts at this door (``serve(create_connection=...)``)."""
        return type("RelayConnection", (GuardedConnection,), {"door": self})


class GuardedConnection(ServerConnection):
    """A ``websockets`` server connection that asks its :class:`Door` before anything else happens."""

    door: Door  # set on the class by Door.connection_class
    #: Bytes the transport may hold unsent before the connection is dropped (None: no bound). The relay sets it on
    #: its own connections: everything it sends goes through its bounded queue, but ``websockets`` answers each
    #: ping with a pong written straight to the transport, so a client that sends pings and never reads would
    #: have the pongs pile up in memory without end.
    write_cap: int | None = None
    #: Pings and pongs a client may send in one second; one more and it is dropped. A client pings every few seconds
    #: at most and answers our ping every 30 s; each such frame costs the event loop a parse (and a ping a pong),
    #: and a flood of empty ones from a few connections, which no other bound counts, kept the loop busy.
    control_frames_per_second: int = 50

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.refused = False
        self.controls, self.controls_since = 0, 0.0
        self.ip = self.client_ip(transport)
        self.opened = time.monotonic()
        door = self.door
        sock = transport.get_extra_info("socket")
        # Counted at accept (relay/accept.py) until its socket closes; else (a trusted balancer's client) now.
        self.counted_at_accept = sock is not None and sock.fileno() in door.accepted
        reason = None if self.counted_at_accept else door.admit(self.ip)
        if reason is None:
            super().connection_made(transport)
            return
        self.refused = True
        self.lingers: asyncio.TimerHandle | None = None
        assert isinstance(transport, asyncio.Transport)
        self.raw_transport = transport
        door.refusals.count(reason, self.ip)
        transport.write(REFUSED_RESPONSE)
        if len(door.lingering) >= MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        # Half-close after the 503 and read (and drop) what the client sends until it closes, so that its
        # request arriving late does not turn our 503 into a reset; abort if it takes too long.
        try:
            transport.write_eof()
        except OSError:  # the client already reset the connection: nothing to deliver (not a traceback per flood)
            transport.abort()
            return
        door.lingering.add(transport)
        self.lingers = asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.abort)

    def client_ip(self, transport: asyncio.BaseTransport) -> str | None:
        """Whom the connection counts as (:func:`peer_ip` of its peer; relay/proxied.py: the client a balancer
        names)."""
        return peer_ip(transport.get_extra_info("peername"))

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        super().data_received(data)
        cap = self.write_cap
        if cap is not None and self.transport.get_write_buffer_size() > cap and not self.transport.is_closing():
            self.door.refusals.count(NOT_READING, self.ip)
            self.transport.abort()

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode in (Opcode.PING, Opcode.PONG):
            now = time.monotonic()
            if now - self.controls_since >= 1.0:
                self.controls, self.controls_since = 0, now
            self.controls += 1
            if self.controls > self.control_frames_per_second:
                if not self.transport.is_closing():
                    self.door.refusals.count(CONTROL_FLOOD, self.ip)
                    self.transport.abort()
                return
        super().process_event(event)

    def eof_received(self) -> None:
        if self.refused:
            self.raw_transport.close()
            return
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refused:
            if self.lingers is not None:
                self.lingers.cancel()
                self.door.lingering.discard(self.raw_transport)
            return
        door = self.door
        door.outgoing.release(self)
        if not self.counted_at_accept:
            door.leave(self.ip)
        failure = self.protocol.handshake_exc
        if self.response is None and failure is None:
            if time.monotonic() - self.opened >= door.limits.handshake_timeout * 0.95:
                door.refusals.count(SLOW_HANDSHAKE, self.ip)
            # else it went away before asking anything (a browser's preconnect, a port scan): not worth a line
        elif failure is not None and not isinstance(failure.__cause__, EOFError):
            door.refusals.count(BAD_REQUEST, self.ip)
        super().connection_lost(exc)
