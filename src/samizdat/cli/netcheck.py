"""``samizdat netcheck``: is each relay blocked from here, and how; ``samizdat reachability``: what everyone's
anonymous reports say; ``samizdat routes``: which transport reaches which relay on this network."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, run, with_node
from samizdat.errors import UsageError
from samizdat.node import CLI_DELIVERY_BUDGET, Node


def _netcheck_settings(node: Node) -> dict[str, Any]:
    table = node.config.extra.get("netcheck", {})
    if not isinstance(table, dict):
        raise UsageError(f"{node.home / 'config.toml'}: [netcheck] must be a table")
    for key in ("control_proxy", "control_dns", "ca_file", "decoy", "country", "asn", "network"):
        if key in table and not isinstance(table[key], str):
            raise UsageError(f"{node.home / 'config.toml'}: netcheck.{key} must be a string")
    if "report" in table and not isinstance(table["report"], bool):
        raise UsageError(f"{node.home / 'config.toml'}: netcheck.report must be true or false")
    return table


async def known_relays(node: Node) -> list[str]:
    """Every relay this node uses: its relay list, write relays, followed channels' relays and own mirrors."""
    from samizdat.cli.channels import lookup_channel
    from samizdat.core import kinds
    from samizdat.core.channel import parse_channel
    from samizdat.core.filters import Filter
    from samizdat.errors import RemoteProtocolError

    own = await node.relay_list()
    relays = [*own.write, *own.read, *node.config.write_relays]
    for address, hints in node.local.follows().items():
        relays += hints
        channel = await lookup_channel(node, address)
        if channel is not None:
            relays += channel.mirrors
    mine = await node.store.query(
        [Filter(kinds=frozenset({kinds.CHANNEL}), authors=frozenset({node.key.public_key_hex}), limit=500)]
    )
    for event in mine:
        try:
            relays += parse_channel(event).mirrors
        except RemoteProtocolError:
            continue
    return [r for r in dict.fromkeys(relays) if r.startswith(("ws://", "wss://"))]


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
        from samizdat.core import reachability as core
        from samizdat.net import netcheck, netinfo
        from samizdat.net import reachability as reports

        if step_timeout <= 0 or step_timeout > 120:
            raise UsageError("--timeout must be between 0 and 120 seconds")

        async def action(node: Node) -> dict[str, Any]:
            settings = _netcheck_settings(node)
            targets = list(urls or []) or await known_relays(node)
            routing = node.routing
            default_control = routing.proxy or next((s for s in routing.fallback if s != "direct"), None)
            options = netcheck.Options(
                control_proxy=control_proxy or settings.get("control_proxy") or default_control,
                control_dns=control_dns or settings.get("control_dns") or netcheck.DEFAULT_DOH,
                ca_file=ca_file or (Path(settings["ca_file"]) if settings.get("ca_file") else None),
                decoy=decoy or settings.get("decoy") or netcheck.DEFAULT_DECOY,
                step_timeout=step_timeout,
            )
            publish = settings.get("report", False) if report is None else report
            # Check the report's fields before measuring, so a typo does not cost a whole run.
            where = {
                "country": core.normal_country(country or settings.get("country", "")),
                "asn": core.normal_asn(asn or settings.get("asn", "")),
                "network": network or settings.get("network") or netinfo.network_type(),
            }
            if where["network"] not in core.NETWORK_TYPES:
                raise UsageError(f"--network must be one of {', '.join(sorted(core.NETWORK_TYPES))}")
            results = await netcheck.netcheck(targets, options) if targets else []
            data: dict[str, Any] = {"results": [r.to_dict() for r in results], "reported": 0}
            if publish and results:
                events = reports.build_reports(results, now=time.time(), **where)
                reachable = [r.url for r in results if r.verdict.cls == "ok"]
                await reports.publish_reports(node, events, reachable)
                await node.deliver_outbox(budget=CLI_DELIVERY_BUDGET)
                data["reported"] = len(events)
                data["report"] = where
            return data

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
        from samizdat.net import reachability as reports

        if threshold < 1 or min_sources < 1 or hours < 1:
            raise UsageError("--threshold, --min-sources and --hours must be at least 1")

        async def action(node: Node) -> dict[str, Any]:
            return await reports.aggregate(
                node.store,
                relay=relay,
                since=int(node.clock()) - hours * 3600,
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

        async def action(node: Node) -> list[dict[str, Any]]:
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
                for relay, network, record in node.local.all_routes()
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
