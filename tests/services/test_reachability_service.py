"""Reachability reports name only relays a censor could block: never loopback, private or local addresses."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from samizdat.core import reachability as core
from samizdat.core.keys import SecretKey
from samizdat.services import reachability as reports
from samizdat.services.reachability import reportable
from samizdat.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("wss://relay.damus.io", True),
        ("wss://93.184.216.34:443", True),
        ("ws://127.0.0.1:4848", False),
        ("ws://localhost:4848", False),
        ("ws://[::1]:4848", False),
        ("ws://10.42.0.1:4848", False),
        ("ws://192.168.1.20:4848", False),
        ("ws://172.16.5.4", False),
        ("ws://169.254.1.1", False),
        ("ws://[fd00::1]:4848", False),
        ("ws://hub.local:4848", False),
        ("ws://router.lan", False),
        ("ws://hub", False),
        ("ws://100.64.0.1", False),  # carrier-grade NAT: the reporter's provider, not the relay
    ],
)
def test_reportable(url: str, ok: bool) -> None:
    assert reportable(url) is ok


async def test_the_aggregate_for_views_reads_reports_from_the_store(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite")
    try:
        results = []
        for cls in ("tcp.reset", "tcp.reset", "tcp.reset", "ok"):
            results.append(core.build_report(SecretKey.generate(), "wss://a.example", cls, now=time.time(),
                                             country="BY"))  # fmt: skip
        results.append(core.build_report(SecretKey.generate(), "wss://b.example", "ok", now=time.time()))
        await store.add_many(results)
        view = await reports.aggregate(store)
        assert {(r["relay"], r["verdict"]) for r in view["rows"]} == {
            ("wss://a.example", "blocked"), ("wss://b.example", "ok")
        }  # fmt: skip
        only = await reports.aggregate(store, relay="wss://b.example")
        assert [r["country"] for r in only["rows"]] == ["ZZ"]
        assert "tls.reset.sni" in view["classes"]
    finally:
        await store.close()


async def test_netcheck_tells_failover_which_direct_route_stalls(tmp_path: Path) -> None:
    """What the data step found is written into the route memory of this network: a stalling direct route is
    left out of failover's race while the proxy is there; a later netcheck that finds it working clears that."""
    from samizdat.core.interference import Measurement, Verdict
    from samizdat.core.routes import order_routes
    from samizdat.net.netcheck import Result
    from samizdat.testing import test_node

    url, proxy = "wss://relay.example", "socks5h://127.0.0.1:9050"

    def result(cls: str) -> Result:
        return Result(url, Measurement(url, True), Verdict(cls, "after 15 KB down", True), 1.0)

    async with test_node(tmp_path / "home") as node:
        ctx = node.ctx
        reports.remember_direct(ctx, [result("data.stall")], "wifi-1")
        records = ctx.local.routes(url, "wifi-1")
        assert records["direct"].last_error.startswith("netcheck: data.stall")
        assert order_routes(["direct", proxy], records, ctx.clock()) == [proxy]
        assert ctx.local.routes(url, "mobile-2") == {}  # another network knows nothing of it
        reports.remember_direct(ctx, [result("ok")], "wifi-1")
        assert order_routes(["direct", proxy], ctx.local.routes(url, "wifi-1"), ctx.clock()) == ["direct", proxy]
