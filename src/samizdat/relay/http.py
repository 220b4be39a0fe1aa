"""Plain HTTP on the relay's port: NIP-11, the node's web handler, and a small status page.

``websockets`` calls the server's ``process_request`` before every opening handshake. A WebSocket upgrade goes
on to the relay protocol. Anything else is plain HTTP and is answered here, in this order:

1. ``Accept: application/nostr+json`` gets the NIP-11 document, with the CORS headers NIP-11 asks for;
2. the node's optional ``http_handler(path, headers)`` (the web app) may answer with ``(status, content type,
   body)`` or ``(status, content type, body, headers)`` (its headers replace the defaults of the same name, e.g.
   ``Cache-Control``), or return None to pass;
3. ``/status`` (and ``/`` when no handler answered it) gets a built-in status page (name, public key, event count,
   connections, uptime); anything else a 404.

The node's public key is in the NIP-11 document and the status page only for a reader on this machine
(:func:`local_reader`), unless the relay publishes it (:attr:`~samizdat.relay.limits.RelayInfo.publish_pubkey`);
the handler learns which from :data:`KEY_VISIBLE`, which the server sets around each call.

Methods: ``GET`` as above; ``HEAD`` gets the same answer without its body (:func:`head`); anything else a
``405``. A request that repeats a header that must appear once (:data:`SINGLE_HEADERS`, e.g. two ``Host``
lines, which RFC 9112 answers with 400) gets a ``400`` (:func:`repeated_header`); list headers that may repeat
(``Accept``, ``Connection``) are read joined (:func:`header`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.datastructures import Headers
from websockets.http11 import Response

from samizdat.relay.peeruser import same_user

#: Extra response headers: (name, value) pairs.
HeaderList = tuple[tuple[str, str], ...]
#: What an ``http_handler`` returns: status, content type, body (and headers); or None to let the relay answer.
HttpResult = tuple[int, str, bytes] | tuple[int, str, bytes, HeaderList] | None
#: The node's web app: called with the request path (including any query string) and the request headers.
HttpHandler = Callable[[str, Headers], HttpResult | Awaitable[HttpResult]]

NOSTR_JSON = "application/nostr+json"
#: While the server answers one HTTP request: may the answer show the node's public key (the request comes from
#: this machine, or the operator publishes the key)? The web app's status API reads it; False outside a request.
KEY_VISIBLE: ContextVar[bool] = ContextVar("samizdat_key_visible", default=False)
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "*"),
    ("Access-Control-Allow-Methods", "GET"),
)


@dataclass(frozen=True, slots=True)
class Status:
    """What the status page shows."""

    name: str
    pubkey: str | None
    npub: str | None
    events: int | None
    connections: int
    subscriptions: int
    uptime_seconds: float


def header(headers: Headers, name: str) -> str:
    """A request header's value, "" when absent. A header sent more than once is its values joined with ", ", as
    HTTP combines list headers (``Headers.get`` raises on a repeated one, and any client can repeat one)."""
    return ", ".join(headers.get_all(name))


def _address(raw: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(str(raw[0]))  # type: ignore[index]
    except (TypeError, IndexError, ValueError):
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def from_loopback(connection: object) -> bool:
    """True when the connection's peer is this machine (a loopback address, also IPv4-mapped); False for any
    other address and for an unknown one, and for a client a load balancer relays (relay/proxied.py)."""
    if getattr(connection, "proxied", False):
        return False
    ip = _address(getattr(connection, "remote_address", None))
    return ip is not None and ip.is_loopback


def from_this_machine(connection: object) -> bool:
    """:func:`from_loopback`, or a peer with the very address the connection came in on (this machine asking at
    its own LAN address)."""
    if from_loopback(connection):
        return True
    if getattr(connection, "proxied", False):
        return False
    peer = _address(getattr(connection, "remote_address", None))
    return peer is not None and peer == _address(getattr(connection, "local_address", None))


@functools.cache
def _machine_names() -> frozenset[str]:
    own = socket.gethostname().lower().rstrip(".")
    short = own.split(".", 1)[0]
    return frozenset(name for name in (own, short, short + ".local") if name)


def _name(host: str) -> str | None:
    """The host name of a ``Host`` header (or an ``Origin``'s host), lowercased, without port or final dot; ""
    for an empty one, None for one that is not a host."""
    host = host.strip().lower()
    if not host:
        return ""
    try:
        return (urlsplit("//" + host).hostname or "").rstrip(".")
    except ValueError:  # "[::1", "[x]": not a host
        return None


def names_this_machine(host: str) -> bool:
    """Whether ``host`` (a ``Host`` header, or the host of an ``Origin``) names this machine in a way no other
    site's page can take for its own origin: an IP address, ``localhost`` (or a name under it), a name without a
    dot (a local name: no site on the internet has one), the machine's own name, or nothing at all (no browser
    sends that). A site's own name pointed at 127.0.0.1 (DNS rebinding) is none of these."""
    name = _name(host)
    if name is None:
        return False
    if not name:
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return name == "localhost" or name.endswith(".localhost") or "." not in name or name in _machine_names()


