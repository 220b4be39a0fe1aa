"""Transports: how a TCP connection to a relay is made. Direct, SOCKS5 (Tor, Psiphon, any), HTTP CONNECT.

Theory of operation: a :class:`Transport` does one thing, :meth:`Transport.open`: give back a connected
non-blocking socket to ``host:port``, through whatever it tunnels through. Everything above (TLS, the WebSocket
upgrade, DNS over TCP for netcheck's control path) runs on that socket and does not care how it was made, so
every transport passes the same test suite (``tests/net/test_transports.py``).

A transport is written as a short string, in the configuration file and on the command line:

========================== ======================================================================================
``direct``                 a plain TCP connection; names resolved by this machine's resolver
``socks5h://HOST:PORT``    SOCKS5, the proxy resolves names (what Tor and Psiphon want; no DNS leaks here)
``socks5://HOST:PORT``     SOCKS5, names resolved here and the proxy given an address
``socks4a://`` ``socks4://`` the same for SOCKS4 proxies
``http://HOST:PORT``       an HTTP proxy, through ``CONNECT`` (the proxy resolves names)
``tor``                    Tor's SOCKS port (``[transports] tor``, by default ``socks5h://127.0.0.1:9050``)
========================== ======================================================================================

``user:password@`` may precede a proxy's address. ``.onion`` names are refused by ``direct`` and by proxies that
would resolve them here: they only work through Tor.

Errors: :meth:`Transport.open` raises :class:`~samizdat.errors.BrokenTransport` with the cause chained: an
``OSError`` (``ConnectionRefusedError``, ``TimeoutError``...) for a direct connection, a
:class:`ProxyRefused` (carrying the proxy's reply code) when the proxy could not reach the target. A proxy
transport makes the TCP connection to the proxy itself, so a time-out says which side stalled: a proxy that
accepted the connection and then reached nothing (Tor running without a circuit) is told from one that does
not answer. Messages never show a proxy's ``user:password@``.

Names: a transport with ``remote_dns`` (``socks5h``, ``socks4a``, ``http``, ``tor``) sends the relay's name to
the proxy and never asks this machine's resolver about it; ``direct``, ``socks5`` and ``socks4`` resolve here.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl as ssl_module
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from samizdat.errors import BrokenTransport, UsageError

DEFAULT_TOR = "socks5h://127.0.0.1:9050"
MAX_CONNECT_RESPONSE = 16 * 1024


class ProxyRefused(OSError):
    """The proxy is reachable but could not (or would not) reach the target. ``code``: SOCKS reply code or HTTP
    status; ``reason`` one of ``refused``, ``unreachable``, ``timeout``, ``error``."""

    def __init__(self, message: str, code: int, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


@dataclass
class Attempt:
    """How far one :meth:`Transport.open` got: whether the proxy (if any) accepted the TCP connection."""

    proxy_answered: bool = False


def redacted(spec: str) -> str:
    """``spec`` without a ``user:password@`` (for messages, logs and what is stored about routes)."""
    scheme, sep, rest = spec.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return spec
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


class Transport(ABC):
    """Opens TCP connections to ``host:port``. ``spec`` is the transport's string form (see the module)."""

    spec: str
    #: True when names are resolved by the proxy, not here (so a censor's resolver is never asked).
    remote_dns: bool = False
    #: True when this is Tor's SOCKS port (the ``tor`` transport): its silences are explained as Tor's.
    tor: bool = False

    @abstractmethod
    async def _open(self, host: str, port: int, attempt: Attempt | None = None) -> socket.socket: ...

    async def open(self, host: str, port: int, *, timeout: float = 15.0) -> socket.socket:
        """A connected, non-blocking socket to ``host:port``; raise :class:`BrokenTransport` within ``timeout``."""
        if host.endswith(".onion") and not self.remote_dns:
            raise BrokenTransport(
                f"{host} is a Tor onion address: reach it through Tor (--via tor, or a socks5h:// proxy)"
            )
        attempt = Attempt()
        try:
            async with asyncio.timeout(timeout):
                return await self._open(host, port, attempt)
        except TimeoutError as exc:
            stalled = self._stalled(host, port, attempt, timeout)
            raise BrokenTransport(f"{self.describe(host, port)}: {stalled}") from exc
        except OSError as exc:
            raise BrokenTransport(f"{self.describe(host, port)}: {exc.strerror or exc}") from exc

    def _stalled(self, host: str, port: int, attempt: Attempt, timeout: float) -> str:
        if not attempt.proxy_answered:
            return f"timed out after {timeout:.0f} s"
        if self.tor:
            return (
                f"Tor is running but has no circuit: {host}:{port} not reached within {timeout:.0f} s (Tor may not "
                "reach its network from here; bridges may help)"
            )
        return f"the proxy answered but did not reach {host}:{port} within {timeout:.0f} s"

    def describe(self, host: str, port: int) -> str:
        where = f"{host}:{port}"
        return f"connecting to {where}" if self.spec == "direct" else f"connecting to {where} via {redacted(self.spec)}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redacted(self.spec)}>"


