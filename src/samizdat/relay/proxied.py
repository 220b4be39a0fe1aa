"""The relay's door behind a load balancer: the PROXY protocol from trusted addresses, refused from anyone else.

Theory of operation
-------------------

With ``[relay] trusted_proxies`` (or ``serve --trusted-proxy CIDR``), :func:`proxied_class` puts
:class:`ProxiedConnection` in front of the door's connection class (:mod:`samizdat.relay.door`, and
:mod:`samizdat.relay.bodies` when Blossom uploads are on), so it sees every byte first:

* A connection from a trusted address must begin with a PROXY protocol header (v1 or v2,
  :mod:`samizdat.relay.proxyproto`) within the relay's ``handshake_timeout``. Until the header is complete the
  connection is not counted at the door and ``websockets`` has not seen it; then it enters the door *as the
  client the header names*: :attr:`~samizdat.relay.door.GuardedConnection.ip` (every per-address cap, rate limit,
  Blossom bucket and refusal line), :attr:`remote_address` (the web app's login limiter, the photo preview, debug
  lines) are the client's. The bytes after the header go on as the start of the request. A connection from a
  trusted address without a header, with a malformed one, or that is too slow, is closed, and counted in the
  door's refusal summary (one line, at once for the first, then at most one a minute: a flood cannot fill the
  log).
* A connection from any other address that begins with a PROXY header is closed the same way: only the operator's
  balancers choose the address a connection counts as.
* A connection that came through a balancer is never "this machine": its carried address is limited even when it
  is a loopback address of the balancer's host, and it is shown what any remote reader is (no node key, no worker
  number). A health check (``LOCAL``, ``UNKNOWN``) counts as the balancer itself.

TLS: the header comes before the TLS handshake, so the relay's own TLS (``[web] tls_cert``) cannot be combined with
trusted proxies; terminate TLS at the balancer (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from samizdat.relay import proxyproto
from samizdat.relay.door import GuardedConnection, peer_ip

logger = logging.getLogger("samizdat.relay")

BAD_HEADER = "bad or missing PROXY protocol header from a trusted proxy"
NO_HEADER = "no PROXY protocol header in time"
UNTRUSTED_HEADER = "PROXY protocol header from an untrusted address"


class ProxiedConnection(GuardedConnection):
    """A door connection that reads the PROXY protocol header of trusted balancers first (see the module)."""

    trusted: tuple[proxyproto.Network, ...]  # set on the class by :func:`proxied_class`

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.proxied = False
        self.carried: tuple[str, int] | None = None
        self._screen = False  # an untrusted peer: look at its first bytes for a header
        self._header: bytearray | None = None  # a trusted peer's bytes until its header is complete
        self._entered = False  # counted by the door (so connection_lost must let it go)
        peer = transport.get_extra_info("peername")
        if not proxyproto.trusted(peer, self.trusted):
            self._screen = True
            self._entered = True
            super().connection_made(transport)
            return
        self.proxied = True
        self._header = bytearray()
        self._balancer = peer
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            self.door.limits.handshake_timeout, self._too_slow
        )

    def client_ip(self, transport: asyncio.BaseTransport) -> str | None:
        if not self.proxied:
            return super().client_ip(transport)
        if self.carried is None:  # a health check: the balancer itself
            return peer_ip(self._balancer)
        return peer_ip(self.carried, exempt_loopback=False)

    @property
    def remote_address(self) -> Any:
        if self.proxied:
            return self.carried if self.carried is not None else self._balancer
        return super().remote_address

    def data_received(self, data: bytes) -> None:
        if self._header is None:
            if self._screen:
                self._screen = False
                if not self.refused and proxyproto.looks_like_header(data[:16]):
                    self.door.refusals.count(UNTRUSTED_HEADER, self.ip)
                    self.transport.abort()
                    return
            super().data_received(data)
            return
        self._header += data
        try:
            header = proxyproto.parse(bytes(self._header))
        except proxyproto.ProxyProtocolError as exc:
            self._drop(BAD_HEADER, str(exc))
            return
        if header is None:
            return
        rest = bytes(self._header[header.length :])
        self._header = None
        self._cancel_timer()
        self.carried = header.source
        self._entered = True
        super().connection_made(self._raw)  # the door counts it now, as the client the header names
        if rest and not self._raw.is_closing():
            super().data_received(rest)

    def eof_received(self) -> None:
        if self._header is not None:
            self._raw.close()
            return
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._entered:  # no header, or a bad one (dropped): the door never counted it
            self._header = None
            self._cancel_timer()
            return
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._timer = None
        if self._header is not None:
            self._drop(NO_HEADER, "")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _drop(self, reason: str, detail: str) -> None:
        balancer = peer_ip(self._balancer, exempt_loopback=False)
        self.door.refusals.count(reason, balancer)
        if detail and logger.isEnabledFor(logging.DEBUG):
            logger.debug("connection from %s closed: %s", balancer, detail)
        self._header = None
        self._cancel_timer()
        self._raw.abort()


def proxied_class(base: type[GuardedConnection], trusted: tuple[proxyproto.Network, ...]) -> type[GuardedConnection]:
    """``base`` (the door's connection class) reading PROXY protocol headers from the ``trusted`` networks."""
    return type("ProxiedRelayConnection", (ProxiedConnection, base), {"trusted": trusted})