def given_name(host: str, names: Collection[str] = ()) -> bool:
    """Whether ``host`` is a name the node was given (``[relay] host_names``: a reverse proxy's, a hub's DNS
    name) or an onion service's (Tor reaches the node from 127.0.0.1; no site can point a .onion name anywhere)."""
    name = _name(host)
    if not name:
        return False
    return name.endswith(".onion") or any(name == given.strip().lower().rstrip(".") for given in names)


def own_name(host: str, names: Collection[str] = ()) -> bool:
    """:func:`names_this_machine` or :func:`given_name`: a name the node answers to as its own."""
    return names_this_machine(host) or given_name(host, names)


def _origin_host(origin: str) -> str | None:
    """The host (and port) of an ``Origin`` value of the web (http or https), else None ("null", file:, ...)."""
    origin = origin.strip().lower()
    if not origin.startswith(("http://", "https://")):
        return None
    return origin.split("://", 1)[1].split("/")[0]


def other_sites_page(headers: Headers, origins: Collection[str] = ()) -> bool:
    """Whether a browser says that a page of another site makes this request: its ``Origin`` names no host of
    this machine (:func:`names_this_machine`) and is not one of ``origins`` (``[relay] allowed_origins``), or it
    sends no ``Origin`` but ``Sec-Fetch-Site: cross-site``: an ``<img>``, a ``<script>``, a ``fetch`` in no-cors
    mode, each of which tells the page whether it loaded, and a link or a popup too (the app's answer carries
    ``Cross-Origin-Opener-Policy``, which a popup's opener sees as ``closed``: a page that opened one learned that
    the node runs). A bookmark or an address typed or pasted sends ``none``. Clients that are not browsers send
    neither header."""
    origin = header(headers, "Origin")
    if origin:
        if origin.strip().lower().rstrip("/") in {o.strip().lower().rstrip("/") for o in origins}:
            return False
        host = _origin_host(origin)
        return host is None or not names_this_machine(host)
    return header(headers, "Sec-Fetch-Site").strip().lower() == "cross-site"


def from_a_browser(headers: Headers) -> bool:
    """Whether a browser made the request: it says which page asks (``Origin``, ``Sec-Fetch-*``) or calls itself
    one (``User-Agent: Mozilla/...``). Relay clients, the command line and a proxy's health check do none of that."""
    return (
        "Origin" in headers
        or "Sec-Fetch-Site" in headers
        or "Sec-Fetch-Mode" in headers
        or header(headers, "User-Agent").startswith("Mozilla/")
    )


#: Why a request from this machine is refused (:func:`refused_on_this_machine`).
REBOUND = (
    "this node answers a browser on this machine only at its own names (a page may have pointed its site's name "
    "here); a name a proxy on this machine gives it goes in [relay] host_names"
)
OTHER_SITE = (
    "a page of another site may not use this node from this machine; "
    "a web client you trust goes in [relay] allowed_origins"
)
#: The same, as the refusal log's summary line counts them.
LOGGED = {
    REBOUND: "from a browser on this machine by another name",
    OTHER_SITE: "from another site's page on this machine",
}


def refused_on_this_machine(
    connection: object, headers: Headers, names: Collection[str] = (), origins: Collection[str] = ()
) -> str | None:
    """Why a request from this machine is refused, or None.

    A browser on the node's own machine may open pages of any site, and each of them may ask the node (on
    127.0.0.1) for anything: a WebSocket and an ``<img>`` need no permission, and a site that points its own name
    at 127.0.0.1 (DNS rebinding) reads the answers as its own. Answered, any site would learn that the visitor runs
    Samizdat and which channels and photos the node holds. So a request from this machine
    (:func:`from_this_machine`) is refused

    * when a browser makes it (:func:`from_a_browser`) by a name that is not the node's own (:func:`own_name`):
      DNS rebinding. A proxy on this machine (TLS in front, an onion service) that forwards relay clients by
      another name is answered; one that serves browsers needs its name in ``names`` (or the PROXY protocol);
    * when it names this machine and a page of another site makes it (:func:`other_sites_page`). Asked by a name
      the node was given, it came through that proxy from anywhere, like a request from another address.

    Requests from other addresses are not judged here: a hub serves its network. (The server closes the
    connection without an answer, as a port where nothing listens would, and says why in its log only.)"""
    if not from_this_machine(connection):
        return None
    host = header(headers, "Host")
    if not names_this_machine(host):
        if given_name(host, names) or not from_a_browser(headers):
            return None
        return REBOUND
    if other_sites_page(headers, origins):
        return OTHER_SITE
    return None


