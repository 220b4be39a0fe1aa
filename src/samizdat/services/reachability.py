"""Netcheck and reachability reports on a node: measure, publish reports (opt-in), aggregate what the store holds.

:func:`aggregate` is the one entry point for views (the command line's ``samizdat reachability`` and the web
app's status): it reads the reports in the node's store and returns JSON-able data. Reports arrive in the store
like any other event: published by this node, synced from relays, imported from bundles. A report names only
relays a censor can block: loopback, private and link-local addresses are never reported (they say something
about the reporter's own network and nothing about censorship).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from samizdat.core import reachability as core
from samizdat.core import routes
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.interference import CLASSES
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.net.transports import redacted
from samizdat.services import publishing
from samizdat.services.context import Context
from samizdat.store.base import Store

if TYPE_CHECKING:
    from samizdat.net.netcheck import Result

log = logging.getLogger(__name__)

MAX_REPORTS = 5000


async def aggregate(
    store: Store,
    *,
    relay: str | None = None,
    since: int | None = None,
    threshold: int = 3,
    min_sources: int = 1,
) -> dict[str, Any]:
    """The reachability view: ``{"rows": [...], "threshold", "min_sources", "classes"}``, one row per (relay,
    country, hour), newest first (see :func:`samizdat.core.reachability.aggregate` for the row's fields and when a
    relay is called blocked). ``relay`` keeps one relay's rows; ``since`` (Unix time) drops older hours."""
    tags: tuple[tuple[str, frozenset[str]], ...] = (("r", frozenset({relay})),) if relay else ()
    events = await store.query([Filter(kinds=frozenset({core.REACHABILITY}), tags=tags, since=since,
                                       limit=MAX_REPORTS)])  # fmt: skip
    reports = []
    for event in events:
        try:
            reports.append(core.parse_report(event))
        except RemoteProtocolError as exc:
            log.debug("skipping report %s: %s", event.id[:12], exc)
    return {
        "rows": core.aggregate(reports, threshold=threshold, min_sources=min_sources),
        "threshold": threshold,
        "min_sources": min_sources,
        "classes": CLASSES,
    }


def build_reports(results: Sequence[Result], *, now: float, country: str, asn: str, network: str) -> list[Event]:
    """One report per measured relay, each signed by a key made for it alone and then forgotten."""
    return [
        core.build_report(
            SecretKey.generate(os.urandom),
            result.url,
            result.verdict.cls,
            now=now,
            country=country,
            asn=asn,
            network=network,
            confirmed=result.verdict.confirmed,
        )
        for result in results
    ]