class Direct(Transport):
    spec = "direct"

    async def _open(self, host: str, port: int, attempt: Attempt | None = None) -> socket.socket:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        last: OSError | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, address)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
            except BaseException:
                sock.close()
                raise
        raise last or OSError(f"no address for {host}")


@dataclass(frozen=True)
class _ProxyAddress:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None


def _proxy_address(spec: str, default_port: int) -> _ProxyAddress:
    try:
        parts = urlsplit(spec)
        port = parts.port or default_port
    except ValueError as exc:
        raise UsageError(f"{redacted(spec)!r} is not a proxy address: {exc}") from exc
    if not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise UsageError(
            f"{redacted(spec)!r} is not a proxy address such as socks5h://127.0.0.1:9050 or http://proxy:3128"
        )
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return _ProxyAddress(parts.scheme, parts.hostname, port, user, password)


class Socks(Transport):
    """SOCKS4/4a/5/5h through ``python-socks``; the TCP connection to the proxy is ours (see :class:`_FirstHop`)."""

    def __init__(self, spec: str, *, tor: bool = False) -> None:
        self.spec = spec
        self.address = _proxy_address(spec, 1080)
        self.remote_dns = self.address.scheme in ("socks5h", "socks4a")
        self.tor = tor

    async def _open(self, host: str, port: int, attempt: Attempt | None = None) -> socket.socket:
        from python_socks import ProxyError, ProxyType
        from python_socks.async_.asyncio import Proxy

        kind = ProxyType.SOCKS5 if self.address.scheme.startswith("socks5") else ProxyType.SOCKS4
        proxy = Proxy(
            kind,
            self.address.host,
            self.address.port,
            username=self.address.username,
            password=self.address.password,
            rdns=self.remote_dns,
            forward=cast(Any, _FirstHop(attempt or Attempt())),
        )
        try:
            sock: socket.socket = await proxy.connect(host, port, timeout=1e9)  # our own timeout bounds it
        except ProxyError as exc:
            code = int(getattr(exc, "error_code", 0) or 0)
            reason = {5: "refused", 3: "unreachable", 4: "unreachable", 6: "timeout"}.get(code, "error")
            raise ProxyRefused(f"the proxy {self.address.host}:{self.address.port} says: {exc}", code, reason) from exc
        sock.setblocking(False)
        return sock


