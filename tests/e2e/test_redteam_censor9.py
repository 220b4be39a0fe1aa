"""Red team, round 9: the censor who fools the network observer (``docs/blocking.md``), in the censorship lab of
``tests/e2e/netlab.py`` with three relays of its own added:

* ``ws://10.88.2.40``: the censor's router takes the relay's address over (nft ``dnat``, a transparent proxy, or a
  DNS answer of its own: the same to the client) and answers with a Nostr relay of its own that holds nothing;
* ``ws://10.88.2.41``: the same, but the censor's relay answers with 200 events that fail their signatures;
* ``ws://10.88.2.42``: a TSPU-like censor (everything dropped once 16 KB came back) that spares the connections
  it recognises as netcheck's probe: iptables' string match on the subscription id, which the relay echoes in
  clear in every ``EVENT`` of a ``ws://`` connection, and a connmark;
* ``ws://10.88.2.43``: a censor that knows how much netcheck moves and drops everything once 400 KB came back
  (nft ``ct reply bytes``): netcheck's data step (about 250 KB here) passes, a sync of the relay's 560 KB stalls;
* ``ws://10.88.2.44`` and ``ws://10.88.2.45``: censors that also watch the way to the outside proxy, where the
  SOCKS request names the relay's address in clear (iptables' string match): for .44 they reset the direct
  connection and the SOCKS connection naming it, for .45 they stall both after 16 KB (TSPU stalls connections to
  foreign hosting, proxies included). The relay is up all along; the old netcheck called both ``down``;
* ``ws://10.88.2.46``: the censor's relay at the relay's address holds a true copy of the relay's events, but
  without one channel's (a censor's filtering mirror): nothing forged, plenty of data.

Behind each address the real relay (150 events) is reached through the outside SOCKS proxy. What a person sees:
netcheck's verdict, ``routes``, and what a sync brings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netlab import MAIN_PORT, PROXY, SEED_EVENTS, Lab, missing_requirements

pytestmark = pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements()))

EMPTY, FORGED, TELL, LATE = "10.88.2.40", "10.88.2.41", "10.88.2.42", "10.88.2.43"
RESET_BOTH, STALL_BOTH, FILTERED = "10.88.2.44", "10.88.2.45", "10.88.2.46"
OURS = (EMPTY, FORGED, TELL, LATE, RESET_BOTH, STALL_BOTH, FILTERED)
COPY_PORT = 8103
#: The newest events of the relay: a news feed's (120) and one channel's (40) interleaved in time; the censor's
#: copy (run in the router namespace) has the feed's only.
COPY = """
import asyncio, sys
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.net.client import RelayClient

async def publish(url, events):
    async with await RelayClient.connect(url, timeout=10) as client:
        results = await client.publish_many(events, timeout=30)
    assert all(r.accepted for r in results), [r.message for r in results if not r.accepted][:3]

async def main():
    feed, channel = SecretKey.generate(), SecretKey.generate()
    news = [sign_event(feed, 1, "feed %04d " % i + "f" * 1100, [], created_at=1790000000 + 2 * i) for i in range(120)]
    kept = [sign_event(channel, 1, "channel %04d " % i + "c" * 1100, [], created_at=1790000001 + 6 * i)
            for i in range(40)]
    await publish(sys.argv[1], news + kept)
    await publish(sys.argv[2], news)

asyncio.run(main())
"""
#: Events added to the lab's 150 (about 1.2 KB each): a sync of the relay moves more than LATE lets through.
MORE_EVENTS = 300
CENSOR = "10.88.1.1"
EMPTY_PORT, FORGED_PORT = 8101, 8102

#: The censor's relay that answers with forged events (run in the router namespace).
FORGER = """
import asyncio, json, os, sys
from websockets.asyncio.server import serve

EVENTS = [{"id": os.urandom(32).hex(), "pubkey": "ab" * 32, "created_at": 1700000000 + i, "kind": 1, "tags": [],
           "content": "official news %04d " % i + "z" * 1000, "sig": os.urandom(64).hex()} for i in range(200)]

