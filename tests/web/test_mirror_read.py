"""Reading from any mirror (docs/web.md, "Reading from mirrors"): a phone that opened a channel on the hub reads
it from the channel's mirror (a second real relay on loopback) once the hub is gone, every event verified in the
browser first, also when the app is opened again from the phone's cache; the page's CSP names that mirror and
nothing wider; the reader can turn direct connections off."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web_helpers import PHONE, Cli, e2e

from samizdat.core import channel as ch
from samizdat.core import posts as po
from samizdat.core.event import Event, parse_event
from samizdat.core.keys import SecretKey
from samizdat.testing import free_port

pytest.importorskip("playwright")
pytest.importorskip("nostr_sdk")
from playwright.sync_api import expect
from websockets.sync.client import connect

WAIT = 20.0


@dataclass
class Hub:
    cli: Cli
    node: Any
    mirror: Any
    address: str
    definition: Event


def fetch(url: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with connect(url, open_timeout=WAIT) as ws:
        ws.send(json.dumps(["REQ", "q", filters]))
        for _ in range(1000):
            message = json.loads(ws.recv(timeout=WAIT))
            if message[0] == "EOSE":
                return out
            if message[0] == "EVENT":
                out.append(message[2])
    raise AssertionError("no EOSE")


def publish(url: str, events: list[dict[str, Any]]) -> None:
    with connect(url, open_timeout=WAIT) as ws:
        for event in events:
            ws.send(json.dumps(["EVENT", event]))
            reply = json.loads(ws.recv(timeout=WAIT))
            assert reply[:3] == ["OK", event["id"], True], reply


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    mirror = e2e.LocalRelayProcess(free_port(), tmp_path / "mirror.log")
    mirror.start()
    node = None
    try:
        cli = Cli(tmp_path / "home")
        cli.ok("init", "--no-passphrase")  # the test signs a post with the owner's key while the node is gone
        address = cli.json("channel", "create", "frunzenski", "--name", "Frunzenski district", "--place",
                           "BY/Minsk/Frunzenski", "--mirror", mirror.url)["address"]  # fmt: skip
        cli.ok("post", "frunzenski", "--type", "news", "Metro stations are closed")
        node = e2e.ServeProcess(cli.home, tmp_path / "serve.log")
        node.wait_ready()
        events = fetch(node.url, {"kinds": [30333, 2333]})
        publish(mirror.url, events)  # what the node's outbox would deliver to the mirror
        definition = parse_event(next(e for e in events if e["kind"] == 30333))
        yield Hub(cli, node, mirror, address, definition)
    finally:
        if node is not None:
            node.stop()
        mirror.stop()


def newer_post_on_the_mirror_only(hub: Hub, text: str) -> None:
    key = SecretKey.from_hex((hub.cli.home / "identity.key").read_text().strip())
    channel = ch.parse_channel(hub.definition)
    post = po.build_post(key, channel, "news", text, created_at=int(time.time()))
    publish(hub.mirror.url, [post.to_dict()])


def test_the_hub_is_gone_the_channel_reads_from_its_mirror(hub: Hub, browser: Any) -> None:
    context = browser.new_context(locale="en-US", **PHONE)
    context.set_default_timeout(WAIT * 1000)
    try:
        page = context.new_page()
        response = page.goto(f"{hub.node.http_url}#/c/{hub.address}")
        assert response is not None
        policy = response.headers["content-security-policy"]
        connect_src = next(p for p in policy.split("; ") if p.startswith("connect-src"))
        assert connect_src.split() == ["connect-src", "'self'", f"ws://{hub.node.http_url[7:-1]}",
                                       f"wss://{hub.node.http_url[7:-1]}", hub.mirror.url]  # fmt: skip
        expect(page.locator(".post", has_text="Metro stations are closed")).to_be_visible()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        page.click("#follow")
        expect(page.locator("#follow")).to_have_text("Unfollow")
        expect(page.locator("#mirror-note")).to_be_empty()  # the hub answers: nothing read elsewhere

        hub.node.stop()  # the hub goes away while the phone reads
        expect(page.locator("#conn")).to_have_text("offline")
        newer_post_on_the_mirror_only(hub, "Bridge closed, use the tunnel")
        expect(page.locator(".post", has_text="Bridge closed, use the tunnel")).to_be_visible()
        expect(page.locator(".post", has_text="Metro stations are closed")).to_be_visible()
        expect(page.locator("#mirror-note")).to_contain_text(f"Read directly from {hub.mirror.url}")

        # Opened again from the phone's cache, the node still gone: the kept page names no mirror in its policy,
        # so the app tells its service worker which mirror it needs (memory only) and reloads once.
        page.reload()
        newer_post_on_the_mirror_only(hub, "Ferry runs at nine")
        expect(page.locator(".post", has_text="Ferry runs at nine")).to_be_visible()
        expect(page.locator("#conn")).to_have_text("offline")

        page.click("nav a >> nth=2")  # the app's own status says where the channel came from
        expect(page.locator("#phone-sources")).to_contain_text("Frunzenski district")
        expect(page.locator("#phone-sources")).to_contain_text(hub.mirror.url)

        page.check("#direct-off")  # the reader turns direct connections off
        expect(page.locator("#direct-off")).to_be_checked()
        opened: list[str] = []
        page.on("websocket", lambda ws: opened.append(ws.url))
        page.go_back()  # to the channel again, in the same page
        # The cached posts are drawn, then the channel is watched: a mirror would be opened at once (offline).
        expect(page.locator(".post", has_text="Bridge closed, use the tunnel")).to_be_visible()
        page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")
        assert not [url for url in opened if url.startswith(hub.mirror.url)], opened
        expect(page.locator("#mirror-note")).to_be_empty()
    finally:
        context.close()
