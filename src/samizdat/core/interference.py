"""Telling blocking from outage: the pure classifier behind ``samizdat netcheck``.

Theory of operation: :mod:`samizdat.net.netcheck` measures one relay step by step, the way a connection is made
(DNS with the system resolver, TCP connect, TLS with the real server name and with a decoy one, WebSocket
upgrade, NIP-11), and once more along a *control path* (DNS through a resolver the censor does not control, and the
whole connection through a configured proxy). :func:`classify` turns those outcomes into one class of OONI's
vocabulary, by these rules, in this order:

1. If the relay answered the WebSocket upgrade directly, it is ``ok`` (slow or lossy is not blocked).
2. Otherwise the first step that failed names the class: ``dns.nxdomain``; ``dns.injection.bogon`` (the system
   resolver gave only private/reserved addresses that the control resolver did not); ``tcp.timeout``;
   ``tcp.reset``; for ``wss://``: ``tls.mitm`` (the handshake completed but the certificate is not valid for the
   real name), ``tls.reset.sni`` (the handshake with the real name was reset while the decoy name got through);
   ``http.blockpage`` (an HTML page instead of the WebSocket upgrade).
3. If the control path failed too, the relay is ``down`` (not blocked): nobody can reach it.

A class other than ``ok`` and ``down`` is *confirmed* when the control path reached the relay; without a
control path it is what the direct measurement suggests. Besides the classes the issue names, a few more say
precisely what failed where those do not fit (``tls.reset``, ``tls.timeout.sni``, ``tls.timeout``,
``tcp.unreachable``, ``dns.failure``, ``http.reset``, ``http.timeout``, ``http.failure``); all are listed in
:data:`CLASSES`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from samizdat.errors import LocalProtocolError

OK = "ok"
DOWN = "down"
#: Every class :func:`classify` can return, with what it means for a person.
CLASSES: dict[str, str] = {
    OK: "reachable",
    DOWN: "unreachable from everywhere we can test (the relay is down, not blocked)",
    "dns.nxdomain": "the local resolver says the relay's name does not exist; a resolver the censor does not control "
    "may know it",
    "dns.injection.bogon": "the local resolver answers with a private or reserved address",
    "dns.failure": "the local resolver does not answer",
    "tcp.timeout": "connections to the relay's address are silently dropped (blackholed)",
    "tcp.reset": "connections to the relay's address are refused or reset; from here a relay that is down and a "
    "censor's reset look the same, only the control path tells them apart",
    "tcp.unreachable": "the network says the relay's address is unreachable",
    "tls.reset.sni": "the TLS handshake is reset when it names this relay, not when it names another",
    "tls.timeout.sni": "the TLS handshake stalls when it names this relay, not when it names another",
    "tls.reset": "every TLS handshake with the relay's address is reset",
    "tls.timeout": "every TLS handshake with the relay's address stalls",
    "tls.mitm": "someone in between answers the TLS handshake with a certificate that is not the relay's",
    "http.blockpage": "a web page answers instead of the relay",
    "http.reset": "the WebSocket upgrade request is reset",
    "http.timeout": "the WebSocket upgrade request gets no answer",
    "http.failure": "the WebSocket upgrade is refused",
}

#: Step outcomes the probes report.
STEP_OUTCOMES = frozenset(
    {"ok", "timeout", "reset", "refused", "unreachable", "eof", "cert_invalid", "blockpage", "error", "skipped"}
)
DNS_ERRORS = frozenset({"nxdomain", "nodata", "timeout", "servfail", "error"})


@dataclass(frozen=True, slots=True)
class Dns:
    """A resolver's answer: addresses, or an error (``nxdomain``, ``nodata``, ``timeout``, ``servfail``, ``error``)."""

    addresses: tuple[str, ...] = ()
    error: str | None = None

    def __post_init__(self) -> None:
        if self.error is not None and self.error not in DNS_ERRORS:
            raise LocalProtocolError(f"unknown DNS error {self.error!r}")


@dataclass(frozen=True, slots=True)
class Step:
    """One step's outcome (one of :data:`STEP_OUTCOMES`) and a detail for people (an error text, a status line)."""

    outcome: str
    detail: str = ""
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.outcome not in STEP_OUTCOMES:
            raise LocalProtocolError(f"unknown step outcome {self.outcome!r}")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


SKIPPED = Step("skipped")


@dataclass(frozen=True, slots=True)
class Measurement:
    """Everything measured for one relay. ``dns_control`` and ``control`` are None when no control path exists
    (no proxy, no DNS-over-HTTPS resolver reachable); ``tls_*`` are :data:`SKIPPED` for ``ws://`` relays and the
    DNS fields are empty answers for relays given by IP address."""

    url: str
    secure: bool
    dns_system: Dns = field(default_factory=Dns)
    dns_control: Dns | None = None
    tcp: Step = SKIPPED
    tls_real: Step = SKIPPED
    tls_decoy: Step = SKIPPED
    websocket: Step = SKIPPED
    nip11: Step = SKIPPED
    control: Step | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    cls: str
    reason: str
    confirmed: bool  # the control path reached the relay (or, for ``down``, failed too)

    def to_dict(self) -> dict[str, object]:
        return {"class": self.cls, "reason": self.reason, "confirmed": self.confirmed}


