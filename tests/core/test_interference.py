"""The interference classifier on its own: every case of the simulated censorship matrix, and the edges."""

from __future__ import annotations

import pytest

from samizdat.core.interference import (
    CLASSES,
    NO_TRANSFER,
    THROTTLE_RATE,
    Dns,
    Measurement,
    Step,
    Transfer,
    classify,
    is_bogon,
)
from samizdat.errors import LocalProtocolError

OK = Step("ok")
TRUTH = Dns(("93.184.215.14",))  # what the control resolver says


def relay(**changes: object) -> Measurement:
    """A wss:// relay that works, with the given steps changed."""
    base: dict[str, object] = {
        "url": "wss://relay.example",
        "secure": True,
        "dns_system": TRUTH,
        "dns_control": TRUTH,
        "tcp": OK,
        "tls_real": OK,
        "tls_decoy": OK,
        "websocket": OK,
        "nip11": OK,
        "control": OK,
    }
    base.update(changes)
    return Measurement(**base)  # type: ignore[arg-type]


FAILED_AFTER_TLS = {"websocket": Step("reset"), "nip11": Step("reset")}

MATRIX = [
    ("working", relay(), "ok"),
    ("throttled but answering", relay(websocket=Step("ok", seconds=2.4)), "ok"),
    (
        "nxdomain",
        relay(dns_system=Dns(error="nxdomain"), tcp=Step("skipped"), websocket=Step("skipped")),
        "dns.nxdomain",
    ),
    (
        "bogon answer",
        relay(dns_system=Dns(("127.0.0.1",)), tcp=Step("refused"), websocket=Step("skipped")),
        "dns.injection.bogon",
    ),
    (
        "bogon answer, no control",
        relay(
            dns_system=Dns(("10.10.34.35",)),
            dns_control=None,
            control=None,
            tcp=Step("timeout"),
            websocket=Step("skipped"),
        ),
        "dns.injection.bogon",
    ),
    ("blackholed", relay(tcp=Step("timeout"), websocket=Step("skipped")), "tcp.timeout"),
    ("reset", relay(tcp=Step("refused"), websocket=Step("skipped")), "tcp.reset"),
    ("sni reset", relay(tls_real=Step("reset"), **FAILED_AFTER_TLS), "tls.reset.sni"),
    (
        "sni reset (eof)",
        relay(tls_real=Step("eof"), tls_decoy=Step("cert_invalid"), **FAILED_AFTER_TLS),
        "tls.reset.sni",
    ),
    ("sni stall", relay(tls_real=Step("timeout"), **FAILED_AFTER_TLS), "tls.timeout.sni"),
    ("ip-wide tls reset", relay(tls_real=Step("reset"), tls_decoy=Step("reset"), **FAILED_AFTER_TLS), "tls.reset"),
    ("mitm", relay(tls_real=Step("cert_invalid"), tls_decoy=Step("cert_invalid"), websocket=Step("error")), "tls.mitm"),
    (
        "blockpage",
        relay(
            secure=False,
            tls_real=Step("skipped"),
            tls_decoy=Step("skipped"),
            websocket=Step("blockpage", "HTTP 403 text/html"),
            nip11=Step("blockpage"),
        ),
        "http.blockpage",
    ),
    (
        "down: reset here, and through the proxy",
        relay(tcp=Step("refused"), websocket=Step("skipped"), control=Step("refused", proxy_said=True)),
        "down",
    ),
    (
        "down: timeout here, and through the proxy",
        relay(tcp=Step("timeout"), websocket=Step("skipped"), control=Step("timeout", proxy_said=True)),
        "down",
    ),
    (
        "down: the name is gone everywhere",
        relay(
            dns_system=Dns(error="nxdomain"),
            dns_control=Dns(error="nxdomain"),
            websocket=Step("skipped"),
            control=Step("error"),
        ),
        "down",
    ),
]


@pytest.mark.parametrize(("case", "measurement", "expected"), MATRIX, ids=[c[0] for c in MATRIX])
def test_matrix(case: str, measurement: Measurement, expected: str) -> None:
    verdict = classify(measurement)
    assert verdict.cls == expected, verdict.reason
    assert verdict.cls in CLASSES


def test_a_blocked_class_is_confirmed_only_by_a_working_control_path() -> None:
    assert classify(relay(tcp=Step("timeout"), websocket=Step("skipped"))).confirmed
    unconfirmed = classify(relay(tcp=Step("timeout"), websocket=Step("skipped"), control=None, dns_control=None))
    assert unconfirmed.cls == "tcp.timeout"
    assert not unconfirmed.confirmed
    assert "no control path" in unconfirmed.reason


