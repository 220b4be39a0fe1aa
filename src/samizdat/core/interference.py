"""Telling blocking from outage: the pure classifier behind ``samizdat netcheck``.

Theory of operation: :mod:`samizdat.net.netcheck` measures one relay step by step, the way a connection is made
(DNS with the system resolver, TCP connect, TLS with the real server name and with a decoy one, WebSocket
upgrade, NIP-11), and once more along a *control path* (DNS through a resolver the censor does not control, and the
whole connection through a configured proxy). :func:`classify` turns those outcomes into one class of OONI's
vocabulary, by these rules, in this order:

1. If the relay answered the WebSocket upgrade directly, the *data step* decides (rules 4 and 5); a relay whose
   answer came through whole at a usable rate is ``ok`` (slow or lossy is not blocked).
2. Otherwise the first step that failed names the class: ``dns.nxdomain``; ``dns.injection.bogon`` (the system
   resolver gave only private/reserved addresses that the control resolver did not); ``tcp.timeout``;
   ``tcp.reset``; for ``wss://``: ``tls.mitm`` (the handshake completed but the certificate is not valid for the
   real name), ``tls.reset.sni`` (the handshake with the real name was reset while the decoy name got through);
   ``http.blockpage`` (an HTML page instead of the WebSocket upgrade).
3. If the control path failed too, the relay is ``down`` (not blocked): nobody can reach it, but only when the
   failure is news from beyond this network: the proxy said it cannot reach the relay (:attr:`Step.proxy_said`), or
   something answered through the tunnel (``error``). A tunnel that was reset, cut or went silent before the proxy
   answered is what a censor that also watches the way to the proxy does (a SOCKS request names the relay in
   clear): the class stays the direct one, unconfirmed, and the reason says the relay may be down or the control
   path blocked too.
4. Some censors let every handshake through and break the connection afterwards (Russia's TSPU lets about the
   first 16-20 KB through, then drops everything; Iran and Turkmenistan freeze connections after the handshake).
   So after the upgrade, on the same connection, :class:`Transfer` asks the relay for at least
   :data:`DATA_ENOUGH` bytes and sends as many: ``data.stall`` when it stopped carrying anything before the answer
   was whole, ``data.reset`` when it was cut; the control path confirms them when it carried more of the same
   answer. If the control path stalled or was cut too, the class stays, unconfirmed: the relay may be failing for
   everyone, or this network stalls the way to the proxy as well (TSPU stalls connections to foreign hosting).
5. ``data.throttled`` when the answer came slower than :data:`THROTTLE_RATE` while the control path carried it at
   least that fast and :data:`THROTTLE_FACTOR` times as fast (both run at once, so a link shared by many checks
   slows both alike) (Russia slowed Twitter to about 16 KB/s in 2021; a sync of megabytes
   takes minutes at that rate). Slow on both paths is the network, not a censor: ``ok``. A relay holding less
   than :data:`DATA_ENOUGH` cannot prove either way; its data step says so (``short``) and the class stays ``ok``.
6. ``relay.impostor`` (checked before rules 4 and 5) when what answered is not the relay: a censor that takes over
   the relay's address (a DNS answer of its own, a transparent proxy, or a certificate from a CA the state made its
   users install) can answer the WebSocket itself, and every step before the data passes. The data step verifies
   the events it is sent: one whose id or signature is wrong was not stored by any honest relay (confirmed without
   a control path). And an answer shorter than :data:`DATA_ENOUGH` here while the control path, at the same time,
   carried at least that much and :data:`IMPOSTOR_FACTOR` times more (confirmed) is not the same relay either:
   a sync there would "work" and bring nothing. Nor is one that withholds: both paths ask for the same newest
   events at the same time, so events the control path got from within the span of time the direct answer
   covers (up to the newest event both got), and the direct answer lacks (at least :data:`WITHHELD_MIN`, and a
   tenth of that span's), were kept from this network: a censor's copy of the relay without one channel, or a
   DPI dropping its ``EVENT`` s.

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
#: Bytes the data step wants each way: past the 16-20 KB after which stalling censors stop a connection.
DATA_ENOUGH = 64 * 1024
#: Below this rate (bytes per second) an answer is *throttled*, when the control path is faster.
THROTTLE_RATE = 32 * 1024
#: ... and when the control path, measured at the same time, was this many times faster.
THROTTLE_FACTOR = 4
#: Rule 6: the relay's address answers, but not as the relay (forged events, or next to nothing).
IMPOSTOR = "relay.impostor"
#: ... when the control path carried this many times more of the same answer.
IMPOSTOR_FACTOR = 4
#: ... or when at least this many events (and a tenth of the span's) came only through the control path.
WITHHELD_MIN = 5
#: Events dated less than this before the direct request may have come between the two requests (clocks differ).
ARRIVAL_SKEW = 60
#: The classes of rules 4 to 6: the handshake went through, the data did not (or only slowly, or not the relay's).
DATA_CLASSES = frozenset({"data.stall", "data.reset", "data.throttled", IMPOSTOR})
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
    "data.stall": "the connection is made, then stops carrying anything after a few kilobytes: the relay looks "
    "reachable but nothing can be synced",
    "data.reset": "the connection is made, then cut after a few kilobytes",
    "data.throttled": f"the relay answers, but data comes slower than {THROTTLE_RATE // 1024} KB/s (slowed down on "
    "this network): a sync of megabytes takes many minutes",
    IMPOSTOR: "something other than the relay answers at its address (the events it sends fail their signatures, "
    "or it has next to nothing while the relay, through the control path, has plenty): a sync there brings nothing",
}

#: Step outcomes the probes report.
STEP_OUTCOMES = frozenset(
    {"ok", "timeout", "reset", "refused", "unreachable", "eof", "cert_invalid", "blockpage", "error", "skipped"}
)
DNS_ERRORS = frozenset({"nxdomain", "nodata", "timeout", "servfail", "error"})
#: Outcomes of the data step: ``ok`` (the answer came whole, or the budget or time limit was reached while it
#: still flowed), ``short`` (the relay had less than :data:`DATA_ENOUGH` to send: not enough data to tell),
#: ``stalled`` (nothing more came for a while before the answer was whole), ``reset``/``eof`` (cut).
TRANSFER_OUTCOMES = frozenset({"ok", "short", "stalled", "reset", "eof", "error", "skipped"})


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
    """One step's outcome (one of :data:`STEP_OUTCOMES`) and a detail for people (an error text, a status line).
    ``proxy_said``: the step went through a proxy, and the proxy itself answered that it could not reach the relay
    (a SOCKS error reply, an HTTP ``CONNECT`` error status): news from beyond this network, unlike a connection to
    the proxy that was reset or went silent, which this network's censor can do (rule 3)."""

    outcome: str
    detail: str = ""
    seconds: float | None = None
    proxy_said: bool = False

    def __post_init__(self) -> None:
        if self.outcome not in STEP_OUTCOMES:
            raise LocalProtocolError(f"unknown step outcome {self.outcome!r}")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


