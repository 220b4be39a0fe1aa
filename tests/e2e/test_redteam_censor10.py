"""Red team, round 10: the censor's relay at a relay's address, met by ``samizdat sync`` alone (no netcheck), in
the censorship lab of ``tests/e2e/netlab.py`` (``docs/blocking.md``):

* ``ws://10.88.2.47``: the real relay, until the censor's router takes the address over (nft ``dnat``) and
  answers with an empty relay of its own;
* ``ws://10.88.2.48``: the same, the censor's relay holding a true copy of the relay without one channel's posts,
  all of which are older than the newest 200 events (netcheck's data step compares the newest: it says ``ok``);
* ``ws://10.88.2.49``: an honest relay of its own (port 8092) that loses its newest events (its disk restored from
  an old backup), on every route: never an impostor.

The node has the outside SOCKS proxy as its fallback. What a person sees: ``sync``'s text, ``routes``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netlab import MAIN_PORT, PROXY, SEED_EVENTS, Lab, missing_requirements

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey

pytestmark = pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements()))

EMPTY, COPY, LOSING = "10.88.2.47", "10.88.2.48", "10.88.2.49"
CENSOR = "10.88.1.1"
EMPTY_PORT, COPY_PORT, LOSING_PORT = 8111, 8112, 8092
#: Newer than everything else: netcheck's data step sees only these.
NEWER = 250
CHANNEL = 30

CHANNEL_KEY, FEED_KEY = SecretKey(bytes([21]) * 32), SecretKey(bytes([22]) * 32)


def channel_posts() -> list[Event]:
    """One channel's posts, interleaved in time with the lab's seed events (the relay's oldest)."""
    return [
        sign_event(CHANNEL_KEY, 1, f"channel {i} " + "c" * 1100, [], created_at=1700000000 + 5 * i)
        for i in range(CHANNEL)
    ]


def newer_posts() -> list[Event]:
    return [sign_event(FEED_KEY, 1, f"feed {i} " + "f" * 1100, [], created_at=1750000000 + i) for i in range(NEWER)]


PUBLISH = """
import asyncio, json, sys
from samizdat.core.event import parse_event
from samizdat.net.client import RelayClient

async def main():
    events = [parse_event(raw) for raw in json.load(open(sys.argv[2]))]
    async with await RelayClient.connect(sys.argv[1], timeout=10) as client:
        results = await client.publish_many(events, timeout=60)
    assert all(r.accepted for r in results), [r.message for r in results if not r.accepted][:3]

asyncio.run(main())
"""
#: From the router (its own connections are not taken over): the relay's events, copied to the censor's relay.
COPIER = """
import asyncio, json, sys
from samizdat.core.filters import Filter
from samizdat.net.client import RelayClient

async def main():
    left_out = {raw["id"] for raw in json.load(open(sys.argv[3]))}
    async with await RelayClient.connect(sys.argv[1], timeout=10) as source:
        events = await source.fetch([Filter(limit=5000)], timeout=60)
    kept = [e for e in events if e.id not in left_out]
    async with await RelayClient.connect(sys.argv[2], timeout=10) as copy:
        results = await copy.publish_many(kept, timeout=60)
    assert all(r.accepted for r in results), [r.message for r in results if not r.accepted][:3]
    print(len(kept))

asyncio.run(main())
"""


def ok(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def dump(lab: Lab, name: str, events: list[Event]) -> Path:
    path = lab.workdir / f"{name}.json"
    path.write_text(json.dumps([json.loads(e.to_json()) for e in events]))
    return path


def publish(lab: Lab, ns: str, url: str, events: list[Event], name: str) -> None:
    script = lab.workdir / "publish.py"
    script.write_text(PUBLISH)
    lab.run_in(ns, sys.executable, str(script), url, str(dump(lab, name, events)), timeout=90)


def serve(lab: Lab, name: str, port: int) -> subprocess.Popen[bytes]:
    home = lab.workdir / name
    subprocess.run([sys.executable, "-m", "samizdat", "--home", str(home), "init"], capture_output=True, check=True,
                   env=lab.env())  # fmt: skip
    process = lab.spawn(lab.net if port == LOSING_PORT else lab.router, name, sys.executable, "-m", "samizdat",
                        "--home", str(home), "serve", "--host", "127.0.0.1" if port == LOSING_PORT else CENSOR,
                        "--port", str(port), env=lab.env())  # fmt: skip
    lab.wait_port(lab.net if port == LOSING_PORT else lab.router,
                  "127.0.0.1" if port == LOSING_PORT else CENSOR, port, name)  # fmt: skip
    return process


def take_over(lab: Lab, address: str, port: int) -> None:
    """The censor's router sends the client's connections to ``address`` to its own relay from now on."""
    lab.run_in(lab.router, "nft", "add", "rule", "inet", "smzb", "pre", "ip", "saddr", "10.88.1.0/24", "ip", "daddr",
               address, "tcp", "dport", "80", "dnat", "ip", "to", f"{CENSOR}:{port}")  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    built = Lab(tmp_path_factory.mktemp("lab10"))
    try:
        built.start()
        forward = (sys.executable, str(Path(__file__).resolve().parent / "netlab_forward.py"))
        for address in (EMPTY, COPY, LOSING):
            built.run_in(built.net, "ip", "addr", "add", f"{address}/32", "dev", "n0")
        built.spawn(built.net, "front-round10", *forward, "--listen", f"{EMPTY}:80", "--listen", f"{COPY}:80",
                    "--to", f"127.0.0.1:{MAIN_PORT}")  # fmt: skip
        built.spawn(built.net, "front-losing", *forward, "--listen", f"{LOSING}:80", "--to", f"127.0.0.1:{LOSING_PORT}")
        built.wait_port(built.net, EMPTY, 80, "front-round10")
        built.wait_port(built.net, LOSING, 80, "front-losing")
        publish(built, built.net, f"ws://127.0.0.1:{MAIN_PORT}", [*channel_posts(), *newer_posts()], "setup")
        serve(built, "censor-empty", EMPTY_PORT)
        serve(built, "censor-copy", COPY_PORT)
        yield built
    finally:
        built.close()


def home_with_proxy(lab: Lab, name: str) -> Path:
    home = lab.workdir / name
    ok(lab.samizdat(home, "init"))
    (home / "config.toml").write_text(f'[sync]\nfallback = ["{PROXY}"]\n')
    return home


def sync(lab: Lab, home: Path, url: str, *args: str) -> dict[str, Any]:
    return dict(json.loads(ok(lab.samizdat(home, "sync", url, *args, "--json", timeout=240)).stdout))


def routes(lab: Lab, home: Path, url: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(ok(lab.samizdat(home, "routes", "--json")).stdout)
    return {r["transport"]: r for r in rows if r["relay"] == url}


def test_a_sync_alone_finds_an_empty_relay_at_the_relays_address(lab: Lab) -> None:
    """Before: the second sync "succeeded" (0 received; the node's 150 events uploaded to the censor) and said
    nothing. Now it says something else answers in the relay's name, goes on through the proxy (the new posts
    come), and ``routes`` says why the direct route is avoided."""
    home = home_with_proxy(lab, "reader-empty")
    url = f"ws://{EMPTY}"
    assert sync(lab, home, url)["received"] >= SEED_EVENTS
    take_over(lab, EMPTY, EMPTY_PORT)
    fresh = [sign_event(SecretKey.generate(), 1, f"fresh {i}", [], created_at=int(time.time()) - 60) for i in range(5)]
    publish(lab, lab.net, f"ws://127.0.0.1:{MAIN_PORT}", fresh, "fresh")
    text = ok(lab.samizdat(home, "sync", url, timeout=240)).stdout
    assert "something else answers in the relay's name" in text, text
    assert routes(lab, home, url)["direct"]["last_error"].startswith("sync: relay.impostor")
    shown = ok(lab.samizdat(home, "routes")).stdout
    assert "a sync found something else answering in the relay's name" in shown
    status = ok(lab.samizdat(home, "status")).stdout
    assert "something else answers in its name on this network through direct (found by sync)" in status, status
    # The new posts come through the proxy (the relay reuses its NIP-77 index for a few seconds: a sync right
    # after they were published may not see them yet).
    got = int(text.split("received ")[1].split(",")[0])
    for _ in range(5):
        if got >= len(fresh):
            break
        again = sync(lab, home, url)
        assert not again["errors"], again["errors"]
        got += again["received"]
    assert got == len(fresh)


def test_a_sync_alone_finds_a_copy_without_a_channels_older_posts(lab: Lab) -> None:
    """The censor's copy lacks one channel, whose posts are all older than the relay's newest 200: netcheck's
    data step compares only the newest, and says ``ok``. The node that synced before with the real relay sees its
    posts gone at the next sync, and the proxy serving them."""
    channel = channel_posts()
    home = home_with_proxy(lab, "reader-copy")
    url = f"ws://{COPY}"
    assert sync(lab, home, url, "--direction", "down")["received"] >= SEED_EVENTS + CHANNEL + NEWER
    copier = lab.workdir / "copier.py"
    copier.write_text(COPIER)
    later = [sign_event(CHANNEL_KEY, 1, "channel, later", [], created_at=1700000000 + 5 * CHANNEL)]
    publish(lab, lab.net, f"ws://127.0.0.1:{MAIN_PORT}", later, "later")
    left_out = dump(lab, "left-out", [*channel, *later])
    ok(lab.run_in(lab.router, sys.executable, str(copier), url, f"ws://{CENSOR}:{COPY_PORT}", str(left_out),
                  timeout=120))  # fmt: skip
    take_over(lab, COPY, COPY_PORT)
    checked = json.loads(ok(lab.samizdat(home, "netcheck", url, "--json", timeout=120)).stdout)["results"][0]
    assert checked["class"] == "ok", checked  # what netcheck's data step compares is all there
    report = sync(lab, home, url, "--direction", "down")
    assert [line for line in report["errors"] if "answers in the relay's name" in line], report["errors"]
    assert routes(lab, home, url)["direct"]["last_error"].startswith("sync: relay.impostor")
    got = report["received"]  # the channel's new post, through the proxy (at once, or at a next sync: see above)
    for _ in range(5):
        if got:
            break
        got += sync(lab, home, url, "--direction", "down")["received"]
    assert got == 1


def test_an_honest_relay_that_lost_its_newest_events_is_no_impostor(lab: Lab) -> None:
    """The relay's disk is restored from an old backup: its newest 20 events are gone, on every route. The sync
    asks the proxy, which lacks them too: the relay lost them, the route is not blamed."""
    events = [sign_event(SecretKey.generate(), 1, f"post {i}", [], created_at=1700000000 + i) for i in range(60)]
    first = serve(lab, "losing-before", LOSING_PORT)
    publish(lab, lab.net, f"ws://127.0.0.1:{LOSING_PORT}", events, "losing-all")
    home = home_with_proxy(lab, "reader-losing")
    url = f"ws://{LOSING}"
    assert sync(lab, home, url, "--direction", "down")["received"] == len(events)
    first.terminate()
    first.wait(10)
    serve(lab, "losing-after", LOSING_PORT)
    publish(lab, lab.net, f"ws://127.0.0.1:{LOSING_PORT}", events[:-20], "losing-backup")
    report = sync(lab, home, url, "--direction", "down")
    assert not [line for line in report["errors"] if "answers in the relay's name" in line], report["errors"]
    assert [line for line in report["errors"] if "the relay lost or deleted them" in line], report["errors"]
    assert "direct" not in routes(lab, home, url) or not routes(lab, home, url)["direct"]["last_error"]
