"""Publishing through a proxy without leaks (issue 12, item 7), in the leak lab (tests/e2e/proxylab.py): with
``--proxy socks5h://...`` or ``[sync] proxy``, every connection and every name lookup of ``post``, ``sync``,
``netcheck`` and ``serve`` (its outbox, its background sync, its web app) goes through the proxy, even for a relay
whose own routes say ``direct``: the counters on every other packet stay at zero. Without ``--proxy`` (with
``--via`` too) the same lab counts the leaks, so a zero means something. Tor running without a circuit is said to
be so, and nothing falls back on a direct connection meanwhile."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from proxylab import (
    LEAK_COUNTERS,
    RELAY_IP,
    RELAY_NAME,
    RELAY_PORT,
    RELAY_URL,
    SOCKS,
    TOR,
    ProxyLab,
    missing_requirements,
)

pytestmark = pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements()))

# A relay whose own routes, in the file and on the command line, say "direct": --proxy must still win.
DIRECT_ROUTES = f'[relays."{RELAY_URL}"]\nvia = ["direct"]\n[sync]\nfallback = ["direct"]\n'
PROXY = ("--proxy", SOCKS, "--via", f"{RELAY_URL}=direct")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyLab]:
    built = ProxyLab(tmp_path_factory.mktemp("proxylab"))
    try:
        built.start()
        yield built
    finally:
        built.close()


@pytest.fixture(scope="module")
def far_channel(lab: ProxyLab) -> dict[str, Any]:
    """A channel made on the relay's side of the lab, with one post on the relay: what the client syncs."""
    home = lab.workdir / "far"
    ok(lab.samizdat(home, "init", ns=lab.relays))
    made = ok(lab.samizdat(home, "channel", "create", "far", "--name", "Far", "--mirror", RELAY_URL, "--json",
                           ns=lab.relays))  # fmt: skip
    post = ok(lab.samizdat(home, "post", "far", "News from the relay's side", "--json", ns=lab.relays))
    channel = dict(json.loads(made.stdout))
    channel["post"] = json.loads(post.stdout)["ids"][0]
    assert lab.relay_has([channel["post"]]) == {channel["post"]}
    return channel


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def make_home(lab: ProxyLab, name: str, config: str = "") -> Path:
    home = lab.workdir / name
    ok(lab.samizdat(home, "init"))
    if config:
        (home / "config.toml").write_text(config)
    return home


def leaked(lab: ProxyLab, before: dict[str, int]) -> dict[str, int]:
    """Packets sent since ``before`` anywhere but the proxy, by counter (only those that moved)."""
    now = lab.counters()
    return {name: now[name] - before[name] for name in LEAK_COUNTERS if now[name] != before[name]}


def proxied(lab: ProxyLab, before: dict[str, int]) -> int:
    return lab.counters()["proxy"] - before["proxy"]


def test_the_lab_counts_what_a_node_without_proxy_leaks(lab: ProxyLab) -> None:
    """The relay's name is known only beyond the proxy: a node that looks it up itself is counted, and ``--via``
    (a fallback after the direct try) leaks the lookup even when the post then goes through the proxy."""
    home = make_home(lab, "direct")
    before = lab.counters()
    refused = lab.samizdat(home, "sync", RELAY_URL)
    assert refused.returncode != 0
    assert RELAY_NAME in refused.stderr
    assert leaked(lab, before).get("dns_udp", 0) > 0
    assert proxied(lab, before) == 0

    fresh = make_home(lab, "via")  # nothing learnt about this network yet: direct is tried first
    before = lab.counters()
    through_fallback = ok(lab.samizdat(fresh, "--via", SOCKS, "sync", RELAY_URL, "--json"))
    assert json.loads(through_fallback.stdout)["errors"] == []
    assert leaked(lab, before).get("dns_udp", 0) > 0  # the direct try asked the resolver first
    assert proxied(lab, before) > 0


