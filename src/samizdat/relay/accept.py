"""The relay's listening sockets: connections over the caps are refused at ``accept()``, before asyncio builds
anything for them.

Theory of operation
-------------------

asyncio's server calls ``accept()`` on its listening socket when the socket is readable, then builds a transport,
a protocol (``websockets``' connection) and a task for every connection it got: about 180 µs of the event loop
each, before :class:`~samizdat.relay.door.GuardedConnection` could refuse one. Under a flood of connections from
one address that cost kept the loop from emptying the kernel's listen queue, the queue overflowed, and the kernel
dropped honest clients' SYNs, which then waited a second for their retransmit.

:class:`DoorSocket` is the listening socket given to asyncio. Its :meth:`~DoorSocket.accept` takes connections off
the kernel's queue in a tight loop and asks the :class:`~samizdat.relay.door.Door` about each one's peer (the same
:func:`~samizdat.relay.door.peer_ip` and caps as before):

* Over the per-address cap, or the total when no address holds more than the newcomer's would
  (:meth:`~samizdat.relay.door.Door.make_room` closes one of the address holding the most otherwise), the
  connection is answered there and then (:func:`refuse`): the canned
  ``503`` written without waiting (not on a TLS port: the client expects a handshake), the sending side shut
  (FIN), the socket closed. A few system calls and no
  Python object that outlives the call; the kernel delivers the 503 and finishes the close on its own. A client
  whose request was already in is reset after its 503 (the FIN comes first, so it still reads the 503 and then
  the end of the stream). The loop goes on with the next connection in the queue.
* Admitted, it is returned to asyncio as an :class:`AdmittedSocket` and goes on as before (transport, TLS
  handshake, websockets). The door counts it from this accept until the socket is closed: :class:`AdmittedSocket`
  gives its place back in ``close()``, however the connection ends (a failed TLS handshake included, which never
  reaches a protocol), and ``GuardedConnection`` does not count it a second time.
* From a trusted load balancer (``[relay] trusted_proxies``) nothing is judged here: the connection counts as the
  client its PROXY header names, once the header has come (:mod:`samizdat.relay.proxied`).
* From an address in the penalty box (over its rate of new connections less than
  :data:`~samizdat.relay.door.PENALTY_SECONDS` ago: :meth:`~samizdat.relay.door.Door.in_box`) the connection is not
  judged again: it is held, unread and unanswered, until the address's second is over and then refused as above
  (:data:`MAX_HELD` at most per listening socket), or, when that many are held, closed at once with a reset
  (``SO_LINGER`` 0, not a byte written). Refusing at once only made a device that waits for its answers come back
  faster: 16 threads of one device opened 7,000 to 11,000 connections a second, a third of a core of refusals that
  delayed every other connection's turn; held, they wait (bench/reqcost.py, docs/benchmarks.md "A flood of
  refused connections"). A held connection costs a file descriptor and no CPU.

Bounds: one turn of the event loop refuses at most :data:`REFUSALS_PER_TURN` connections (a few ms), then
leaves the rest in the queue for the next turn, so a flood faster than the relay can refuse still lets every
other connection have its turn. A device that reconnects as soon as it is refused is back in the queue before the
turn is over: with 1,024 a turn, such a flood was refused in runs of up to 1,024 in a row (40 ms) while another
reader waited; 64 halved that reader's p95 (docs/benchmarks.md, "A flood of refused connections"), and a queue of a
thousand takes 16 short turns. The listen queue holds :data:`BACKLOG` connections (the kernel caps it at
``net.core.somaxconn``): refused at about 40 µs of CPU each (most of it the kernel's TCP work), a full queue is
emptied in a fraction of a second, while a connection the kernel drops for want of room waits a second for its
retransmit; with asyncio's queue of 100 the flood still overflowed it thousands of times per attack. The queue
matters most after the loop was busy for a while (a publisher's batch of 1,000 events): about a thousand flood
connections had piled up then, refused in the next turn. Closing
with a reset (``SO_LINGER 0``) instead of the FIN cost the same and would lose the 503 for a client whose request
arrives late. ``bench/hostile.py``'s connection
flood measured both choices (docs/benchmarks.md, "Hostile network").
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import deque
from typing import Any

from samizdat.relay import door as door_module
from samizdat.relay import proxyproto
from samizdat.relay.door import OVER_RATE, PENALTY_SECONDS, REFUSED_RESPONSE, Door

#: The listen queue asked of the kernel (``listen(BACKLOG)``; also how many connections asyncio takes per turn).
BACKLOG = 4096
#: Connections refused in one turn of the event loop at most; the rest wait in the queue for the next turn.
REFUSALS_PER_TURN = 64
#: Connections of addresses in the penalty box held (unread, unanswered) until the box's time is over, then
#: refused as usual, per listening socket; past this many a connection of the box is reset at once.
MAX_HELD = 256
#: ``SO_LINGER`` on, 0 seconds: ``close()`` sends a reset and frees the socket at once.
_LINGER_ZERO = struct.pack("ii", 1, 0)


def refuse(fd: int, family: int, kind: int, proto: int, answer: bytes = REFUSED_RESPONSE) -> None:
    """Answer the accepted connection ``fd`` with ``answer`` (the canned 503; nothing on a TLS port, where a
    plain-text answer would only be a handshake error) and close it at once (never blocks, never raises: a
    connection already reset by its client just closes)."""
    sock = socket.socket(family, kind, proto, fileno=fd)
    try:
        if answer:
            sock.send(answer, socket.MSG_DONTWAIT)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        sock.close()


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (``SO_LINGER`` 0): no answer, nothing left in the kernel. Never raises."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    except OSError:
        pass
    finally:
        sock.close()


class AdmittedSocket(socket.socket):
    """A connection the door counted at accept; closing it gives its place back (once)."""

    door: Door

    def close(self) -> None:
        fd = self.fileno()
        if fd >= 0:
            self.door.release(fd)
        super().close()


class DoorSocket(socket.socket):
    """A listening socket whose ``accept()`` refuses connections over the door's caps (see the module)."""

    door: Door
    trusted: tuple[proxyproto.Network, ...]
    answer: bytes
    _refused_this_turn: int
    _new_turn_due: bool
    _held: deque[tuple[float, socket.socket]]
    _sweep_due: bool

    @classmethod
    def take(
        cls, sock: socket.socket, door: Door, trusted: tuple[proxyproto.Network, ...] = (), *, tls: bool = False
    ) -> DoorSocket:
        """Take over ``sock`` (bound, perhaps listening; ``sock`` is detached and must not be used any more) for
        ``door``; ``trusted``: the balancers whose PROXY header is judged instead; ``tls``: the port speaks TLS."""
        taken = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        taken.door = door
        taken.trusted = trusted
        taken.answer = b"" if tls else REFUSED_RESPONSE
        taken._refused_this_turn = 0
        taken._new_turn_due = False
        taken._held = deque()
        taken._sweep_due = False
        return taken

    def accept(self) -> tuple[socket.socket, Any]:
        """The next connection the door admits (or one from a trusted balancer). Raises BlockingIOError when the
        queue is empty, or when this turn of the event loop has refused its share (the rest come next turn)."""
        door = self.door
        family, kind, proto = self.family, self.type, self.proto
        while self._refused_this_turn < REFUSALS_PER_TURN:
            fd, addr = self._accept()  # type: ignore[attr-defined]  # BlockingIOError when the queue is empty
            # The kernel reuses a number only after its socket was closed: a place still held under this one
            # belongs to a connection that was closed without close() being called (collected), so give it back.
            door.release(fd)
            if self.trusted and proxyproto.trusted(addr, self.trusted):
                return socket.socket(family, kind, proto, fileno=fd), addr  # judged by its PROXY header later
            ip = door_module.peer_ip(addr)
            if door.in_box(ip):  # over its rate a moment ago: not a byte written, not asked again
                self._hold(socket.socket(family, kind, proto, fileno=fd))
                door.refusals.count(OVER_RATE, ip)
                self._count_refusal()
                continue
            reason = door.admit(ip)
            if reason is None:
                admitted = AdmittedSocket(family, kind, proto, fileno=fd)
                admitted.door = door
                door.counted(fd, ip)
                return admitted, addr
            refuse(fd, family, kind, proto, self.answer)
            door.refusals.count(reason, ip)
            self._count_refusal()
        raise BlockingIOError("this turn's refusals are done; the rest wait in the listen queue")

    def _count_refusal(self) -> None:
        self._refused_this_turn += 1
        if not self._new_turn_due:
            self._new_turn_due = True
            asyncio.get_running_loop().call_soon(self._new_turn)

    def _new_turn(self) -> None:
        self._refused_this_turn = 0
        self._new_turn_due = False

    def _hold(self, sock: socket.socket) -> None:
        """Keep ``sock`` (of an address in the penalty box) open, unread, until its address's time in the box is
        over, then refuse it (the 503); reset it at once when :data:`MAX_HELD` are held."""
        if len(self._held) >= MAX_HELD:
            reset(sock)
            return
        self._held.append((self.door.clock() + PENALTY_SECONDS, sock))
        if not self._sweep_due:
            self._sweep_due = True
            asyncio.get_running_loop().call_later(PENALTY_SECONDS / 4, self._sweep)

    def _sweep(self) -> None:
        """Refuse the held connections whose time is over; come back while some are held."""
        now = self.door.clock()
        held = self._held
        while held and held[0][0] <= now:
            refuse(held.popleft()[1].detach(), self.family, self.type, self.proto, self.answer)
        self._sweep_due = bool(held)
        if held:
            asyncio.get_running_loop().call_later(PENALTY_SECONDS / 4, self._sweep)

    def close(self) -> None:
        held = getattr(self, "_held", None)
        while held:
            reset(held.popleft()[1])
        super().close()


def listening_sockets(host: str | None, port: int) -> list[socket.socket]:
    """Bound (not yet listening) TCP sockets for ``host`` (every address it resolves to; None or "": all
    interfaces) and ``port`` (0: a free port, the same for every address), as asyncio's ``create_server`` makes
    them. Raises OSError (``EADDRINUSE`` and the like)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    made: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _name, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio: "::" is IPv6 only
            if port == 0 and len(made) > 1:  # one free port for every address
                address = (address[0], made[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.setblocking(False)
    except BaseException:
        for sock in made:
            sock.close()
        raise
    return made
