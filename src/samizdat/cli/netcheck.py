"""``samizdat netcheck``: is each relay blocked from here, and how; ``samizdat reachability``: what everyone's
anonymous reports say; ``samizdat routes``: which transport reaches which relay on this network."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, run, with_node
from samizdat.errors import UsageError
from samizdat.services import reachability
from samizdat.services.context import Context


def _result_text(data: dict[str, Any]) -> str:
    lines = []
    width = max((len(r["url"]) for r in data["results"]), default=10)
    for r in data["results"]:
        lines.append(f"{r['url']:<{width}}  {r['class']:<20} {r['reason']}")
    if data.get("reported"):
        lines.append(f"Published {data['reported']} anonymous reachability report(s).")
    return "\n".join(lines) or "No relays to check: give URLs, or follow a channel first."


def register(app: typer.Typer) -> None:
    @app.command("netcheck")
    def netcheck_command(
        urls: list[str] = typer.Argument(None, help="Relays to check (default: every relay this node uses)."),
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
        """Tell blocking from outage: measure DNS, TCP, TLS (real and decoy name), WebSocket and NIP-11 for each
        relay, directly and through a control path, and name what blocks it (OONI's classes)."""
        async def action(ctx: Context) -> dict[str, Any]:
            return await reachability.check(
                ctx, list(urls or []), control_proxy=control_proxy, control_dns=control_dns, ca_file=ca_file,
                decoy=decoy, step_timeout=step_timeout, report=report, country=country, asn=asn, network=network,
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
        """What anonymous reachability reports say, per relay, country and hour: blocked only when enough
        independent reports agree."""
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
                classes = ", ".join(f"{c} {n}" for c, n in row["classes"].items())
                lines.append(
                    f"{when}  {row['country']}  {row['relay']}  {row['verdict']}{how}: {row['reports']} report(s), "
                    f"{row['sources']} network(s): {classes}"
                )
            return "\n".join(lines)

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
            return "\n".join(
                f"{r['relay']}  {r['transport']}: "
                + ("works" if r["failures"] == 0 and r["last_ok"] else f"failed {r['failures']}x ({r['last_error']})")
                + ("" if r["this_network"] else "  [another network]")
                for r in rows
            )

        emit(run(with_node(action)), as_json, text)