def test_post_sync_and_netcheck_through_the_proxy_leak_nothing(lab: ProxyLab, far_channel: dict[str, Any]) -> None:
    home = make_home(lab, "publisher", DIRECT_ROUTES)
    before = lab.counters()
    create = ("channel", "create", "near", "--name", "Near", "--mirror", RELAY_URL, "--json")
    made = json.loads(ok(lab.samizdat(home, *PROXY, *create)).stdout)
    posted = json.loads(ok(lab.samizdat(home, *PROXY, "post", "near", "Water is off until 18:00", "--json")).stdout)
    assert (posted["delivered"], posted["pending"]) == (1, [])
    assert lab.relay_has([*made["ids"], *posted["ids"]]) == {*made["ids"], *posted["ids"]}

    ok(lab.samizdat(home, *PROXY, "follow", far_channel["naddr"]))
    synced = json.loads(ok(lab.samizdat(home, *PROXY, "sync", RELAY_URL, "--channel", "far", "--json")).stdout)
    assert synced["errors"] == []
    assert synced["received"] >= 2  # the channel's definition and its post
    feed = ok(lab.samizdat(home, *PROXY, "feed", "far")).stdout
    assert "News from the relay's side" in feed

    checked = ok(lab.samizdat(home, *PROXY, "netcheck", RELAY_URL, "--report", "--country", "BY"))
    assert "probes each relay directly" not in checked.stderr
    assert f"{RELAY_URL}  ok" in checked.stdout
    assert "Checked only through socks5h://10.77.1.1:1080 (--proxy): no direct probe was made" in checked.stdout
    assert "Not reported: no reachability reports" in checked.stdout
    assert leaked(lab, before) == {}
    assert proxied(lab, before) > 0

    # The same with the proxy in the configuration file instead of on the command line.
    (home / "config.toml").write_text(DIRECT_ROUTES.replace("[sync]\n", f'[sync]\nproxy = "{SOCKS}"\n'))
    before = lab.counters()
    again = json.loads(ok(lab.samizdat(home, "post", "near", "Water is back", "--json")).stdout)
    assert (again["delivered"], again["pending"]) == (1, [])
    assert lab.relay_has(again["ids"]) == set(again["ids"])
    assert leaked(lab, before) == {}


def test_netcheck_says_plainly_that_it_probes_directly(lab: ProxyLab) -> None:
    home = make_home(lab, "checker")
    for options in ((), ("--via", SOCKS)):
        before = lab.counters()
        done = ok(lab.samizdat(home, *options, "netcheck", RELAY_URL, "--timeout", "2", "--json"))
        assert done.stderr.startswith("warning: netcheck probes each relay directly: it asks this network's resolver")
        assert "with --proxy, netcheck connects only through the proxy" in done.stderr
        assert leaked(lab, before)  # it did what it said
        [result] = json.loads(done.stdout)["results"]
        assert result["steps"]["dns_system"]["error"] is not None  # the name is not known on this side


