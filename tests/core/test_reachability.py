"""Reachability reports: anonymous by construction, and an aggregate that needs independent agreement."""

from __future__ import annotations

import os

import pytest

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.reachability import (
    REACHABILITY,
    Report,
    aggregate,
    build_report,
    normal_asn,
    normal_country,
    parse_report,
)
from samizdat.errors import RemoteProtocolError, UsageError

NOW = 1_763_700_000.0  # 2025-11-21 04:40 UTC
RELAY = "wss://relay.example"


def report(cls: str, *, asn: str = "AS6697", network: str = "mobile", country: str = "BY", now: float = NOW) -> Report:
    event = build_report(SecretKey.generate(os.urandom), RELAY, cls, now=now, country=country, asn=asn,
                         network=network)  # fmt: skip
    return parse_report(event)


def test_a_report_names_no_time_finer_than_the_hour_and_no_address() -> None:
    key = SecretKey.generate(os.urandom)
    event = build_report(key, RELAY, "tls.reset.sni", now=NOW, country="by", asn="6697", network="mobile",
                         confirmed=True)  # fmt: skip
    assert event.kind == REACHABILITY
    assert event.created_at % 3600 == 0
    assert event.created_at <= NOW < event.created_at + 3600
    tags = {t[0]: t[1:] for t in event.tags}
    assert tags["r"] == (RELAY,)
    assert tags["l"] == ("tls.reset.sni", "samizdat.reachability")
    assert tags["country"] == ("BY",)
    assert tags["asn"] == ("AS6697",)
    assert int(tags["expiration"][0]) > event.created_at
    parsed = parse_report(event)
    assert parsed.confirmed
    assert parsed.cls == "tls.reset.sni"
    assert "10." not in event.to_json().decode().replace(str(event.created_at), "")


def test_bad_fields_are_refused_with_one_sentence() -> None:
    key = SecretKey.generate(os.urandom)
    with pytest.raises(UsageError, match="not a reachability class"):
        build_report(key, RELAY, "blocked-ish", now=NOW)
    with pytest.raises(UsageError, match="country code"):
        normal_country("Belarus")
    with pytest.raises(UsageError, match="AS number"):
        normal_asn("beltelecom")
    with pytest.raises(UsageError, match="network type"):
        build_report(key, RELAY, "ok", now=NOW, network="carrier pigeon")


def test_hostile_reports_are_rejected() -> None:
    key = SecretKey.generate(os.urandom)
    unrounded = sign_event(key, REACHABILITY, "", [["r", RELAY], ["l", "ok", "samizdat.reachability"]],
                           created_at=int(NOW))  # fmt: skip
    with pytest.raises(RemoteProtocolError, match="rounded to the hour"):
        parse_report(unrounded)
    unknown = sign_event(key, REACHABILITY, "", [["r", RELAY], ["l", "nuked", "samizdat.reachability"]],
                         created_at=3600)  # fmt: skip
    with pytest.raises(RemoteProtocolError, match="known class"):
        parse_report(unknown)


def test_blocked_needs_enough_reports_from_distinct_keys() -> None:
    two = [report("tcp.timeout"), report("tcp.timeout")]
    assert aggregate(two)[0]["verdict"] == "unclear"
    three = [*two, report("tcp.timeout", asn="AS25106")]
    [row] = aggregate(three)
    assert row["verdict"] == "blocked"
    assert row["how"] == "tcp.timeout"
    assert row["asns"] == ["AS25106", "AS6697"]


def test_the_same_key_counts_once() -> None:
    one = report("tcp.reset")
    assert aggregate([one, one, one])[0]["reports"] == 1


def test_more_sources_can_be_required_against_one_liar_with_many_keys() -> None:
    sybil = [report("tls.reset.sni") for _ in range(20)]  # twenty keys, one network
    assert aggregate(sybil)[0]["verdict"] == "blocked"
    assert aggregate(sybil, min_sources=2)[0]["verdict"] == "unclear"
    honest = [report("tls.reset.sni", asn="AS25106", network="fixed"), *sybil]
    assert aggregate(honest, min_sources=2)[0]["verdict"] == "blocked"


def test_reports_that_reached_the_relay_outvote_blocking_ones() -> None:
    rows = aggregate([*(report("tcp.timeout") for _ in range(3)), *(report("ok") for _ in range(4))])
    assert rows[0]["verdict"] == "ok"


def test_down_is_not_blocked() -> None:
    rows = aggregate([report("down"), report("down", asn="AS1"), report("down", asn="AS2")])
    assert rows[0]["verdict"] == "down"
    assert rows[0]["how"] is None


def test_rows_per_country_and_hour_newest_first() -> None:
    rows = aggregate([report("ok", country="BY"), report("ok", country="PL"), report("ok", now=NOW + 7200)])
    assert [(r["country"], r["hour"]) for r in rows] == [
        ("BY", int(NOW + 7200) // 3600 * 3600), ("BY", int(NOW) // 3600 * 3600), ("PL", int(NOW) // 3600 * 3600)
    ]  # fmt: skip
