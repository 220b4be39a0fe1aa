"""Censors that let the handshake through and break the connection afterwards, made with nft in the censorship
lab (tests/e2e/netlab.py): ``stall.test`` drops everything once 16 KB came back (``ct reply bytes``, as Russia's
TSPU does), ``upstall.test`` once the client sent 16 KB (``ct original bytes``), ``throttle.test`` is policed to
16 KB/s (``limit rate over``). The netcheck before its data step called all three ``ok`` (the WebSocket upgrade
and NIP-11 are far below 16 KB); now it names them, the control proxy carries the same data, and failover stops
choosing the direct route that only looks open."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from netlab import DATA_CASES, PROXY, SEED_EVENTS, Lab, missing_requirements

from samizdat.core.interference import CLASSES, DATA_ENOUGH

pytestmark = pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements()))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    built = Lab(tmp_path_factory.mktemp("lab"))
    try:
        built.start()
        yield built
    finally:
        built.close()


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def make_home(lab: Lab, name: str, config: str = "") -> Path:
    home = lab.workdir / name
    ok(lab.samizdat(home, "init"))
    if config:
        (home / "config.toml").write_text(config)
    return home


def netcheck_args(lab: Lab) -> list[str]:
    return ["--control-proxy", PROXY, "--control-dns", "tcp://10.88.2.53:53", "--ca-file", str(lab.ca)]


def test_netcheck_names_the_censors_that_break_connections_after_the_handshake(lab: Lab) -> None:
    home = make_home(lab, "checker")
    urls = [c.url for c in DATA_CASES] + ["wss://ok.test"]
    done = ok(lab.samizdat(home, "netcheck", *urls, *netcheck_args(lab), "--json", timeout=180))
    found = {r["url"]: r for r in json.loads(done.stdout)["results"]}
    assert {url: r["class"] for url, r in found.items()} == {
        **{c.url: c.expected for c in DATA_CASES},
        "wss://ok.test": "ok",
    }
    for case in DATA_CASES:
        result = found[case.url]
        steps = result["steps"]
        assert result["confirmed"], result["reason"]
        assert steps["websocket"]["outcome"] == "ok"  # the handshake went through: what the old netcheck saw
        # The control path carried the whole answer, past the censor's 16 KB.
        assert steps["control_data"]["outcome"] == "ok", steps["control_data"]
        assert steps["control_data"]["down"] >= DATA_ENOUGH
        assert steps["control_data"]["up"] >= DATA_ENOUGH
    stalled = found["wss://stall.test"]["steps"]["data"]
    assert stalled["outcome"] == "stalled"
    assert stalled["down"] < DATA_ENOUGH
    upstalled = found["wss://upstall.test"]["steps"]["data"]
    assert upstalled["outcome"] == "stalled"
    assert upstalled["up"] < DATA_ENOUGH
    throttled = found["wss://throttle.test"]["steps"]["data"]
    assert throttled["outcome"] == "ok"
    assert "rate" in throttled
    assert found["wss://ok.test"]["steps"]["data"]["outcome"] == "ok"
    # What a person reads: the class, why, and what it means.
    text = ok(lab.samizdat(home, "netcheck", "wss://stall.test", *netcheck_args(lab), timeout=120)).stdout
    assert "data.stall" in text
    assert "stopped carrying anything after" in text
    assert "blocked here" in text
    assert CLASSES["data.stall"].split(":")[0] in text


def test_without_a_control_path_a_stall_is_only_suggested(lab: Lab) -> None:
    home = make_home(lab, "no-control")
    done = ok(lab.samizdat(home, "netcheck", "wss://stall.test", "--control-dns", "tcp://10.88.2.53:53",
                           "--ca-file", str(lab.ca), "--json", timeout=120))  # fmt: skip
    [result] = json.loads(done.stdout)["results"]
    assert result["class"] == "data.stall"
    assert not result["confirmed"]
    assert "no control path to confirm" in result["reason"]


def test_failover_stops_choosing_a_route_that_only_looks_open(lab: Lab) -> None:
    """A node with the outside proxy as fallback: after netcheck found the direct route to stall.test stalling,
    a sync goes through the proxy and gets every event, however well the direct handshake works; ``routes``
    says why the direct route is avoided."""
    home = make_home(lab, "syncer", f'[sync]\nfallback = ["{PROXY}"]\n')
    checked = json.loads(ok(lab.samizdat(home, "netcheck", "wss://stall.test", "--ca-file", str(lab.ca),
                                         "--json", timeout=120)).stdout)  # fmt: skip
    assert checked["control"] == PROXY  # the fallback serves as the control path
    assert checked["results"][0]["class"] == "data.stall"
    report = json.loads(ok(lab.samizdat(home, "sync", "wss://stall.test", "--direction", "down", "--json",
                                        timeout=120)).stdout)  # fmt: skip
    assert report["received"] >= SEED_EVENTS
    routes = {r["transport"]: r for r in json.loads(ok(lab.samizdat(home, "routes", "--json")).stdout)}
    assert routes[PROXY]["failures"] == 0
    assert routes[PROXY]["last_ok"]
    assert routes["direct"]["last_error"].startswith("netcheck: data.stall")
    text = ok(lab.samizdat(home, "routes")).stdout
    assert "direct: avoided until" in text
    assert "netcheck found data.stall" in text