SKIPPED = Step("skipped")


@dataclass(frozen=True, slots=True)
class Transfer:
    """The data step: ``down`` and ``up`` bytes carried (WebSocket payload) over ``seconds``; ``rate`` is the
    downstream rate in bytes per second once the answer flowed (None when too little came to measure one);
    ``events`` the events received, ``forged`` how many of them failed their id or signature check."""

    outcome: str
    down: int = 0
    up: int = 0
    seconds: float = 0.0
    rate: float | None = None
    detail: str = ""
    events: int = 0
    forged: int = 0
    seen: tuple[tuple[int, str], ...] = ()  # (created_at, id) of the genuine events, for rule 6
    asked_at: int = 0  # when the events were asked for (Unix time; 0: unknown)

    def withheld(self, control: Transfer | None) -> int:
        """How many events ``control`` got from within the span of time this answer covers that this answer
        lacks; 0 below rule 6's threshold. The span ends at the newest event both answers hold, and
        :data:`ARRIVAL_SKEW` seconds before this answer was asked for: anything newer may have reached the relay
        between the two requests (a busy relay gets many a second; an event dated in the future sits on top of
        both answers). It begins after this answer's oldest (a budget may cut between events of the same second).
        No event in common: nothing to compare."""
        if control is None or not self.seen or not control.seen:
            return 0
        here = {event_id for _, event_id in self.seen}
        shared = [t for t, event_id in control.seen if event_id in here]
        if not shared:
            return 0
        low, high = min(t for t, _ in self.seen), max(shared)
        if self.asked_at:
            high = min(high, self.asked_at - ARRIVAL_SKEW)
        span = [event_id for t, event_id in control.seen if low < t <= high]
        missing = sum(event_id not in here for event_id in span)
        return missing if missing >= max(WITHHELD_MIN, len(span) / 10) else 0

    def __post_init__(self) -> None:
        if self.outcome not in TRANSFER_OUTCOMES:
            raise LocalProtocolError(f"unknown transfer outcome {self.outcome!r}")

    @property
    def whole(self) -> bool:
        """The answer came through (all of it, or as much as was asked)."""
        return self.outcome in ("ok", "short")

    @property
    def broken(self) -> bool:
        return self.outcome in ("stalled", "reset", "eof")


NO_TRANSFER = Transfer("skipped")


