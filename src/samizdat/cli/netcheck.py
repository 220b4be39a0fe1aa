"""``samizdat netcheck``: is each relay blocked from here, and how; ``samizdat reachability``: what everyone's
anonymous reports say; ``samizdat routes``: which transport reaches which relay on this network."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, run, warn, with_node
from samizdat.cli.render import ago, plural
from samizdat.core.interference import CLASSES, IMPOSTOR, OK
from samizdat.core.routes import THROTTLED, RouteRecord, found_by, impairment
from samizdat.errors import UsageError
from samizdat.net.netcheck import PROXY_CLASSES
from samizdat.services import reachability
from samizdat.services.context import Context


def _legend(classes: list[str]) -> list[str]:
    """What each class shown means, for a person who has not read OONI's vocabulary."""
    shown = [c for c in dict.fromkeys(classes) if c != OK]
    if not shown:
        return []
    width = max(len(c) for c in shown)
    known = {**CLASSES, **PROXY_CLASSES}
    return ["What this means:"] + [f"  {c:<{width}}  {known.get(c, 'a class this version does not know')}"
                                   for c in shown]  # fmt: skip


def _result_text(data: dict[str, Any]) -> str:
    results = data["results"]
    if not results:
        return "No relays to check: give URLs, or follow a channel first."
    width = max(len(r["url"]) for r in results)
    cls_width = max(len(r["class"]) for r in results)
    lines = [f"{r['url']:<{width}}  {r['class']:<{cls_width}}  {r['reason']}" for r in results]
    legend = _legend([r["class"] for r in results])
    for kept in data.get("sync_marks_kept", []):
        until = time.strftime("%H:%M", time.localtime(kept["until"]))
        lines.append(
            f"{kept['url']}: the data step passed, but a sync found the direct route failing ({kept['class']}); it "
            f"stays avoided until {until}: a censor may let through what netcheck moves (about 200 KB) and stall "
            "more, or recognise the probe."
        )
    if data.get("through"):
        lines += ["", f"Checked only through {data['through']} (--proxy): no direct probe was made, so this does not "
                  "say whether this network blocks a relay."]  # fmt: skip
    if data.get("report_skipped"):
        lines.append(f"Not reported: {data['report_skipped']}.")
    if legend:
        lines += ["", *legend]
        if not data.get("control") and not data.get("through"):
            lines.append(
                "Without a control path (--control-proxy: tor, or a proxy abroad) a relay that is down and a blocked "
                "one can look alike."
            )
    if "report" in data:
        lines.append(f"Published {plural(data['reported'], 'anonymous reachability report')}.")
        if data.get("not_reported"):
            lines.append(
                "Not reported: " + ", ".join(data["not_reported"]) + " (a loopback or private address says nothing "
                "about censorship)."
            )
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("netcheck")
    def netcheck_command(
        urls: list[str] = typer.Argument(
            None, metavar="URL", help="Relays to check (default: every relay this node uses)."
        ),
        control_proxy: str | None = typer.Option(
            None, "--control-proxy", help="Proxy for the control path (default: the configured proxy or fallback)."
        ),
        control_dns: str | None = typer.Option(
            None, "--control-dns", help="Control resolver: tcp://HOST:53 (through the control proxy) or a DoH URL."
        ),
        ca_file: Path | None = typer.Option(None, "--ca-file", help="Extra CA certificates for TLS verification."),
        decoy: str | None = typer.Option(None, "--decoy", help="Server name for the decoy TLS handshake."),
        step_timeout: float = typer.Option(5.0, "--timeout", help="Seconds each step may take."),
        report: bool | None = typer.Option(
            None, "--report/--no-report", help="Publish anonymous reachability reports (config: netcheck.report)."
        ),
        country: str | None = typer.Option(None, help="Your country for reports (two letters, e.g. BY)."),
        asn: str | None = typer.Option(None, help="Your network's AS number for reports, e.g. AS25106."),
        network: str | None = typer.Option(None, help="Network type for reports: mobile, wifi, fixed, vpn."),
        as_json: bool = JsonOption,
    ) -> None:
        """Tell blocking from outage: is each relay blocked here, and how.

        Measures DNS, TCP, TLS (real and decoy name), WebSocket and NIP-11 for each relay, then whether about 64 KB
        each way still flow over the connection (censors that stall or throttle after the handshake), directly and
        through a control path, and names what blocks it with OONI's classes (explained under the results). These direct
        probes show the network which relays you check; with --proxy (or [sync] proxy) netcheck makes none and
        only checks each relay through the proxy."""

        async def action(ctx: Context) -> dict[str, Any]:
            return await reachability.check(
                ctx, list(urls or []), control_proxy=control_proxy, control_dns=control_dns, ca_file=ca_file,
                decoy=decoy, step_timeout=step_timeout, report=report, country=country, asn=asn, network=network,
                notice=warn,
            )  # fmt: skip

        emit(run(with_node(action)), as_json, _result_text)

    @app.command("reachability")
    def reachability_command(
        relay: str | None = typer.Option(None, "--relay", help="Only this relay."),
        hours: int = typer.Option(24 * 7, "--hours", help="How many hours back."),
        threshold: int = typer.Option(3, "--threshold", help="Reports (distinct keys) needed to call it blocked."),
        min_sources: int = typer.Option(
            1, "--min-sources", help="Distinct networks (ASN and type) needed to call it blocked."
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """What anonymous reachability reports say, per relay, country and hour.

        A relay is called blocked only when enough independent reports agree."""
        if threshold < 1 or min_sources < 1 or hours < 1:
            raise UsageError("--threshold, --min-sources and --hours must be at least 1")

        async def action(ctx: Context) -> dict[str, Any]:
            return await reachability.aggregate(
                ctx.store,
                relay=relay,
                since=ctx.now() - hours * 3600,
                threshold=threshold,
                min_sources=min_sources,
            )

        def text(data: dict[str, Any]) -> str:
            if not data["rows"]:
                return "No reachability reports yet."
            lines = []
            for row in data["rows"]:
                when = time.strftime("%Y-%m-%d %H:00 UTC", time.gmtime(row["hour"]))
                how = f" ({row['how']})" if row["how"] else ""
                classes = ", ".join(f"{c} ×{n}" for c, n in row["classes"].items())
                lines.append(
                    f"{when}  {row['country']}  {row['relay']}  {row['verdict']}{how}: "
                    f"{plural(row['reports'], 'report')} from {plural(row['sources'], 'network')}: {classes}"
                )
            legend = _legend([c for row in data["rows"] for c in row["classes"]])
            return "\n".join(lines + ([""] + legend if legend else []))

        emit(run(with_node(action)), as_json, text)

    @app.command("routes")
    def routes_command(as_json: bool = JsonOption) -> None:
        """Which transports reached which relay, on which network: what failover remembers."""

        async def action(ctx: Context) -> list[dict[str, Any]]:
            from samizdat.net import netinfo

            here = netinfo.network_id()
            return [
                {
                    "relay": relay,
                    "network": network,
                    "this_network": network == here,
                    "transport": record.transport,
                    "last_ok": record.last_ok,
                    "last_failure": record.last_failure,
                    "failures": record.failures,
                    "next_retry": record.next_retry,
                    "last_error": record.last_error,
                }
                for relay, network, record in ctx.local.all_routes()
            ]

        def text(rows: list[dict[str, Any]]) -> str:
            if not rows:
                return "No routes tried yet."
            now = time.time()

            def state(r: dict[str, Any]) -> str:
                record = RouteRecord(r["transport"], next_retry=r["next_retry"], last_error=r["last_error"])
                found = impairment(record, now)
                if found is not None:
                    until = time.strftime("%H:%M", time.localtime(r["next_retry"]))
                    if found_by(record) == "sync" and found == THROTTLED:
                        return (f"avoided until {until}: a sync found it throttled, another route much faster "
                                f"({found}: {CLASSES[found]})")  # fmt: skip
                    if found_by(record) == "sync" and found == IMPOSTOR:
                        why = r["last_error"].split(": ", 2)[-1]
                        return (f"avoided until {until}, tried only when the other routes fail: a sync found "
                                f"something else answering in the relay's name ({found}: {why})")  # fmt: skip
                    if found_by(record) == "sync":
                        return (f"avoided until {until}, tried only when the other routes fail: it stalled during a "
                                f"sync ×{r['failures']} ({found}: {CLASSES[found]})")  # fmt: skip
                    return f"avoided until {until}: netcheck found {found} ({CLASSES[found]})"
                if r["failures"] == 0 and r["last_ok"]:
                    return f"works (last {ago(r['last_ok'], now)})"
                return f"failed ×{r['failures']} (last {ago(r['last_failure'], now)}: {r['last_error']})"

            return "\n".join(
                f"{r['relay']}  {r['transport']}: {state(r)}" + ("" if r["this_network"] else "  [another network]")
                for r in rows
            )

        emit(run(with_node(action)), as_json, text)