def is_bogon(address: str) -> bool:
    """True for addresses no public server has: private, loopback, link-local, reserved, multicast, unspecified."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)
    )  # fmt: skip


_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: not "private" to ipaddress, not public either


def _dns_class(m: Measurement) -> tuple[str, str] | None:
    system, control = m.dns_system, m.dns_control
    if system.error == "nxdomain":
        return "dns.nxdomain", "the local resolver says the name does not exist"
    if system.error is not None:
        if control is not None and control.addresses:
            return "dns.failure", f"the local resolver failed ({system.error}), the control resolver answered"
        return "dns.failure", f"the local resolver failed ({system.error})"
    if system.addresses and all(is_bogon(a) for a in system.addresses):
        truthful = control is not None and control.addresses and not set(system.addresses) & set(control.addresses)
        if truthful or control is None or control.error is not None:
            shown = ", ".join(system.addresses[:3])
            return "dns.injection.bogon", f"the local resolver answered {shown}, an address no public server has"
    return None


def _connect_class(m: Measurement) -> tuple[str, str] | None:
    tcp = m.tcp
    if tcp.outcome == "timeout":
        return "tcp.timeout", "the TCP connection timed out"
    if tcp.outcome in ("reset", "refused"):
        how = "refused" if tcp.outcome == "refused" else "reset"
        detail = f" ({tcp.detail})" if tcp.detail and how not in tcp.detail.lower() else ""
        return "tcp.reset", (
            f"the TCP connection was {how}{detail}; a relay that is down and a censor's reset look the same from here"
        )
    if tcp.outcome == "unreachable":
        return "tcp.unreachable", f"the address is unreachable ({tcp.detail or 'no route'})"
    if tcp.outcome not in ("ok", "skipped"):
        return "tcp.reset", f"the TCP connection failed ({tcp.detail or tcp.outcome})"
    return None


def _tls_class(m: Measurement) -> tuple[str, str] | None:
    if not m.secure:
        return None
    real, decoy = m.tls_real, m.tls_decoy
    if real.outcome in ("ok", "skipped"):
        return None
    if real.outcome == "cert_invalid":
        return "tls.mitm", f"the certificate presented is not valid for the relay ({real.detail or 'unverified'})"
    decoy_through = decoy.outcome in ("ok", "cert_invalid")
    if real.outcome == "timeout":
        if decoy_through:
            return "tls.timeout.sni", "the handshake naming the relay stalled; one naming another server did not"
        return "tls.timeout", "every TLS handshake stalled"
    if decoy_through:
        return "tls.reset.sni", "the handshake naming the relay was reset; one naming another server went through"
    return "tls.reset", f"every TLS handshake was reset ({real.detail or real.outcome})"


def _http_class(m: Measurement) -> tuple[str, str]:
    ws, info = m.websocket, m.nip11
    if ws.outcome == "blockpage" or info.outcome == "blockpage":
        detail = ws.detail if ws.outcome == "blockpage" else info.detail
        return "http.blockpage", f"a web page answered instead of the relay ({detail or 'HTML'})"
    if ws.outcome in ("reset", "eof"):
        return "http.reset", "the WebSocket upgrade was reset"
    if ws.outcome == "timeout":
        return "http.timeout", "the WebSocket upgrade got no answer"
    return "http.failure", f"the WebSocket upgrade failed ({ws.detail or ws.outcome})"


def classify(m: Measurement) -> Verdict:
    """The class of one relay's measurement (see the module's rules). Pure; never raises for any measurement."""
    control = m.control
    control_ok = control is not None and control.ok
    control_failed = control is not None and control.outcome not in ("ok", "skipped")
    if m.websocket.ok and m.nip11.outcome != "blockpage":
        return Verdict(OK, "the relay answered" + (f" in {m.websocket.seconds:.3f} s" if m.websocket.seconds else ""),
                       True)  # fmt: skip
    if m.dns_system.error == "nxdomain" and m.dns_control is not None and m.dns_control.error == "nxdomain":
        return Verdict(DOWN, "the name does not exist for the control resolver either", True)
    found = _dns_class(m) or _connect_class(m) or _tls_class(m) or _http_class(m)
    cls, reason = found
    if control_failed:
        assert control is not None
        return Verdict(DOWN, f"{reason}; the control path failed too ({control.detail or control.outcome})", True)
    if m.dns_control is not None and m.dns_control.error == "nxdomain" and not control_ok:
        return Verdict(DOWN, f"{reason}; the control resolver does not know the name either", True)
    seen = "; the control path reached the relay: blocked here" if control_ok else " (no control path to confirm)"
    return Verdict(cls, reason + seen, control_ok)