def test_a_relay_on_a_private_address_that_answers_is_not_dns_injection() -> None:
    lan = Dns(("192.168.1.20",))
    assert classify(relay(dns_system=lan, dns_control=lan)).cls == "ok"
    # ... and when it does not answer, the control resolver's agreeing answer rules injection out.
    assert classify(relay(dns_system=lan, dns_control=lan, tcp=Step("timeout"), websocket=Step("skipped"))).cls == (
        "tcp.timeout"
    )


def test_bogons() -> None:
    for address in ("127.0.0.1", "0.0.0.0", "10.10.34.35", "192.168.0.1", "100.64.1.1", "::1", "fe80::1", "fd00::1"):
        assert is_bogon(address), address
    for address in ("203.0.114.7", "8.8.8.8", "2a00:1450::1", "not an address"):
        assert not is_bogon(address), address


def test_unknown_outcomes_cannot_be_built() -> None:
    with pytest.raises(LocalProtocolError, match="unknown step outcome"):
        Step("exploded")
    with pytest.raises(LocalProtocolError, match="unknown DNS error"):
        Dns(error="weird")


# -- the data step: handshakes let through, then stalled, cut or throttled ----------------------------------------

WHOLE = Transfer("ok", down=200_000, up=67_000, seconds=1.2, rate=400_000)
STALLED = Transfer("stalled", down=15_100, up=0, seconds=6.0, detail="nothing came for 5 s")

DATA_MATRIX = [
    ("answer came whole and fast", relay(data=WHOLE, control_data=WHOLE), "ok", True),
    ("stalled here, whole through the control path", relay(data=STALLED, control_data=WHOLE), "data.stall", True),
    ("stalled, no control path", relay(data=STALLED, control=None, control_data=None), "data.stall", False),
    (
        "stalled, the control path's upgrade failed",
        relay(data=STALLED, control=Step("timeout"), control_data=NO_TRANSFER),
        "data.stall",
        False,
    ),
    # Rule 4: the relay failing, or the way to the proxy stalled too (tests/net/test_redteam_censor9_*).
    ("stalled on both paths: unconfirmed", relay(data=STALLED, control_data=STALLED), "data.stall", False),
    (
        "upstream stall: the answer came, what was sent got none",
        relay(data=Transfer("stalled", down=200_000, up=13_400, rate=400_000), control_data=WHOLE),
        "data.stall",
        True,
    ),
    ("cut after 16 KB", relay(data=Transfer("reset", down=16_000), control_data=WHOLE), "data.reset", True),
    (
        "throttled here, fast through the control path",
        relay(data=Transfer("ok", down=90_000, up=67_000, rate=12_000), control_data=WHOLE),
        "data.throttled",
        True,
    ),
    (
        "throttled, no control path",
        relay(data=Transfer("ok", down=90_000, rate=12_000), control=None, control_data=None),
        "data.throttled",
        False,
    ),
    (
        "slow on both paths: the network, not a censor",
        relay(data=Transfer("ok", down=90_000, rate=12_000), control_data=Transfer("ok", down=90_000, rate=15_000)),
        "ok",
        True,
    ),
    (
        "the control path is faster but slow too",
        relay(data=Transfer("ok", down=90_000, rate=20_000), control_data=Transfer("ok", down=90_000, rate=30_000)),
        "ok",
        True,
    ),
]


@pytest.mark.parametrize(("case", "measurement", "expected", "confirmed"), DATA_MATRIX, ids=[c[0] for c in DATA_MATRIX])
def test_data_matrix(case: str, measurement: Measurement, expected: str, confirmed: bool) -> None:
    verdict = classify(measurement)
    assert (verdict.cls, verdict.confirmed) == (expected, confirmed), verdict.reason
    assert verdict.cls in CLASSES


def test_a_relay_with_too_little_data_is_not_called_ok_for_its_data() -> None:
    # The control path had as little (with it carrying much more, it is rule 6: tests/net/test_redteam_censor9_*).
    short = Transfer("short", down=3_000, up=67_000)
    verdict = classify(relay(data=short, control_data=short))
    assert verdict.cls == "ok"
    assert "not enough data to tell" in verdict.reason


def test_the_reasons_say_how_much_got_through() -> None:
    verdict = classify(relay(data=STALLED, control_data=WHOLE))
    assert "after 15 KB down" in verdict.reason
    assert "blocked here" in verdict.reason
    assert "12 KB/s" in classify(relay(data=Transfer("ok", down=90_000, rate=12_288), control_data=WHOLE)).reason
    assert THROTTLE_RATE == 32 * 1024


def test_unknown_transfer_outcomes_cannot_be_built() -> None:
    with pytest.raises(LocalProtocolError, match="unknown transfer outcome"):
        Transfer("frozen")