def web_app_requests(lab: ProxyLab, port: int) -> dict[str, Any]:
    """What a phone's browser asks the node for (the page, its assets, the status, a WebSocket subscription),
    asked from inside the client namespace; the page's Content-Security-Policy and what it loads from where."""
    script = f"""
import asyncio, json, re, urllib.request
from samizdat.net.client import RelayClient
from samizdat.core.filters import Filter
def get(path):
    with urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:{port}' + path), timeout=10) as answer:
        return answer.headers, answer.read().decode('utf-8', 'replace')
headers, page = get('/')
_, status = get('/api/status')
loads = re.findall(r'(?:src|href)="([^"]*)"', page)
for path in loads:
    if path.startswith('/'):
        get(path)
async def subscribe():
    async with await RelayClient.connect('ws://127.0.0.1:{port}', timeout=10) as c:
        return len(await c.fetch([Filter(limit=5)], timeout=10))
print(json.dumps({{"csp": headers['Content-Security-Policy'], "status": json.loads(status),
                  "events": asyncio.run(subscribe()), "loads": loads}}))
"""
    done = lab.python_in_client(script)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_tor_without_a_circuit_then_serve_through_the_proxy(
    lab: ProxyLab, far_channel: dict[str, Any], wait_until: Callable[..., Any]
) -> None:
    """Tor runs but cannot reach its network: the post waits in the outbox, sync and netcheck say why, and
    nothing goes around Tor. Then ``serve`` (through microsocks) delivers the post, syncs the followed channel and
    serves the web app, and still nothing leaks."""
    lab.start_tor()
    home = make_home(lab, "tor-user", DIRECT_ROUTES + f'[transports]\ntor = "{TOR}"\n')
    before = lab.counters()
    ok(lab.samizdat(home, "--proxy", "tor", "channel", "create", "tor-news", "--name", "Tor", "--mirror", RELAY_URL))
    waiting = json.loads(ok(lab.samizdat(home, "--proxy", "tor", "post", "tor-news", "Posted while Tor is stuck",
                                         "--json")).stdout)  # fmt: skip
    assert waiting["pending"] == [RELAY_URL]
    ok(lab.samizdat(home, "--proxy", "tor", "follow", far_channel["naddr"]))

    stuck = lab.samizdat(home, "--proxy", "tor", "sync", RELAY_URL)
    assert stuck.returncode != 0
    assert "Tor is running but has no circuit" in stuck.stderr
    checked = json.loads(ok(lab.samizdat(home, "--proxy", "tor", "netcheck", RELAY_URL, "--timeout", "3",
                                         "--json")).stdout)  # fmt: skip
    [result] = checked["results"]
    assert result["class"] == "proxy.failure"
    assert "Tor is running but has no circuit" in result["reason"]
    assert leaked(lab, before) == {}
    assert proxied(lab, before) > 0
    assert lab.relay_has(waiting["ids"]) == set()

    # serve through Tor: its outbox keeps trying, `samizdat status` says why the post waits, nothing goes around.
    serve = lab.spawn(lab.client, "serve-tor", *lab.samizdat_args(home, "--proxy", "tor", "serve", "--port", "0"))

    def explained() -> bool:
        shown = lab.samizdat(home, "--proxy", "tor", "status", "--json")
        relays = json.loads(shown.stdout)["relays"] if shown.returncode == 0 else []
        return any("Tor is running but has no circuit" in r["last_error"] for r in relays if r["url"] == RELAY_URL)

    try:
        wait_until(explained, 60, "samizdat status to say why the post waits")
    finally:
        lab.stop(serve)
    (home / "serve.json").unlink(missing_ok=True)
    assert leaked(lab, before) == {}
    assert lab.relay_has(waiting["ids"]) == set()

    # serve, now through microsocks: the outbox delivers, background sync fetches, the web app is served.
    before = lab.counters()
    serve = lab.spawn(lab.client, "serve-tor-user", *lab.samizdat_args(home, *PROXY, "serve", "--port", "0"))
    try:
        port = int(wait_until(lambda: json.loads((home / "serve.json").read_text())["port"]
                              if (home / "serve.json").exists() else None, 45, "serve to start"))  # fmt: skip
        wait_until(lambda: lab.relay_has(waiting["ids"]) == set(waiting["ids"]), 60, "the outbox to deliver")

        def synced() -> bool:
            feed = lab.samizdat(home, "--proxy", SOCKS, "feed", "far")
            return feed.returncode == 0 and "News from the relay's side" in feed.stdout

        wait_until(synced, 60, "background sync to fetch the followed channel")
        web = web_app_requests(lab, port)
    finally:
        lab.stop(serve)
    assert serve.returncode is not None
    # The browser may load only from the node itself and connect only to it and to the mirrors of the channels it
    # carries (read directly when the node cannot serve them: docs/web.md, "Reading from mirrors"; the app says
    # that this bypasses the node's proxy and lets the reader turn it off): every other source the policy names is
    # this origin (or an inline script's hash, or a data: image), and the page loads nothing from elsewhere.
    directives = dict((part.strip() + " ").split(" ", 1) for part in web["csp"].split(";") if part.strip())
    assert directives["default-src"].strip() == "'none'"
    node = {"'self'", f"ws://127.0.0.1:{port}", f"wss://127.0.0.1:{port}"}
    assert set(directives["connect-src"].split()) <= node | {RELAY_URL}  # the followed channel's mirror
    here = ("'self'", "'none'", "data:", f"ws://127.0.0.1:{port}", f"wss://127.0.0.1:{port}")
    others = [(name, source) for name, sources in directives.items() if name != "connect-src"
              for source in sources.split()]  # fmt: skip
    # worker-src blob: runs the page's own second script as Web Workers (signature checks): nothing is fetched.
    own = {("worker-src", "blob:")}
    elsewhere = [(name, source) for name, source in others if source not in here and (name, source) not in own]
    assert [(name, source) for name, source in elsewhere if not source.startswith("'sha256-")] == []
    assert web["loads"]
    assert [path for path in web["loads"] if not path.startswith(("/", "#"))] == []
    assert web["events"] > 0
    assert leaked(lab, before) == {}, lab.log("serve-tor-user")[-3000:]
    assert proxied(lab, before) > 0


def test_a_peer_added_by_hand_is_linked_through_the_proxy_too(lab: ProxyLab, wait_until: Callable[..., Any]) -> None:
    home = make_home(lab, "with-peer")
    ok(lab.samizdat(home, "peers", "add", f"ws://{RELAY_IP}:{RELAY_PORT}"))
    before = lab.counters()
    serve = lab.spawn(lab.client, "serve-with-peer", *lab.samizdat_args(home, *PROXY, "serve", "--port", "0"))

    def tried() -> bool:
        listed = lab.samizdat(home, "--proxy", SOCKS, "peers", "--json")
        rows = json.loads(listed.stdout) if listed.returncode == 0 else []
        return any(row["failures"] or row["state"] in ("syncing", "live") for row in rows)

    try:
        wait_until(tried, 45, "the peer link's first attempt")
    finally:
        lab.stop(serve)
    assert leaked(lab, before) == {}
