"""``samizdat netcheck``: measure how each relay is reached from here, step by step, and say what blocks it.

Theory of operation: for one relay, :func:`measure` runs the steps of a connection separately, each on its own
connection with its own time limit, so the first step that fails is known (OONI's Web Connectivity does the same):

1. DNS with the system resolver (the one the censor controls), and with a *control* resolver: DNS over TCP to a
   resolver reached through the control proxy, or DNS over HTTPS;
2. TCP connect to the address the system resolver gave (two attempts at once: one lost SYN is not blocking);
3. for ``wss://``: a TLS handshake naming the relay (verified: ``--ca-file`` or the system's CAs) and one naming a
   decoy server (not verified), to see whether the server name is what is blocked;
4. the WebSocket upgrade, and the NIP-11 document, as a client would do them;
5. the *data step*, on the upgraded connection (:mod:`samizdat.net.datacheck`): about 64 KB each way, timed, for
   the censors that let the handshake through and then stall or throttle the connection;
6. the whole connection (upgrade and data step) once more through the control proxy, if one is configured and
   reachable.

Steps 3 and 4 run at once, and the control path alongside everything, so a relay takes at most about six step
time limits (the data step up to three: it ends early unless the connection stalls or crawls).
:func:`samizdat.core.interference.classify` then names the class. Nothing here raises for a relay's failure:
failures are the measurement.

Steps 1 to 4 are *direct probes*: this machine's resolver is asked for the relay's name and the relay's address
is connected to, so the network in between sees which relays are checked. That is how blocking is seen, and the
only way. When every connection must go through a proxy (``Options.through``: ``--proxy``, ``[sync] proxy``),
:func:`measure` makes none of them: it only connects to each relay through that proxy (WebSocket and NIP-11,
names resolved by the proxy), and says whether the relay is reachable that way (``ok``) or not
(:data:`THROUGH_PROXY_FAILED`), without a word on blocking here.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from samizdat.core.interference import NO_TRANSFER, OK, SKIPPED, Dns, Measurement, Step, Transfer, Verdict, classify
from samizdat.errors import TransportError, UsageError
from samizdat.net.client import RelayClient, relay_address
from samizdat.net.datacheck import transfer
from samizdat.net.transports import (
    DEFAULT_TOR,
    Direct,
    ProxyRefused,
    Transport,
    failure_reason,
    parse_transport,
    redacted,
)

DEFAULT_DECOY = "example.com"
DEFAULT_DOH = "https://1.1.1.1/dns-query"
STEP_TIMEOUT = 5.0
MAX_HTTP_BYTES = 1024 * 1024
BLOCKPAGE_STATUSES = frozenset({200, 301, 302, 303, 307, 403, 406, 410, 451, 503})
#: The class of a relay not reached through the proxy when only the proxy may be used (``Options.through``).
THROUGH_PROXY_FAILED = "proxy.failure"
#: Classes of this module's own, besides :data:`samizdat.core.interference.CLASSES`.
PROXY_CLASSES = {
    THROUGH_PROXY_FAILED: "not reached through the proxy; with only the proxy tried, this says nothing about "
    "blocking here (the relay, the proxy or the path between them may be at fault)",
}


@dataclass(frozen=True)
class Options:
    """How to measure. ``control_proxy``: a transport string for the control path (None: no control
    connection); ``control_dns``: ``tcp://HOST[:PORT]`` (through the control proxy, if any) or an
    ``https://.../dns-query`` DoH URL; ``ca_file``: extra CAs for TLS verification; ``tor``: what the ``tor``
    transport means (``[transports] tor``). ``through``: a transport every connection must use: then no direct
    probe is made, and the control settings are not used (see the module)."""

    control_proxy: str | None = None
    control_dns: str | None = None
    ca_file: Path | None = None
    decoy: str = DEFAULT_DECOY
    step_timeout: float = STEP_TIMEOUT
    tor: str = DEFAULT_TOR
    through: str | None = None

    def __post_init__(self) -> None:
        if self.control_proxy:
            parse_transport(self.control_proxy, tor=self.tor)
        if self.through:
            parse_transport(self.through, tor=self.tor)
        if self.control_dns and not self.control_dns.startswith(("tcp://", "https://")):
            raise UsageError(f"{self.control_dns!r} is not a control resolver: use tcp://HOST:53 or https://HOST/PATH")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise UsageError(f"--ca-file {self.ca_file} does not exist")

    def verifying_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_file))
            except (ssl.SSLError, OSError) as exc:
                raise UsageError(f"--ca-file {self.ca_file} holds no usable certificate: {exc}") from exc
        return context


@dataclass(frozen=True)
class Result:
    url: str
    measurement: Measurement
    verdict: Verdict
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        m = self.measurement

        def step(s: Step | None) -> dict[str, Any] | None:
            if s is None:
                return None
            out: dict[str, Any] = {"outcome": s.outcome}
            if s.detail:
                out["detail"] = s.detail
            if s.proxy_said:
                out["proxy_said"] = True
            if s.seconds is not None:
                out["seconds"] = round(s.seconds, 3)
            return out

        def dns(d: Dns | None) -> dict[str, Any] | None:
            return None if d is None else {"addresses": list(d.addresses), "error": d.error}

        def data(t: Transfer | None) -> dict[str, Any] | None:
            if t is None:
                return None
            out: dict[str, Any] = {"outcome": t.outcome, "down": t.down, "up": t.up, "seconds": round(t.seconds, 3)}
            if t.rate is not None:
                out["rate"] = round(t.rate)  # bytes per second
            if t.detail:
                out["detail"] = t.detail
            if t.events:
                out["events"], out["forged"] = t.events, t.forged
            return out

        return {
            "url": self.url,
            **self.verdict.to_dict(),
            "seconds": round(self.seconds, 2),
            "steps": {
                "dns_system": dns(m.dns_system),
                "dns_control": dns(m.dns_control),
                "tcp": step(m.tcp),
                "tls_real": step(m.tls_real),
                "tls_decoy": step(m.tls_decoy),
                "websocket": step(m.websocket),
                "nip11": step(m.nip11),
                "data": data(m.data),
                "control": step(m.control),
                "control_data": data(m.control_data),
            },
        }


# -- DNS ---------------------------------------------------------------------------------------------------------


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def system_dns(host: str, timeout: float) -> Dns:
    """Ask the system's resolver as connections do (getaddrinfo: ``/etc/hosts``, then DNS); when that fails, ask
    the DNS servers of ``/etc/resolv.conf`` directly to tell NXDOMAIN from no answer."""
    answer = await _getaddrinfo_dns(host, timeout)
    if answer.addresses:
        return answer
    return await _resolv_conf_dns(host, timeout) if answer.error != "timeout" else answer


async def _resolv_conf_dns(host: str, timeout: float) -> Dns:
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    try:
        resolver = dns.asyncresolver.Resolver()
    except (dns.resolver.NoResolverConfiguration, OSError):
        return Dns(error="error")
    resolver.lifetime = timeout
    addresses: list[str] = []
    for kind in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host + ".", kind, search=False)
        except dns.resolver.NXDOMAIN:
            return Dns(error="nxdomain")
        except dns.resolver.NoAnswer:
            continue
        except dns.exception.Timeout:
            return Dns(tuple(addresses), None) if addresses else Dns(error="timeout")
        except dns.resolver.NoNameservers:
            return Dns(tuple(addresses), None) if addresses else Dns(error="servfail")
        except dns.exception.DNSException:
            return Dns(tuple(addresses), None) if addresses else Dns(error="error")
        addresses += [r.to_text() for r in answer]
        if addresses:
            break
    return Dns(tuple(addresses)) if addresses else Dns(error="nodata")


async def _getaddrinfo_dns(host: str, timeout: float) -> Dns:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except TimeoutError:
        return Dns(error="timeout")
    except socket.gaierror as exc:
        return Dns(error="nxdomain" if exc.errno == socket.EAI_NONAME else "error")
    return Dns(tuple(dict.fromkeys(str(info[4][0]) for info in infos)))


def _dns_answer(wire: bytes) -> Dns:
    import dns.message
    import dns.rcode
    import dns.rdatatype

    try:
        message = dns.message.from_wire(wire)
    except Exception:  # noqa: BLE001 - any malformed answer is just a failed lookup
        return Dns(error="error")
    if message.rcode() == dns.rcode.NXDOMAIN:
        return Dns(error="nxdomain")
    if message.rcode() != dns.rcode.NOERROR:
        return Dns(error="servfail")
    addresses = [
        r.to_text() for rrset in message.answer if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) for r in rrset
    ]
    return Dns(tuple(addresses)) if addresses else Dns(error="nodata")


def _query(host: str) -> bytes:
    import dns.message

    return bytes(dns.message.make_query(host + ".", "A").to_wire())


async def control_dns(host: str, server: str, transport: Transport, timeout: float, ca: ssl.SSLContext) -> Dns:
    """Resolve ``host`` with the control resolver ``server`` (``tcp://`` or DoH), reached through ``transport``."""
    try:
        async with asyncio.timeout(timeout):
            if server.startswith("tcp://"):
                parts = urlsplit(server)
                sock = await transport.open(parts.hostname or "", parts.port or 53, timeout=timeout)
                try:
                    reader, writer = await asyncio.open_connection(sock=sock)
                except BaseException:
                    sock.close()
                    raise
                try:
                    query = _query(host)
                    writer.write(len(query).to_bytes(2, "big") + query)
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    return _dns_answer(await reader.readexactly(size))
                finally:
                    writer.close()
            parts = urlsplit(server)
            token = base64.urlsafe_b64encode(_query(host)).rstrip(b"=").decode()
            path = (parts.path or "/dns-query") + f"?dns={token}"
            status, _, body = await http_get(
                transport, parts.hostname or "", parts.port or 443, path, secure=True, context=ca, timeout=timeout,
                accept="application/dns-message",
            )  # fmt: skip
            return _dns_answer(body) if status == 200 else Dns(error="servfail")
    except TimeoutError:
        return Dns(error="timeout")
    except (OSError, TransportError, asyncio.IncompleteReadError, ssl.SSLError, ValueError):
        return Dns(error="error")


# -- HTTP, just enough for NIP-11 and DoH ------------------------------------------------------------------------


async def http_get(
    transport: Transport,
    host: str,
    port: int,
    path: str,
    *,
    secure: bool,
    context: ssl.SSLContext,
    timeout: float,
    accept: str,
    server_name: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One ``GET`` (``Connection: close``); ``(status, headers in lower case, body)``. Raises OSError-likes."""
    sock = await transport.open(host, port, timeout=timeout)
    try:
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=context if secure else None, server_hostname=(server_name or host) if secure else None
        )
    except BaseException:
        sock.close()
        raise
    try:
        writer.write(
            # The client's own User-Agent: over http:// a censor must not tell the probe from a sync's request.
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nUser-Agent: samizdat\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        raw = await reader.read(MAX_HTTP_BYTES)
        while len(raw) < MAX_HTTP_BYTES and (chunk := await reader.read(MAX_HTTP_BYTES - len(raw))):
            raw += chunk
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = lines[0].split(" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise ConnectionResetError("not an HTTP answer")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return int(fields[1]), headers, body


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def _looks_like_blockpage(status: int, headers: dict[str, str], body: bytes) -> bool:
    html = "text/html" in headers.get("content-type", "") or b"<html" in body[:2048].lower()
    return html and status in BLOCKPAGE_STATUSES


# -- steps -------------------------------------------------------------------------------------------------------


def _step_failure(exc: BaseException, started: float) -> Step:
    seconds = time.monotonic() - started
    detail = str(exc) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:  # the proxy's own answer that it cannot reach the relay (rule 3 of the classifier)
        if isinstance(cause, ProxyRefused):
            return Step(cause.reason, detail[:400], seconds, proxy_said=True)
        cause = cause.__cause__ or cause.__context__
    cause = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Step("cert_invalid", cause.verify_message or detail, seconds)
        if isinstance(cause, ssl.SSLEOFError | asyncio.IncompleteReadError) or (
            isinstance(cause, ssl.SSLError) and "EOF" in str(cause)
        ):
            return Step("eof", detail, seconds)
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, OSError) and exc.errno:  # "Connection refused", not asyncio's "Connect call failed (...)"
        detail = os.strerror(exc.errno)
    reason = failure_reason(exc)
    return Step(reason if reason != "error" else "error", detail[:400], seconds)


async def _timed(action: Callable[[], Awaitable[Step]], timeout: float) -> Step:
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            return await action()
    except TimeoutError:
        return Step("timeout", f"no answer in {timeout:g} s", time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - every failure is a measurement
        return _step_failure(exc, started)


async def _tcp(address: str, port: int, timeout: float) -> Step:
    started = time.monotonic()

    async def attempt() -> Step:
        sock = await Direct()._open(address, port)
        sock.close()
        return Step("ok", address, time.monotonic() - started)

    # Two attempts at once: on a lossy link one lost SYN costs a second, it does not make a relay "blocked".
    tasks = [asyncio.ensure_future(_timed(attempt, timeout)) for _ in range(2)]
    try:
        results = []
        for next_done in asyncio.as_completed(tasks):
            result = await next_done
            if result.ok:
                return result
            results.append(result)
        return results[0]
    finally:
        for task in tasks:
            task.cancel()


async def _tls(address: str, port: int, name: str, context: ssl.SSLContext, timeout: float) -> Step:
    started = time.monotonic()
    sock = await Direct()._open(address, port)
    try:
        # The handshake's own limit is longer than the step's, so a stalled handshake is a timeout, not an abort.
        reader, writer = await asyncio.open_connection(sock=sock, ssl=context, server_hostname=name,
                                                       ssl_handshake_timeout=timeout + 5)  # fmt: skip
    except BaseException:
        sock.close()
        raise
    writer.close()
    return Step("ok", name, time.monotonic() - started)


async def _websocket(
    url: str, transport: Transport, context: ssl.SSLContext, timeout: float, keep: list[RelayClient] | None = None
) -> Step:
    """The upgrade; the open connection goes into ``keep`` when given (else it is closed)."""
    import websockets.exceptions

    started = time.monotonic()
    try:
        client = await RelayClient.connect(url, transport=transport, ssl=context, timeout=timeout)
    except TransportError as exc:
        cause = exc.__cause__
        if isinstance(cause, websockets.exceptions.InvalidStatus):
            response = cause.response
            headers = {k.lower(): v for k, v in response.headers.raw_items()}
            status = response.status_code
            if _looks_like_blockpage(status, headers, bytes(response.body or b"")):
                return Step("blockpage", f"HTTP {status} {headers.get('content-type', '')}".strip(),
                            time.monotonic() - started)  # fmt: skip
            return Step("error", f"HTTP {status} instead of a WebSocket upgrade", time.monotonic() - started)
        if isinstance(cause, websockets.exceptions.InvalidMessage):
            return Step("reset", "the connection ended during the upgrade", time.monotonic() - started)
        return _step_failure(exc, started)
    if keep is not None:
        keep.append(client)
    else:
        await client.close()
    return Step("ok", transport.spec, time.monotonic() - started)


async def _websocket_and_data(
    url: str, transport: Transport, context: ssl.SSLContext, timeout: float
) -> tuple[Step, Transfer]:
    """The upgrade (within ``2 * timeout``), then the data step on the same connection (``3 * timeout``)."""
    kept: list[RelayClient] = []
    try:
        step = await _timed(lambda: _websocket(url, transport, context, timeout, kept), 2 * timeout)
        if not step.ok or not kept:
            return step, NO_TRANSFER
        try:
            return step, await transfer(kept[0], limit=3 * timeout, idle=timeout)
        except Exception as exc:  # noqa: BLE001 - a bug of ours must not read as the relay's fault
            return step, Transfer("error", detail=str(exc)[:200] or type(exc).__name__)
    finally:
        for client in kept:
            await client.close(wait=1.0)  # a stalled connection never answers the closing handshake


async def _nip11(url: str, context: ssl.SSLContext, timeout: float, transport: Transport | None = None) -> Step:
    started = time.monotonic()
    host, port, secure = relay_address(url)
    path = urlsplit(url).path or "/"
    status, headers, body = await http_get(
        transport or Direct(), host, port, path, secure=secure, context=context, timeout=timeout,
        accept="application/nostr+json",
    )  # fmt: skip
    seconds = time.monotonic() - started
    if status == 200:
        try:
            if isinstance(orjson.loads(body), dict):
                return Step("ok", "", seconds)
        except orjson.JSONDecodeError:
            pass
    if _looks_like_blockpage(status, headers, body):
        return Step("blockpage", f"HTTP {status} {headers.get('content-type', '')}".strip(), seconds)
    return Step("error", f"HTTP {status}, no NIP-11 document", seconds)


async def measure(url: str, options: Options) -> Result:
    """Measure one relay (see the module) and classify it. Raises only :class:`UsageError` for a bad URL."""
    started = time.monotonic()
    try:
        host, port, secure = relay_address(url)
    except TransportError as exc:
        raise UsageError(str(exc)) from exc
    t = options.step_timeout
    verifying = options.verifying_context()
    if options.through:
        return await _measure_through(url, parse_transport(options.through, tor=options.tor), verifying, t, started)
    decoy_context = ssl.create_default_context()
    decoy_context.check_hostname = False
    decoy_context.verify_mode = ssl.CERT_NONE
    control_transport: Transport | None = (
        parse_transport(options.control_proxy, tor=options.tor) if options.control_proxy else None
    )

    async def control_path() -> tuple[Step, Transfer] | None:
        if control_transport is None:
            return None
        proxy = getattr(control_transport, "address", None)
        if proxy is not None:  # the proxy itself must answer, or there is no control path at all
            reach = await _timed(lambda: _probe_tcp(proxy.host, proxy.port), t)
            if not reach.ok:
                return None
        return await _websocket_and_data(url, control_transport, verifying, t)

    async def control_resolver() -> Dns | None:
        if _is_ip(host):
            return Dns((host,))
        if not options.control_dns:
            return None
        via = control_transport if control_transport is not None else Direct()
        answer = await control_dns(host, options.control_dns, via, t, verifying)
        if answer.error in ("timeout", "error"):
            return None  # the control resolver is out of reach: no control answer, rather than a wrong one
        return answer

    control_task = asyncio.ensure_future(control_path())
    control_dns_task = asyncio.ensure_future(control_resolver())
    try:
        dns_system = Dns((host,)) if _is_ip(host) else await system_dns(host, t)
        tcp = tls_real = tls_decoy = websocket = nip11 = SKIPPED
        data = NO_TRANSFER
        if dns_system.addresses:
            address = dns_system.addresses[0]
            tcp = await _tcp(address, port, t)
            if tcp.ok:
                steps: list[Awaitable[Step]] = [_timed(lambda: _nip11(url, verifying, t), t)]
                if secure:
                    steps += [
                        _timed(lambda: _tls(address, port, host, verifying, t), t),
                        _timed(lambda: _tls(address, port, options.decoy, decoy_context, t), t),
                    ]
                (websocket, data), done = await asyncio.gather(
                    _websocket_and_data(url, Direct(), verifying, t), asyncio.gather(*steps)
                )
                nip11 = done[0]
                if secure:
                    tls_real, tls_decoy = done[1], done[2]
        controlled = await control_task
        dns_control = await control_dns_task
    finally:
        control_task.cancel()
        control_dns_task.cancel()
    control, control_data = controlled if controlled is not None else (None, None)
    measurement = Measurement(url, secure, dns_system, dns_control, tcp, tls_real, tls_decoy, websocket, nip11,
                              control, data, control_data)  # fmt: skip
    return Result(url, measurement, classify(measurement), time.monotonic() - started)


async def _measure_through(
    url: str, transport: Transport, verifying: ssl.SSLContext, t: float, started: float
) -> Result:
    """Only through ``transport``: the WebSocket upgrade and NIP-11, nothing direct (see the module). The steps
    are reported as measured (through the proxy); the DNS and TCP steps are the proxy's business, not measured."""
    host, port, secure = relay_address(url)
    websocket, nip11 = await asyncio.gather(
        _timed(lambda: _websocket(url, transport, verifying, t), 2 * t),
        _timed(lambda: _nip11(url, verifying, t, transport), t),
    )
    measurement = Measurement(url, secure, Dns(), None, SKIPPED, SKIPPED, SKIPPED, websocket, nip11, None)
    where = redacted(transport.spec)
    if websocket.ok:
        seconds = f" in {websocket.seconds:.3f} s" if websocket.seconds else ""
        verdict = Verdict(OK, f"the relay answered through {where}{seconds}", True)
    else:
        detail = (websocket.detail or websocket.outcome).removeprefix(f"cannot connect to {url}: ")
        detail = detail.removeprefix(f"connecting to {host}:{port} via {where}: ")
        verdict = Verdict(THROUGH_PROXY_FAILED, f"not reached through {where}: {detail}", False)
    return Result(url, measurement, verdict, time.monotonic() - started)


async def _probe_tcp(host: str, port: int) -> Step:
    sock = await Direct()._open(host, port)
    sock.close()
    return Step("ok")


def check_urls(urls: Sequence[str]) -> None:
    """Raise :class:`UsageError` (one sentence) for the first of ``urls`` that is not a relay address."""
    for url in urls:
        try:
            relay_address(url)
        except TransportError as exc:
            raise UsageError(str(exc)) from exc


async def netcheck(urls: Sequence[str], options: Options) -> list[Result]:
    """Measure every relay at once; results in the order given."""
    check_urls(urls)
    return list(await asyncio.gather(*(measure(url, options) for url in dict.fromkeys(urls))))