async def handler(ws):
    async for raw in ws:
        message = json.loads(raw)
        if message[0] == "REQ":
            if "ids" not in (message[2] if len(message) > 2 else {}):
                for event in EVENTS:
                    await ws.send(json.dumps(["EVENT", message[1], event]))
            await ws.send(json.dumps(["EOSE", message[1]]))

async def main():
    async with serve(handler, sys.argv[1], int(sys.argv[2]), compression=None):
        print("ready", flush=True)
        await asyncio.Future()

asyncio.run(main())
"""


def ok(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    built = Lab(tmp_path_factory.mktemp("lab9"))
    try:
        built.start()
        add_censors(built)
        yield built
    finally:
        built.close()


def add_censors(lab: Lab) -> None:
    c, r, n = lab.client, lab.router, lab.net
    del c
    forward = (sys.executable, str(Path(__file__).resolve().parent / "netlab_forward.py"))
    for address in OURS:
        lab.run_in(n, "ip", "addr", "add", f"{address}/32", "dev", "n0")
    lab.seed(MAIN_PORT, MORE_EVENTS)
    # Behind each address, the real relay (plain ws://, port 80): what the proxy reaches.
    listen = [arg for address in OURS for arg in ("--listen", f"{address}:80")]
    lab.spawn(n, "front-round9", *forward, *listen, "--to", f"127.0.0.1:{MAIN_PORT}")
    # The censor's own relays, in the router: an empty samizdat relay, and the forger.
    censor_home = lab.workdir / "censor-relay"
    subprocess.run([sys.executable, "-m", "samizdat", "--home", str(censor_home), "init"], capture_output=True,
                   check=True, env=lab.env())  # fmt: skip
    lab.spawn(r, "censor-relay", sys.executable, "-m", "samizdat", "--home", str(censor_home), "serve", "--host",
              CENSOR, "--port", str(EMPTY_PORT), env=lab.env())  # fmt: skip
    copy_home = lab.workdir / "censor-copy"
    subprocess.run([sys.executable, "-m", "samizdat", "--home", str(copy_home), "init"], capture_output=True,
                   check=True, env=lab.env())  # fmt: skip
    lab.spawn(r, "censor-copy", sys.executable, "-m", "samizdat", "--home", str(copy_home), "serve", "--host",
              CENSOR, "--port", str(COPY_PORT), env=lab.env())  # fmt: skip
    forger = lab.workdir / "forger.py"
    forger.write_text(FORGER)
    lab.spawn(r, "forger", sys.executable, str(forger), CENSOR, str(FORGED_PORT), env=lab.env())
    for host, port, name in ((TELL, 80, "front-round9"), (CENSOR, EMPTY_PORT, "censor-relay"),
                             (CENSOR, FORGED_PORT, "forger"), (CENSOR, COPY_PORT, "censor-copy")):  # fmt: skip
        lab.wait_port(n if host == TELL else r, host, port, name)
    copier = lab.workdir / "censor_copy.py"
    copier.write_text(COPY)
    # From the router itself (no dnat for its own connections): the real relay through its front, and the copy.
    lab.run_in(r, sys.executable, str(copier), f"ws://{FILTERED}", f"ws://{CENSOR}:{COPY_PORT}", timeout=60)
    # The transparent takeover of the two addresses (what a DNS answer of the censor's would do as well).
    for address, port in ((EMPTY, EMPTY_PORT), (FORGED, FORGED_PORT), (FILTERED, COPY_PORT)):
        lab.run_in(r, "nft", "add", "rule", "inet", "smzb", "pre", "ip", "saddr", "10.88.1.0/24", "ip", "daddr",
                   address, "tcp", "dport", "80", "dnat", "ip", "to", f"{CENSOR}:{port}")  # fmt: skip
    # The censor that spares netcheck: a connection whose answer names a netcheck subscription is marked, and
    # every other one toward TELL is dropped once 16 KB came back.
    for way in ("saddr", "daddr"):
        lab.run_in(r, "nft", "add", "rule", "inet", "smzb", "forward", "ip", way, LATE, "ct", "reply", "bytes", ">",
                   "400000", "drop")  # fmt: skip
    ipt = ("iptables", "-A", "FORWARD", "-p", "tcp")
    lab.run_in(r, "nft", "add", "rule", "inet", "smzb", "forward", "ip", "saddr", "10.88.1.0/24", "ip", "daddr",
               RESET_BOTH, "reject", "with", "tcp", "reset")  # fmt: skip
    for way in ("saddr", "daddr"):
        lab.run_in(r, "nft", "add", "rule", "inet", "smzb", "forward", "ip", way, STALL_BOTH, "ct", "reply", "bytes",
                   ">", "16000", "drop")  # fmt: skip
    # The way to the proxy: its SOCKS request names the relay (the address as 4 bytes and the port, or as text).
    proxy = PROXY.rsplit("/", 1)[1].split(":")[0]
    for address, action in ((RESET_BOTH, ("-j", "REJECT", "--reject-with", "tcp-reset")),
                            (STALL_BOTH, ("-j", "CONNMARK", "--set-mark", "10"))):  # fmt: skip
        raw = "|" + "".join(f"{int(b):02x}" for b in address.split(".")) + "0050|"
        for match in (("--hex-string", raw), ("--string", address)):
            lab.run_in(r, *ipt, "-d", proxy, "-m", "string", "--algo", "bm", *match, *action)
    for way in ("-s", "-d"):
        lab.run_in(r, *ipt, way, proxy, "-m", "connmark", "--mark", "10", "-m", "connbytes", "--connbytes", "16000:",
                   "--connbytes-dir", "reply", "--connbytes-mode", "bytes", "-j", "DROP")  # fmt: skip
    lab.run_in(r, *ipt, "-s", TELL, "-m", "string", "--algo", "bm", "--string", '"netcheck-', "-j", "CONNMARK",
               "--set-mark", "9")  # fmt: skip
    for way in ("-s", "-d"):
        lab.run_in(r, *ipt, way, TELL, "-m", "connmark", "!", "--mark", "9", "-m", "connbytes", "--connbytes",
                   "16000:", "--connbytes-dir", "reply", "--connbytes-mode", "bytes", "-j", "DROP")  # fmt: skip


def home_with_proxy(lab: Lab, name: str) -> Path:
    home = lab.workdir / name
    ok(lab.samizdat(home, "init"))
    (home / "config.toml").write_text(f'[sync]\nfallback = ["{PROXY}"]\n')
    return home


def netcheck(lab: Lab, home: Path, *urls: str) -> dict[str, dict[str, Any]]:
    done = ok(lab.samizdat(home, "netcheck", *urls, "--json", timeout=120))
    return {r["url"]: r for r in json.loads(done.stdout)["results"]}


def routes(lab: Lab, home: Path, url: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(ok(lab.samizdat(home, "routes", "--json")).stdout)
    return {r["transport"]: r for r in rows if r["relay"] == url}


def sync_down(lab: Lab, home: Path, url: str) -> dict[str, Any]:
    done = ok(lab.samizdat(home, "sync", url, "--direction", "down", "--json", timeout=240))
    return dict(json.loads(done.stdout))


def test_a_relay_the_censor_impersonates_is_not_called_reachable(lab: Lab) -> None:
    """The censor's relays answer the upgrade, NIP-11 and the data step at the relays' addresses. netcheck names
    them ``relay.impostor`` (the forged events without needing the control path; the empty one because the
    proxy, at the same time, carried 64 KB and more of the same answer), and the text says why."""
    home = home_with_proxy(lab, "observer")
    empty, forged = f"ws://{EMPTY}", f"ws://{FORGED}"
    found = netcheck(lab, home, empty, forged)
    assert found[empty]["class"] == "relay.impostor", found[empty]
    assert found[empty]["confirmed"]
    assert found[empty]["steps"]["control_data"]["down"] >= 64 * 1024
    assert found[forged]["class"] == "relay.impostor", found[forged]
    assert found[forged]["steps"]["data"]["forged"] == found[forged]["steps"]["data"]["events"] > 0
    text = ok(lab.samizdat(home, "netcheck", forged, timeout=120)).stdout
    assert "fail their signature" in text
    assert "something other than the relay answers at its address" in text


def test_failover_leaves_the_impostor_for_the_proxy_and_the_posts_come(lab: Lab) -> None:
    """Before: the direct route connects at once (the censor's relay answers), so failover takes it, and every
    sync "succeeds" with nothing. After netcheck named the impostor, the sync goes through the proxy and gets
    every event of the real relay; ``routes`` says why the direct route is avoided."""
    home = home_with_proxy(lab, "syncer9")
    url = f"ws://{EMPTY}"
    before = sync_down(lab, home, url)
    # The first sync's spot check through the proxy brings the events (round 10), but a new node knows no key in
    # that scope, and a route can invent events by any key: it says so and marks nothing (round 13); netcheck's
    # mark is what sends a node that has not synced yet to the proxy.
    assert before["received"] >= SEED_EVENTS, before
    assert [line for line in before["errors"] if "by keys this node does not know" in line], before["errors"]
    marks = routes(lab, home, url)
    assert "relay.impostor" not in marks.get("direct", {}).get("last_error", ""), marks
    home = home_with_proxy(lab, "syncer9b")
    assert netcheck(lab, home, url)[url]["class"] == "relay.impostor"
    after = sync_down(lab, home, url)
    assert after["received"] >= SEED_EVENTS
    found = routes(lab, home, url)
    assert found["direct"]["last_error"].startswith("netcheck: relay.impostor")
    assert found[PROXY]["last_ok"]
    assert "netcheck found relay.impostor" in ok(lab.samizdat(home, "routes")).stdout


def test_a_new_node_sends_nothing_to_the_impostor_the_proxy_contradicts(lab: Lab) -> None:
    """Round 15: a new node with a channel of its own syncs the whole relay both ways for the first time, through
    the censor's empty relay at the relay's address. Nothing is marked (it knows no key there, round 13), but the
    direct route served nothing while the proxy served the relay's events: what the node would send is held back
    from it and the report says so. Before, the first sync uploaded the channel to the censor's relay."""
    home = home_with_proxy(lab, "sender9")
    ok(lab.samizdat(home, "channel", "create", "courtyard", "--name", "Courtyard"))
    url = f"ws://{EMPTY}"
    done = ok(lab.samizdat(home, "sync", url, "--json", timeout=240))
    report = json.loads(done.stdout)
    assert report["received"] >= SEED_EVENTS, report
    assert report["sent"] == 0, report
    assert report["held"] >= 1, report
    assert [line for line in report["errors"] if "are held back: that route is in doubt" in line], report["errors"]
    # What the censor's relay holds, as a node without the proxy sees it at the address.
    plain = lab.workdir / "censorview9"
    ok(lab.samizdat(plain, "init"))
    assert sync_down(lab, plain, url)["received"] == 0


def test_a_censor_cannot_spare_netchecks_probe_and_stall_the_syncs(lab: Lab) -> None:
    """The censor stalls every connection to TELL after 16 KB except the ones whose answers name netcheck's
    subscriptions. A sync stalls there, gets the events through the proxy and marks the direct route. Before
    the fix netcheck's probe was spared: it said ``ok`` and cleared the sync's mark, so the next sync went direct
    and stalled again. Now the probe looks like any sync: ``data.stall``, and the direct route stays avoided."""
    home = home_with_proxy(lab, "spared")
    url = f"ws://{TELL}"
    report: dict[str, Any] = {}
    for _ in range(2):  # a stalled sync moves to the proxy by itself; at worst a person runs it twice
        done = lab.samizdat(home, "sync", url, "--direction", "down", "--json", timeout=240)
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode == 0:
            report = json.loads(done.stdout)
            break
    assert report.get("received", 0) >= SEED_EVENTS, done.stderr
    assert routes(lab, home, url)["direct"]["last_error"].startswith(("sync: data.stall", "sync: data.reset"))
    checked = netcheck(lab, home, url)[url]
    assert checked["class"] == "data.stall", checked
    direct = routes(lab, home, url)["direct"]
    assert direct["next_retry"] > direct["last_failure"]  # still avoided: not cleared by a spared probe
    assert "avoided until" in ok(lab.samizdat(home, "routes")).stdout


def first_sync(lab: Lab, home: Path, url: str) -> dict[str, Any]:
    """A sync that stalls on the direct route moves to the proxy by itself; at worst a person runs it twice."""
    for _ in range(2):
        done = lab.samizdat(home, "sync", url, "--direction", "down", "--json", timeout=240)
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode == 0:
            return dict(json.loads(done.stdout))
    raise AssertionError(done.stderr)


def test_a_netcheck_that_passes_does_not_send_failover_back_to_a_route_a_sync_saw_stall(lab: Lab) -> None:
    """The censor lets 400 KB through per connection: netcheck's data step passes, a sync of the relay stalls,
    gets the events through the proxy, and marks the direct route. Before, the netcheck that passed cleared that
    mark and the next sync went direct and stalled again: every netcheck sent failover back to the censor. Now the
    mark stays, and netcheck's text says why the route stays avoided."""
    home = home_with_proxy(lab, "late")
    url = f"ws://{LATE}"
    report = first_sync(lab, home, url)
    assert report["received"] >= SEED_EVENTS + MORE_EVENTS
    direct = routes(lab, home, url)["direct"]
    assert direct["last_error"].startswith(("sync: data.stall", "sync: data.reset")), direct
    checked = netcheck(lab, home, url)[url]
    assert checked["class"] == "ok", checked  # what netcheck moves does get through
    assert routes(lab, home, url)["direct"] == direct
    text = ok(lab.samizdat(home, "netcheck", url, timeout=120)).stdout
    assert "a sync found the direct route failing" in text
    assert "stays avoided until" in text
    again = sync_down(lab, home, url)
    assert not [line for line in again["errors"] if "stopped carrying data" in line], again["errors"]
    assert routes(lab, home, url)["direct"] == direct  # not even tried


def test_a_censor_that_also_cuts_the_way_to_the_proxy_does_not_make_a_relay_down(lab: Lab) -> None:
    """The relay is up; the censor resets (or stalls after 16 KB) both the direct connection and the SOCKS
    connection that names the relay. The old netcheck called both relays ``down`` (confirmed: "nothing to do"),
    what a censor wants a user and the reachability reports to believe. Only the proxy's own answer that it cannot
    reach a relay is news from beyond this network: here the class stays a blocking one, unconfirmed, and says
    the control path may be blocked too. A relay that is really down (nothing listens: the proxy says so) is
    still ``down``."""
    home = home_with_proxy(lab, "both")
    reset, stall = f"ws://{RESET_BOTH}", f"ws://{STALL_BOTH}"
    found = netcheck(lab, home, reset, stall, "ws://10.88.2.19")
    assert (found[reset]["class"], found[reset]["confirmed"]) == ("tcp.reset", False), found[reset]
    assert "the proxy did not say the relay is unreachable" in found[reset]["reason"]
    assert (found[stall]["class"], found[stall]["confirmed"]) == ("data.stall", False), found[stall]
    assert "stalls the way to the proxy as well" in found[stall]["reason"]
    down = found["ws://10.88.2.19"]  # down.test of the lab: nothing listens there
    assert (down["class"], down["confirmed"]) == ("down", True), down
    assert down["steps"]["control"]["proxy_said"]


def test_a_censors_copy_of_the_relay_without_one_channel_is_an_impostor(lab: Lab) -> None:
    """The censor's relay at the relay's address serves real, well signed events: the relay's own, copied, all but
    one channel's. Nothing is forged and there is plenty of data; the old netcheck said ``ok``, and a sync there
    never brings that channel. Both paths ask for the newest events at once: the channel's, from within the span
    of time the direct answer covers, came only through the proxy."""
    home = home_with_proxy(lab, "filtered")
    url = f"ws://{FILTERED}"
    found = netcheck(lab, home, url)[url]
    assert (found["class"], found["confirmed"]) == ("relay.impostor", True), found
    assert "withholds events" in found["reason"]
    assert found["steps"]["data"]["forged"] == 0
    assert sync_down(lab, home, url)["received"] >= SEED_EVENTS + MORE_EVENTS + 160  # through the proxy