def kilobytes(size: float) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size:.0f} bytes"


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
    data: Transfer = NO_TRANSFER
    control_data: Transfer | None = None


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
    # Rule 3: only the proxy's own word (or an answer through the tunnel) is news from beyond this network.
    control_down = control_failed and control is not None and (control.proxy_said or control.outcome == "error")
    if m.websocket.ok and m.nip11.outcome != "blockpage":
        answered = "the relay answered" + (f" in {m.websocket.seconds:.3f} s" if m.websocket.seconds else "")
        return _data_verdict(m, answered)
    if m.dns_system.error == "nxdomain" and m.dns_control is not None and m.dns_control.error == "nxdomain":
        return Verdict(DOWN, "the name does not exist for the control resolver either", True)
    found = _dns_class(m) or _connect_class(m) or _tls_class(m) or _http_class(m)
    cls, reason = found
    if control_down:
        assert control is not None
        return Verdict(DOWN, f"{reason}; the control path failed too ({control.detail or control.outcome})", True)
    if control_failed:
        assert control is not None
        return Verdict(cls, f"{reason}; the control path failed too, but the proxy did not say the relay is "
                       f"unreachable ({control.detail or control.outcome}): the relay may be down, or this network "
                       "blocks the way to the proxy for it as well", False)  # fmt: skip
    if m.dns_control is not None and m.dns_control.error == "nxdomain" and not control_ok:
        return Verdict(DOWN, f"{reason}; the control resolver does not know the name either", True)
    seen = "; the control path reached the relay: blocked here" if control_ok else " (no control path to confirm)"
    return Verdict(cls, reason + seen, control_ok)


def _data_verdict(m: Measurement, answered: str) -> Verdict:
    """Rules 4 to 6: the handshake went through; did the data, and was it the relay's?"""
    data, control = m.data, m.control_data
    upgraded = answered.replace("the relay answered", "the relay's address answered", 1)
    if data.forged:
        return Verdict(IMPOSTOR, f"{upgraded}, but {data.forged} of the {data.events} events it sent fail their "
                       "signature: it is not the relay that answers here, someone in between answers in its name",
                       True)  # fmt: skip
    withheld = data.withheld(control) if data.whole and control is not None and control.whole else 0
    if withheld:
        return Verdict(IMPOSTOR, f"{upgraded}, but {withheld} events the relay sent through the control path, from "
                       "the span of time its answer here covers, did not come here: someone in between withholds "
                       "events in the relay's name", True)  # fmt: skip
    if (
        data.outcome == "short" and control is not None and control.whole and control.down >= DATA_ENOUGH
        and control.down >= IMPOSTOR_FACTOR * max(data.down, 1)
    ):  # fmt: skip
        return Verdict(IMPOSTOR, f"{upgraded}, but had only {kilobytes(data.down)} to send while the relay, through "
                       f"the control path, sent {kilobytes(control.down)} of the same answer: something else answers "
                       "in its name here, and a sync through it brings nothing", True)  # fmt: skip
    if data.broken:
        how = "was cut" if data.outcome in ("reset", "eof") else "stopped carrying anything"
        cls = "data.reset" if data.outcome in ("reset", "eof") else "data.stall"
        reason = f"{answered}, then the connection {how} after {kilobytes(data.down)} down and {kilobytes(data.up)} up"
        if control is not None and control.whole and (control.down > data.down or control.up > data.up):
            carried = f"{kilobytes(control.down)} down, {kilobytes(control.up)} up"
            return Verdict(cls, f"{reason}; the control path carried the whole answer ({carried}): blocked here", True)
        if control is not None and control.broken:
            return Verdict(cls, f"{reason}; through the control path too (after {kilobytes(control.down)}): the relay "
                           "may be failing, or this network stalls the way to the proxy as well", False)  # fmt: skip
        return Verdict(cls, reason + " (no control path to confirm)", False)
    if data.outcome == "ok" and data.rate is not None:
        rate = f"{answered}; data came at {kilobytes(data.rate)}/s"
        if data.rate >= THROTTLE_RATE:
            return Verdict(OK, rate, True)
        if control is not None and control.rate is not None:
            if control.rate >= THROTTLE_RATE and control.rate >= THROTTLE_FACTOR * data.rate:
                return Verdict("data.throttled", f"{rate}, through the control path at {kilobytes(control.rate)}/s: "
                               "throttled here", True)  # fmt: skip
            return Verdict(OK, f"{rate}, and as slowly through the control path: slow, not blocked", True)
        return Verdict("data.throttled", rate + " (no control path to confirm)", False)
    if data.outcome == "short":
        return Verdict(OK, f"{answered}; it had only {kilobytes(data.down)} to send, not enough data to tell whether "
                       "this network stalls or throttles it", True)  # fmt: skip
    if data.outcome == "error":
        return Verdict(OK, f"{answered}; the data step failed ({data.detail or 'error'})", True)
    return Verdict(OK, answered, True)