def reportable(url: str) -> bool:
    """False for a relay on a loopback, private, link-local or otherwise local address (or ``localhost``,
    ``*.local``): a report about it would tell about the reporter's own network, not about a censor."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".lan", ".home.arpa", ".internal")):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host  # a single-label name is a local one
    return address.is_global


async def publish_reports(ctx: Context, results: Sequence[Result], *, country: str, asn: str, network: str) -> int:
    """Build, store and queue one anonymous report per measured public relay; return how many. Reports go to
    the relays that worked in this very run (and the node's write relays) and are delivered within the
    command's budget."""
    public = [r for r in results if reportable(r.url)]
    if not public:
        return 0
    events = build_reports(public, now=ctx.clock(), country=country, asn=asn, network=network)
    reachable = [r.url for r in results if r.verdict.cls == "ok"]
    await publishing.publish(ctx, events, reachable)
    await publishing.deliver(ctx, budget=publishing.DELIVERY_BUDGET)
    return len(events)


#: What a person hears before ``netcheck`` probes relays directly (not with ``--proxy``: it then makes no such probe).
DIRECT_PROBES = (
    "netcheck probes each relay directly: it asks this network's resolver for the relay's name and connects to its "
    "address, so whoever watches this network sees which relays you check (--via does not change that; with "
    "--proxy, netcheck connects only through the proxy)"
)


def netcheck_settings(ctx: Context) -> dict[str, Any]:
    """The ``[netcheck]`` table of config.toml, checked; UsageError naming the file and key otherwise."""
    where = ctx.home / "config.toml"
    table = ctx.config.extra.get("netcheck", {})
    if not isinstance(table, dict):
        raise UsageError(f"{where}: [netcheck] must be a table")
    for key in ("control_proxy", "control_dns", "ca_file", "decoy", "country", "asn", "network"):
        if key in table and not isinstance(table[key], str):
            raise UsageError(f"{where}: netcheck.{key} must be a string")
    if "report" in table and not isinstance(table["report"], bool):
        raise UsageError(f"{where}: netcheck.report must be true or false")
    return table


def remember_direct(ctx: Context, results: Sequence[Result], network: str) -> list[dict[str, Any]]:
    """Tell failover what the direct probes found on ``network``: a direct route that stalls or is throttled
    after the handshake is avoided (:func:`samizdat.core.routes.after_netcheck`), one whose data came through is
    cleared. Failover cannot see this itself: to it, a connection that opens is a route that works.

    A mark a sync made (the route stalled or crawled under a real sync while another route carried it) is not
    cleared by a data step that passed: the data step moves about 200 KB, and a censor that lets that much through
    per connection (or recognises the probe) and stalls what comes after would otherwise have every netcheck send
    failover back to the route that stalls (red team, round 9). Returns those kept marks, for the report:
    ``{"url", "class", "until"}``."""
    now = ctx.clock()
    kept: list[dict[str, Any]] = []
    for result in results:
        verdict = result.verdict
        record = ctx.local.routes(result.url, network).get("direct")
        held = routes.impairment(record, now)
        if verdict.cls == "ok" and held is not None and routes.found_by(record) == "sync":
            assert record is not None
            kept.append({"url": result.url, "class": held, "until": record.next_retry})
            continue
        decided = routes.after_netcheck(record, "direct", verdict.cls, verdict.reason, confirmed=verdict.confirmed,
                                        now=now)  # fmt: skip
        if decided is not None and (decided != record):
            ctx.local.record_route(result.url, network, decided)
            if verdict.cls != "ok":
                log.info("%s: the direct route is avoided on this network (%s)", result.url, verdict.cls)
    return kept


async def check(
    ctx: Context,
    urls: Sequence[str],
    *,
    control_proxy: str | None = None,
    control_dns: str | None = None,
    ca_file: Path | None = None,
    decoy: str | None = None,
    step_timeout: float = 5.0,
    report: bool | None = None,
    country: str | None = None,
    asn: str | None = None,
    network: str | None = None,
    notice: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``samizdat netcheck``: measure ``urls`` (default: every relay the node uses) directly and through the
    control path, and publish anonymous reports when asked (here or in config.toml). ``notice`` is given
    :data:`DIRECT_PROBES` once every option is found valid, right before the first direct probe.

    When every connection must go through a proxy (``--proxy``, ``[sync] proxy``), only check each relay through
    it: no direct probe (and no notice), no control path, no report (it would say nothing about this network);
    ``through`` then names the proxy. Raises UsageError for a bad option, before measuring anything."""
    from samizdat.net import netcheck, netinfo
    from samizdat.services.channels import known_relays

    if step_timeout <= 0 or step_timeout > 120:
        raise UsageError("--timeout must be between 0 and 120 seconds")
    settings = netcheck_settings(ctx)
    targets = list(urls) or await known_relays(ctx)
    routing = ctx.routing
    through = routing.proxy or None
    if through and (control_proxy or control_dns):
        raise UsageError(
            "--control-proxy and --control-dns do not go with --proxy (or [sync] proxy): netcheck then connects to "
            "each relay only through the proxy, with no direct probe to compare"
        )
    default_control = next((s for s in routing.fallback if s != "direct"), None)
    options = netcheck.Options(
        control_proxy=None if through else control_proxy or settings.get("control_proxy") or default_control,
        control_dns=None if through else control_dns or settings.get("control_dns") or netcheck.DEFAULT_DOH,
        ca_file=ca_file or (Path(settings["ca_file"]) if settings.get("ca_file") else None),
        decoy=decoy or settings.get("decoy") or netcheck.DEFAULT_DECOY,
        step_timeout=step_timeout,
        tor=routing.tor,
        through=through,
    )
    wanted = settings.get("report", False) if report is None else report
    publish = wanted and not through
    # Check the report's fields before measuring, so a typo does not cost a whole run.
    place = {
        "country": core.normal_country(country or settings.get("country", "")),
        "asn": core.normal_asn(asn or settings.get("asn", "")),
        "network": network or settings.get("network") or netinfo.network_type(),
    }
    if place["network"] not in core.NETWORK_TYPES:
        raise UsageError(f"--network must be one of {', '.join(sorted(core.NETWORK_TYPES))}")
    netcheck.check_urls(targets)
    if targets and not through and notice is not None:
        notice(DIRECT_PROBES)
    results = await netcheck.netcheck(targets, options) if targets else []
    kept = [] if through else remember_direct(ctx, results, netinfo.network_id())
    data: dict[str, Any] = {
        "results": [r.to_dict() for r in results],
        "control": options.control_proxy or "",
        "through": redacted(through) if through else "",
        "reported": 0,
        "sync_marks_kept": kept,
    }
    if wanted and through:
        data["report_skipped"] = "no reachability reports: only direct probes say something about this network"
    if publish and results:
        data["reported"] = await publish_reports(ctx, results, **place)
        data["report"] = place
        data["not_reported"] = [r.url for r in results if not reportable(r.url)]
    return data