class _FirstHop:
    """python-socks's ``forward`` hook (meant for proxy chains), used to make the TCP connection to the proxy
    ourselves, so that :meth:`Transport.open` knows whether the proxy answered when the whole attempt times out."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt

    async def connect(self, dest_host: str, dest_port: int, timeout: float | None = None, **_: Any) -> socket.socket:
        try:
            sock = await Direct()._open(dest_host, dest_port)  # the proxy's own address, never the relay's
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise OSError(exc.errno, f"the proxy {dest_host}:{dest_port} does not answer ({reason})") from exc
        self.attempt.proxy_answered = True
        return sock


class HttpConnect(Transport):
    """An HTTP proxy's ``CONNECT host:port``, spoken by hand on the socket (the answer is read up to the blank
    line and no further, so nothing of the tunnelled stream is lost)."""

    remote_dns = True

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.address = _proxy_address(spec, 8080)

    async def _open(self, host: str, port: int, attempt: Attempt | None = None) -> socket.socket:
        loop = asyncio.get_running_loop()
        sock = await Direct()._open(self.address.host, self.address.port)
        if attempt is not None:
            attempt.proxy_answered = True
        try:
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
            if self.address.username is not None:
                token = f"{self.address.username}:{self.address.password or ''}".encode()
                request += f"Proxy-Authorization: Basic {base64.b64encode(token).decode()}\r\n"
            await loop.sock_sendall(sock, (request + "\r\n").encode("latin-1"))
            answer = b""
            while not answer.endswith(b"\r\n\r\n"):
                byte = await loop.sock_recv(sock, 1)
                if not byte:
                    raise ConnectionResetError(f"the proxy {self.address.host} closed the connection")
                answer += byte
                if len(answer) > MAX_CONNECT_RESPONSE:
                    raise ProxyRefused(f"the proxy {self.address.host} sent an endless answer", 0, "error")
            status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
            fields = status_line.split(" ", 2)
            status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
            if status // 100 != 2:
                reason = {502: "unreachable", 503: "refused", 504: "timeout"}.get(status, "error")
                raise ProxyRefused(f"the proxy {self.address.host} says: {status_line}", status, reason)
            return sock
        except BaseException:
            sock.close()
            raise


def parse_transport(spec: str, *, tor: str = DEFAULT_TOR) -> Transport:
    """The transport a string names; raise :class:`UsageError` with one sentence if it names none."""
    text = spec.strip()
    if text == "direct":
        return Direct()
    if text == "tor":
        text, spec = tor.strip(), tor
        if text in ("tor", "direct"):
            raise UsageError(f"transports.tor is {tor!r}: give Tor's SOCKS port, such as {DEFAULT_TOR}")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("socks5h", "socks5", "socks4a", "socks4"):
        return Socks(text, tor=text == tor.strip())
    if scheme == "http":
        return HttpConnect(text)
    raise UsageError(
        f"{redacted(spec)!r} is not a transport: use direct, tor, socks5h://HOST:PORT, socks5://HOST:PORT or "
        "http://HOST:PORT"
    )


def failure_reason(exc: BaseException) -> str:
    """A step outcome (``timeout``, ``refused``, ``reset``, ``unreachable``, ``error``) for a transport's error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ProxyRefused):
            return cause.reason
        if isinstance(cause, TimeoutError):
            return "timeout"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
            return "reset"
        if isinstance(cause, OSError) and cause.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
            return "unreachable"
        cause = cause.__cause__ or cause.__context__
    return "error"


async def http_get(
    transport: Transport,
    host: str,
    port: int,
    secure: bool,
    target: str,
    accept: str,
    *,
    limit: int,
    timeout: float,
    ssl: ssl_module.SSLContext | None = None,
    peer_allowed: Callable[[str], bool] | None = None,
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send ``GET target`` (``Connection: close``) to ``host``:``port`` through ``transport``, TLS when ``secure``;
    return the answer's head (up to the blank line, at most ``limit`` bytes) with the reader for its body and the
    writer, which the caller closes. With ``peer_allowed``, a direct connection whose peer address it refuses is
    closed before anything is sent. Raises OSError, TimeoutError or asyncio's stream errors."""
    sock = await transport.open(host, port, timeout=timeout)
    try:
        if peer_allowed is not None and transport.spec == "direct" and not peer_allowed(sock.getpeername()[0]):
            raise OSError(f"{host} resolves to {sock.getpeername()[0]}, an address photos are never fetched from")
        context = (ssl or ssl_module.create_default_context()) if secure else None
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=context, server_hostname=host if secure else None, limit=limit
        )
    except BaseException:
        sock.close()
        raise
    try:
        name = f"[{host}]" if ":" in host else host
        authority = name if port == (443 if secure else 80) else f"{name}:{port}"
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {authority}\r\nAccept: {accept}\r\n"
            "User-Agent: samizdat\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode("latin-1"))
        await writer.drain()
        return await reader.readuntil(b"\r\n\r\n"), reader, writer
    except BaseException:
        writer.close()
        raise
