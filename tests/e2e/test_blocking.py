"""Relays under blocking, in network namespaces with a censoring router (tests/e2e/netlab.py): ``netcheck``
names every case of the matrix, posts keep flowing through a mirror or the outside proxy, reachability reports
add up to a "blocked" view, and no command hangs on a blackholed relay."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netlab import BY_NAME, CASES, CONTROL_DNS, MAIN_PORT, MIRROR, MIRROR_PORT, PROXY, Lab, missing_requirements

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