def local_reader(connection: object, headers: Headers) -> bool:
    """Whether a plain HTTP request is the node's own machine asking: from a loopback address
    (:func:`from_loopback`) of a program running as the node's own user (or root: relay/peeruser.py), naming
    this machine in its ``Host``, and, if a browser says which page asks (``Origin``), a page of this machine
    too. A page of another site that a browser on the node's machine opens is not: across origins its ``fetch``
    sends that site as ``Origin`` (NIP-11 allows every origin to read the answer), and with DNS rebinding its
    ``Host`` is that site's name. (The server refuses both before this is
    asked, unless ``[relay] host_names`` or ``allowed_origins`` let them in: such a page still does not see the
    node's key.)"""
    if not from_loopback(connection) or not names_this_machine(header(headers, "Host")):
        return False
    if "Origin" in headers:
        host = _origin_host(header(headers, "Origin"))
        if host is None or not names_this_machine(host):
            return False
    # another account on this machine (a guest, a service) reaches loopback too: relay/peeruser.py
    return same_user(getattr(connection, "local_address", None), getattr(connection, "remote_address", None))


def is_websocket_upgrade(headers: Headers) -> bool:
    connection = header(headers, "Connection")
    return "upgrade" in connection.lower() and header(headers, "Upgrade").lower() == "websocket"


def wants_nip11(headers: Headers) -> bool:
    return NOSTR_JSON in header(headers, "Accept")


def response(status: int, content_type: str, body: bytes, extra: HeaderList = ()) -> Response:
    given = {name.lower() for name, _ in extra}
    defaults = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            *(pair for pair in defaults if pair[0].lower() not in given),
            *extra,
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, body)


def nip11_response(document: dict[str, Any]) -> Response:
    return response(200, NOSTR_JSON, orjson.dumps(document), CORS_HEADERS)


def not_found() -> Response:
    return response(404, "text/plain; charset=utf-8", b"Not found.\n")


#: Request headers that must not appear twice: a request that repeats one is refused with 400.
SINGLE_HEADERS = (
    "Host", "Origin", "Upgrade", "Content-Length", "Authorization", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
)  # fmt: skip


def repeated_header(headers: Headers) -> str | None:
    """The first of :data:`SINGLE_HEADERS` that ``headers`` has more than once, or None."""
    for name in SINGLE_HEADERS:
        if len(headers.get_all(name)) > 1:
            return name
    return None


def misdirected() -> Response:
    """421, and nothing that names the software. The server returns it to websockets for a request it refused by
    closing the connection (:func:`refused_on_this_machine`), so it is never sent; were it sent, nothing in it
    would say what runs here."""
    return response(421, "text/plain; charset=utf-8", b"Misdirected request.\n")


def forbidden(reason: str) -> Response:
    return response(403, "text/plain; charset=utf-8", f"Refused: {reason}.\n".encode(), (("X-Reason", reason),))


def bad_request(reason: str) -> Response:
    return response(400, "text/plain; charset=utf-8", f"Bad request: {reason}.\n".encode())


def method_not_allowed() -> Response:
    allow = (("Allow", "GET, HEAD"),)
    return response(405, "text/plain; charset=utf-8", b"Only GET and HEAD are served here.\n", allow)


def head(answer: Response) -> Response:
    """The answer to a ``HEAD`` request: ``answer``'s status and headers (its Content-Length too), no body."""
    return Response(answer.status_code, answer.reason_phrase, answer.headers, b"")


def too_many_connections() -> Response:
    return response(
        503, "text/plain; charset=utf-8", b"Too many connections, try again later.\n", (("Retry-After", "10"),)
    )


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02}:{minutes:02}:{secs:02}" if days else f"{hours:02}:{minutes:02}:{secs:02}"


#: The status page's only style, allowed by its hash: the page runs no script and may not be framed by another site.
STATUS_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}\n"
    "th{text-align:left;padding-right:1em}code{word-break:break-all}"
)
STATUS_HEADERS: HeaderList = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'sha256-"
        + base64.b64encode(hashlib.sha256(STATUS_STYLE.encode()).digest()).decode()
        + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)


def status_page(status: Status) -> Response:
    rows = [("Events stored", "unknown" if status.events is None else f"{status.events:,}")]
    if status.npub:
        rows.insert(0, ("Operator", status.npub))
    elif status.pubkey:
        rows.insert(0, ("Operator", status.pubkey))
    rows += [
        ("Connections", str(status.connections)),
        ("Subscriptions", str(status.subscriptions)),
        ("Uptime", _uptime(status.uptime_seconds)),
    ]
    name = html.escape(status.name)
    table = "\n".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>" for k, v in rows)
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
<style>{STATUS_STYLE}</style></head>
<body><h1>{name}</h1>
<p>A Samizdat relay. Connect a Nostr client to this address with <code>ws://</code> or <code>wss://</code>.</p>
<table>
{table}
</table></body></html>
"""
    return response(200, "text/html; charset=utf-8", body.encode(), STATUS_HEADERS)
