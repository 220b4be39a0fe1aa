"""Relays under blocking, in network namespaces with a censoring router (tests/e2e/netlab.py): ``netcheck``
names every case of the matrix, posts keep flowing through a mirror or the outside proxy, reachability reports
add up to a "blocked" view, and no command hangs on a blackholed relay.

Censors that let the handshake through and break the connection afterwards, made with nft in the same lab:
``stall.test`` drops everything once 16 KB came back (``ct reply bytes``, as Russia's TSPU does), ``upstall.test``
once the client sent 16 KB (``ct original bytes``), ``throttle.test`` is policed to 16 KB/s (``limit rate over``).
The netcheck before its data step called all three ``ok`` (the WebSocket upgrade and NIP-11 are far below 16 KB);
now it names them, the control proxy carries the same data, and failover stops choosing the direct route that only
looks open."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netlab import (
    BY_NAME,
    CASES,
    CONTROL_DNS,
    DATA_CASES,
    MAIN_PORT,
    MIRROR,
    MIRROR_PORT,
    PROXY,
    SEED_EVENTS,
    Lab,
    missing_requirements,
)

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
    return ["--control-proxy", PROXY, "--control-dns", CONTROL_DNS, "--ca-file", str(lab.ca)]


def test_netcheck_names_every_case_of_the_matrix(lab: Lab) -> None:
    home = make_home(lab, "checker")
    done = ok(lab.samizdat(home, "netcheck", *(c.url for c in CASES), *netcheck_args(lab), "--json"))
    found = {r["url"]: r for r in json.loads(done.stdout)["results"]}
    assert {url: r["class"] for url, r in found.items()} == {c.url: c.expected for c in CASES}
    # A blocked class is confirmed by the proxy reaching the relay; the throttled relay is only slow.
    assert found["wss://hole.test"]["confirmed"]
    assert found["wss://slow.test"]["steps"]["websocket"]["outcome"] == "ok"
    # The text a person reads names the class and why.
    text = ok(lab.samizdat(home, "netcheck", "wss://sni.test", "wss://ok.test", *netcheck_args(lab))).stdout
    assert "tls.reset.sni" in text
    assert "naming another server went through" in text


def test_without_a_control_path_a_dead_relay_is_not_called_down(lab: Lab) -> None:
    home = make_home(lab, "no-control")
    done = ok(lab.samizdat(home, "netcheck", "wss://down.test", "wss://bogon.test", "--control-dns",
                           "tcp://10.88.2.53:53", "--json"))  # fmt: skip
    found = {r["url"]: r for r in json.loads(done.stdout)["results"]}
    # Without the proxy, the resolver at 10.88.2.53 is reached directly (the censor lets DNS to it through).
    assert found["wss://down.test"]["class"] == "tcp.reset"
    assert not found["wss://down.test"]["confirmed"]
    assert found["wss://bogon.test"]["class"] == "dns.injection.bogon"


def status(lab: Lab, home: Path) -> dict[str, Any]:
    return dict(json.loads(ok(lab.samizdat(home, "status", "--json")).stdout))


def test_posts_keep_flowing_through_a_mirror_or_the_proxy(lab: Lab, wait_until: Callable[..., Any]) -> None:
    """A channel publishes to every relay of the matrix and to a mirror; its node falls back on the outside
    SOCKS proxy. Every relay but the dead one gets the post (through the proxy where the direct route is
    blocked), and the mirror gets it whatever happens to the others."""
    home = make_home(lab, "publisher", f'[sync]\nfallback = ["{PROXY}"]\n')
    mirrors = [arg for c in [*CASES, MIRROR] for arg in ("--mirror", c.url)]
    ok(lab.samizdat(home, "channel", "create", "minsk", "--name", "Minsk", *mirrors))
    node = lab.spawn(lab.client, "publisher-serve", *lab.samizdat_args(home, "serve", "--port", "4848"),
                     env=lab.env())  # fmt: skip
    try:
        lab.wait_port(lab.client, "127.0.0.1", 4848, "publisher-serve")
        posted = json.loads(ok(lab.samizdat(home, "post", "minsk", "Checkpoint on Pobediteley", "--json")).stdout)
        [post_id] = posted["ids"]

        def delivered() -> set[str] | None:
            state = status(lab, home)
            pending = {row["relay"] for row in state["outbox"]["pending"] if row["event"] == post_id}
            return pending if pending <= {"wss://down.test"} else None

        assert delivered() is not None or wait_until(delivered, 120, "delivery to every reachable relay")
        assert post_id in lab.relay_has(MIRROR_PORT, [post_id])
        assert post_id in lab.relay_has(MAIN_PORT, [post_id])
        # The node remembers which route works for which relay here: the proxy where direct is blocked.
        routes = json.loads(ok(lab.samizdat(home, "routes", "--json")).stdout)
        working = {(r["relay"], r["transport"]) for r in routes if r["failures"] == 0 and r["last_ok"]}
        for case in CASES:
            if case.name == "ok.test":
                assert (case.url, "direct") in working, case.name
            elif case.name == "slow.test":  # slow enough that the proxy may win the race: either route is fine
                assert {(case.url, "direct"), (case.url, PROXY)} & working, case.name
            elif case.expected.startswith("data."):  # a post is small enough to pass before these censors act
                assert {(case.url, "direct"), (case.url, PROXY)} & working, case.name
            elif case.expected != "down":
                assert (case.url, PROXY) in working, case.name
        assert (MIRROR.url, "direct") in working
    finally:
        node.terminate()
        node.wait(15)


def test_a_post_returns_at_once_when_every_relay_is_blackholed(lab: Lab) -> None:
    home = make_home(lab, "blackholed")
    ok(lab.samizdat(home, "channel", "create", "gomel", "--name", "Gomel", "--mirror", "wss://hole.test"))
    done = ok(lab.samizdat(home, "post", "gomel", "still here", timeout=30))
    assert "Queued for wss://hole.test" in done.stdout
    assert status(lab, home)["outbox"]["pending"]


def test_blocking_reports_add_up_to_a_blocked_relay(lab: Lab) -> None:
    """Three people on different networks run netcheck with reports on; a fourth syncs the reports from a relay
    and sees sni.test blocked in BY, and ok.test fine."""
    targets = ["wss://sni.test", "wss://ok.test"]
    reporters = [make_home(lab, f"reporter-{i}", "[netcheck]\nreport = true\n") for i in range(3)]
    runs = [
        subprocess.Popen(
            lab.samizdat_command(
                home,
                "netcheck",
                *targets,
                *netcheck_args(lab),
                "--country",
                "by",
                "--asn",
                f"AS{6697 + i}",
                "--network",
                "mobile",
                "--json",
            ),  # fmt: skip
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=lab.env(),
        )  # fmt: skip
        for i, home in enumerate(reporters)
    ]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        assert json.loads(out)["reported"] == 2
    reader = make_home(lab, "reader")
    ok(lab.samizdat(reader, "sync", "wss://ok.test", "--direction", "down"))
    view = json.loads(ok(lab.samizdat(reader, "reachability", "--json")).stdout)
    rows = {(r["relay"], r["country"]): r for r in view["rows"]}
    blocked = rows[("wss://sni.test", "BY")]
    assert blocked["verdict"] == "blocked"
    assert blocked["how"] == "tls.reset.sni"
    assert blocked["reports"] == 3
    assert blocked["asns"] == ["AS6697", "AS6698", "AS6699"]
    assert rows[("wss://ok.test", "BY")]["verdict"] == "ok"
    # Stricter independence: three networks are needed, four are not there.
    strict = json.loads(ok(lab.samizdat(reader, "reachability", "--relay", "wss://sni.test", "--min-sources", "4",
                                        "--json")).stdout)  # fmt: skip
    assert [r["verdict"] for r in strict["rows"]] == ["unclear"]
    assert BY_NAME["sni.test"].expected == "tls.reset.sni"


def test_reading_goes_around_the_block_too(lab: Lab) -> None:
    """Sync (reading) uses the same failover: a relay blackholed here is read through the proxy."""
    poster = make_home(lab, "poster")
    ok(lab.samizdat(poster, "channel", "create", "brest", "--name", "Brest", "--mirror", "wss://ok.test"))
    [post_id] = json.loads(ok(lab.samizdat(poster, "post", "brest", "Water at the station", "--json")).stdout)["ids"]
    assert post_id in lab.relay_has(MAIN_PORT, [post_id])
    reader = make_home(lab, "hole-reader")
    blocked = lab.samizdat(reader, "sync", "wss://hole.test", "--direction", "down", timeout=60)
    assert blocked.returncode == 1
    assert "cannot connect to wss://hole.test" in blocked.stderr
    report = json.loads(ok(lab.samizdat(reader, "--via", PROXY, "sync", "wss://hole.test", "--direction", "down",
                                        "--json")).stdout)  # fmt: skip
    assert report["received"] >= 1
    shown = json.loads(ok(lab.samizdat(reader, "channel", "list", "--json")).stdout)
    assert "Brest" in [c["name"] for c in shown]


# -- censors that act after the handshake --------------------------------------------------------------------------


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
    done = ok(lab.samizdat(home, "netcheck", "wss://stall.test", "--control-dns", CONTROL_DNS,
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


def test_a_sync_learns_by_itself_that_a_route_only_looks_open(lab: Lab) -> None:
    """The same node without any netcheck: its sync of stall.test goes direct (the handshake works) and stalls
    once past the censor's 16 KB. The node gets the posts anyway, through the proxy, within two ``samizdat sync``
    (what a person does when one fails), remembers the direct route as stalling, and the next sync goes through
    the proxy without trying the direct route; ``routes`` says why."""
    home = make_home(lab, "learner", f'[sync]\nfallback = ["{PROXY}"]\n')
    report: dict[str, Any] = {}
    for _ in range(2):
        done = lab.samizdat(home, "sync", "wss://stall.test", "--direction", "down", "--json", timeout=240)
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode == 0:
            report = json.loads(done.stdout)
            break
    assert report, done.stderr
    assert report["received"] > 0
    assert report["received"] == report["need"]  # everything the relay had that the node lacked
    assert report["bytes_in"] > 16 * 1024  # past the point where the direct route stops carrying anything
    routes = {r["transport"]: r for r in json.loads(ok(lab.samizdat(home, "routes", "--json")).stdout)}
    assert routes[PROXY]["failures"] == 0
    assert routes[PROXY]["last_ok"]
    direct = routes["direct"]
    assert direct["last_error"].startswith(("sync: data.stall", "sync: data.reset")), direct
    text = ok(lab.samizdat(home, "routes")).stdout
    assert "direct: avoided until" in text
    assert "stalled during a sync" in text
    # The next sync goes through the proxy at once: the direct route is not even tried, so its record stays.
    again = json.loads(ok(lab.samizdat(home, "sync", "wss://stall.test", "--direction", "down", "--json",
                                       timeout=120)).stdout)  # fmt: skip
    assert not [line for line in again["errors"] if "stopped carrying data" in line]
    after = {r["transport"]: r for r in json.loads(ok(lab.samizdat(home, "routes", "--json")).stdout)}
    assert after["direct"] == direct
    assert after[PROXY]["last_ok"] >= routes[PROXY]["last_ok"]


def test_a_sync_learns_by_itself_that_a_route_is_throttled(lab: Lab) -> None:
    """A node with the outside proxy as fallback and no netcheck: its sync of throttle.test goes direct (the
    handshake works) and gets every post, at 16 KB/s. Having carried its data that slowly, it measures the direct
    route and the proxy the same way, finds the proxy much faster, and says so; the next sync goes through the
    proxy without trying the direct route."""
    home = make_home(lab, "throttle-learner", f'[sync]\nfallback = ["{PROXY}"]\n')
    done = lab.samizdat(home, "sync", "wss://throttle.test", "--direction", "down", "--json", timeout=240)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert report["received"] == report["need"] >= SEED_EVENTS
    assert [line for line in report["errors"] if "it is throttled" in line and "goes first from now on" in line]
    routes = {r["transport"]: r for r in json.loads(ok(lab.samizdat(home, "routes", "--json")).stdout)}
    direct = routes["direct"]
    assert direct["last_error"].startswith("sync: data.throttled"), direct
    assert routes[PROXY]["last_ok"]
    assert "a sync found it throttled" in ok(lab.samizdat(home, "routes")).stdout
    # The next sync goes through the proxy: the direct route is not tried, so its record stays as it was.
    again = json.loads(ok(lab.samizdat(home, "sync", "wss://throttle.test", "--direction", "down", "--json",
                                       timeout=120)).stdout)  # fmt: skip
    assert not [line for line in again["errors"] if "throttled" in line]
    after = {r["transport"]: r for r in json.loads(ok(lab.samizdat(home, "routes", "--json")).stdout)}
    assert after["direct"] == direct
    assert after[PROXY]["last_ok"] >= routes[PROXY]["last_ok"]
