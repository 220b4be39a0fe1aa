"""Reachability reports (kind 2340): anonymous, signed "this relay is blocked / down / fine from here" events,
and the aggregate that turns many of them into a view per relay, region and hour.

A report says which relay, what :func:`samizdat.core.interference.classify` found, in which hour, from which
country, ASN and network type. It is signed by a fresh key made for that one report, its ``created_at`` is the
hour (rounded down) and nothing in it names an address, so reports from one person cannot be linked by key,
time or IP (docs/protocol.md, "Reachability reports").

Aggregating (:func:`aggregate`): reports are grouped by (relay, country, hour). Fresh keys mean one actor can
write any number of reports, so the count of keys proves little; a group is called ``blocked`` only when

* at least ``threshold`` reports (each from a distinct key) say a blocking class, and
* they come from at least ``min_sources`` distinct *sources*, a source being an (ASN, network type) pair, and
* they outnumber the reports that reached the relay (``ok``).

``down`` is called the same way for ``down`` reports; ``ok`` when reports that reached the relay are the majority;
anything else is ``unclear``. Raising ``min_sources`` is the knob against a single liar with many keys: they then
need access to several networks. Counting per hour also limits a flood to the hours it happens in.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from samizdat.core.event import Event, sign_event
from samizdat.core.interference import CLASSES, DOWN, OK
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError, UsageError

REACHABILITY = 2340
NAMESPACE = "samizdat.reachability"
HOUR = 3600
REPORT_LIFETIME = 30 * 24 * HOUR  # NIP-40 expiration: old reports say nothing about today
NETWORK_TYPES = frozenset({"mobile", "wifi", "fixed", "vpn", "unknown"})
UNKNOWN_COUNTRY = "ZZ"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ASN = re.compile(r"^AS[0-9]{1,10}$")
_URL = re.compile(r"^wss?://[^\s]{1,400}$")


@dataclass(frozen=True, slots=True)
class Report:
    id: str
    pubkey: str
    relay: str
    cls: str
    hour: int
    country: str
    asn: str
    network: str
    confirmed: bool


def hour_of(timestamp: float) -> int:
    return int(timestamp) // HOUR * HOUR


def normal_country(country: str) -> str:
    value = (country or UNKNOWN_COUNTRY).strip().upper()
    if not _COUNTRY.match(value):
        raise UsageError(f"{country!r} is not a two-letter country code such as BY")
    return value


def normal_asn(asn: str) -> str:
    value = (asn or "").strip().upper()
    if value.isdigit():
        value = "AS" + value
    if value and not _ASN.match(value):
        raise UsageError(f"{asn!r} is not an AS number such as AS25106")
    return value


def build_report(
    key: SecretKey,
    relay: str,
    cls: str,
    *,
    now: float,
    country: str = "",
    asn: str = "",
    network: str = "unknown",
    confirmed: bool = False,
) -> Event:
    """Sign one report with ``key`` (use a fresh key for each). Raises :class:`UsageError` for a bad field."""
    if cls not in CLASSES:
        raise UsageError(f"{cls!r} is not a reachability class")
    if not _URL.match(relay):
        raise UsageError(f"{relay!r} is not a relay URL")
    if network not in NETWORK_TYPES:
        raise UsageError(f"network type must be one of {', '.join(sorted(NETWORK_TYPES))}")
    hour = hour_of(now)
    tags = [
        ["r", relay],
        ["L", NAMESPACE],
        ["l", cls, NAMESPACE],
        ["country", normal_country(country)],
        ["network", network],
        ["confirmed", "1" if confirmed else "0"],
        ["expiration", str(hour + REPORT_LIFETIME)],
    ]
    if asn:
        tags.insert(4, ["asn", normal_asn(asn)])
    return sign_event(key, REACHABILITY, "", tags, created_at=hour)


def parse_report(event: Event) -> Report:
    """The report in ``event``; raise :class:`RemoteProtocolError` (``invalid``) if it is not a valid one."""
    if event.kind != REACHABILITY:
        raise RemoteProtocolError(f"kind {event.kind} is not a reachability report")
    first: dict[str, str] = {}
    cls = None
    for tag in event.tags:
        if len(tag) >= 2:
            first.setdefault(tag[0], tag[1])
            if tag[0] == "l" and len(tag) >= 3 and tag[2] == NAMESPACE:
                cls = tag[1]
    relay = first.get("r", "")
    if cls not in CLASSES or not _URL.match(relay):
        raise RemoteProtocolError("a reachability report needs an r (relay) and a known class")
    country, asn, network = first.get("country", UNKNOWN_COUNTRY), first.get("asn", ""), first.get("network", "unknown")
    if not _COUNTRY.match(country) or (asn and not _ASN.match(asn)) or network not in NETWORK_TYPES:
        raise RemoteProtocolError("a reachability report has a malformed country, asn or network tag")
    if event.created_at % HOUR:
        raise RemoteProtocolError("a reachability report's time must be rounded to the hour")
    return Report(
        event.id, event.pubkey, relay, cls, event.created_at, country, asn, network, first.get("confirmed") == "1"
    )


def _verdict(classes: Counter[str], blocking_keys: int, blocking_sources: int, down_keys: int, down_sources: int,
             threshold: int, min_sources: int) -> str:  # fmt: skip
    reached = classes.get(OK, 0)
    blocking = sum(n for c, n in classes.items() if c not in (OK, DOWN))
    if blocking_keys >= threshold and blocking_sources >= min_sources and blocking > reached:
        return "blocked"
    if down_keys >= threshold and down_sources >= min_sources and classes.get(DOWN, 0) > reached:
        return "down"
    if reached and reached >= blocking + classes.get(DOWN, 0):
        return "ok"
    return "unclear"


def aggregate(reports: Iterable[Report], *, threshold: int = 3, min_sources: int = 1) -> list[dict[str, object]]:
    """One JSON-able row per (relay, country, hour), newest hour first, with the verdict (see the module)."""
    groups: dict[tuple[str, str, int], list[Report]] = defaultdict(list)
    seen: set[str] = set()
    for report in reports:
        if report.pubkey in seen:  # one report per key: a key that reports twice is counted once
            continue
        seen.add(report.pubkey)
        groups[(report.relay, report.country, report.hour)].append(report)
    rows: list[dict[str, object]] = []
    for (relay, country, hour), members in groups.items():
        classes = Counter(r.cls for r in members)
        blocking = [r for r in members if r.cls not in (OK, DOWN)]
        down = [r for r in members if r.cls == DOWN]
        verdict = _verdict(
            classes,
            len({r.pubkey for r in blocking}),
            len({(r.asn, r.network) for r in blocking}),
            len({r.pubkey for r in down}),
            len({(r.asn, r.network) for r in down}),
            threshold,
            min_sources,
        )
        top = max((c for c in classes if c not in (OK, DOWN)), key=lambda c: classes[c], default=None)
        rows.append(
            {
                "relay": relay,
                "country": country,
                "hour": hour,
                "verdict": verdict,
                "how": top if verdict == "blocked" else None,
                "reports": len(members),
                "classes": dict(classes.most_common()),
                "asns": sorted({r.asn for r in members if r.asn}),
                "networks": sorted({r.network for r in members}),
                "sources": len({(r.asn, r.network) for r in members}),
                "confirmed": sum(1 for r in members if r.confirmed),
            }
        )
    rows.sort(key=lambda r: (-int(r["hour"]), str(r["relay"]), str(r["country"])))  # type: ignore[call-overload]
    return rows
