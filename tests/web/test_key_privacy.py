"""A node does not out its operator on the LAN: NIP-11, ``/status`` and the web app's ``/api/status`` name the
node's key only to this machine, unless ``[node] publish_key = true``.

The other device is real: a network namespace joined to this one by a veth pair, so its requests come from a
LAN address (10.79.x.2), not from loopback. Needs root and iproute2 (skipped otherwise)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import CHROMIUM, CHROMIUM_ARGS, Cli

IP_TIMEOUT = 20.0
FETCH_TIMEOUT = 60.0
#: Run inside the namespace: the three documents, as a device on the hub's Wi-Fi gets them.
FETCH = """
import json, sys, urllib.request
base = sys.argv[1]
def get(path, accept):
    request = urllib.request.Request(base + path, headers={"Accept": accept, "Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.read().decode()
print(json.dumps({"nip11": json.loads(get("/", "application/nostr+json")), "status": get("/status", "text/html"),
                  "api": json.loads(get("/api/status", "application/json"))}))
"""


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


class Device:
    """Another device on the node's network: a namespace with one veth whose other end is in this namespace."""

    def __init__(self) -> None:
        tag = f"{os.getpid() & 0xFFFF:04x}"
        self.ns, self.outer, self.inner = f"smzk{tag}", f"smzk{tag}h", f"smzk{tag}n"
        subnet = 16 + (os.getpid() % 60) * 4
        self.node_address, self.address = f"10.79.{subnet}.1", f"10.79.{subnet}.2"

    def start(self) -> None:
        self.close()  # what a crashed run with the same pid left
        ip("netns", "add", self.ns)
        ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        ip("link", "set", self.inner, "netns", self.ns)
        ip("addr", "add", f"{self.node_address}/30", "dev", self.outer)
        ip("link", "set", self.outer, "up")
        ip("-n", self.ns, "addr", "add", f"{self.address}/30", "dev", self.inner)
        ip("-n", self.ns, "link", "set", self.inner, "up")
        ip("-n", self.ns, "link", "set", "lo", "up")

    def fetch(self, port: int) -> dict[str, Any]:
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, sys.executable, "-c", FETCH, f"http://{self.node_address}:{port}"],
            capture_output=True, text=True, timeout=FETCH_TIMEOUT, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True, timeout=IP_TIMEOUT, check=False)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=IP_TIMEOUT, check=False)


@pytest.fixture(scope="module")
def device() -> Iterator[Device]:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a second device needs Linux network namespaces: root and iproute2")
    lan = Device()
    try:
        lan.start()
        yield lan
    finally:
        lan.close()


def local_fetch(port: int) -> dict[str, Any]:
    def get(path: str, accept: str) -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=20) as response:
            body: bytes = response.read()
            return body.decode()

    return {"nip11": json.loads(get("/", "application/nostr+json")), "status": get("/status", "text/html"),
            "api": json.loads(get("/api/status", "application/json"))}  # fmt: skip


def hub(cli: Cli, module_serve: Callable[..., Any]) -> Any:
    return module_serve(cli.home, "--host", "0.0.0.0", "--no-mdns")


def test_the_node_key_is_shown_only_on_this_machine(tmp_path: Any, module_serve: Any, device: Device) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    keys = cli.json("keys", "show")
    node = hub(cli, module_serve)

    neighbour = device.fetch(node.port)
    assert "pubkey" not in neighbour["nip11"]
    assert neighbour["nip11"]["name"] == "samizdat node"  # the rest of NIP-11 is there
    assert keys["npub"] not in neighbour["status"]
    assert keys["pubkey"] not in neighbour["status"]
    assert "Events stored" in neighbour["status"]
    assert neighbour["api"]["npub"] is None
    assert neighbour["api"]["name"] == "samizdat node"

    here = local_fetch(node.port)
    assert here["nip11"]["pubkey"] == keys["pubkey"]
    assert keys["npub"] in here["status"]
    assert here["api"]["npub"] == keys["npub"]


def test_an_operator_may_publish_the_key(tmp_path: Any, module_serve: Any, device: Device) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    config = cli.home / "config.toml"
    text = config.read_text()
    assert "publish_key = false" in text  # documented in the default configuration
    config.write_text(text.replace("publish_key = false", "publish_key = true"))
    keys = cli.json("keys", "show")
    node = hub(cli, module_serve)

    neighbour = device.fetch(node.port)
    assert neighbour["nip11"]["pubkey"] == keys["pubkey"]
    assert keys["npub"] in neighbour["status"]
    assert neighbour["api"]["npub"] == keys["npub"]


def test_a_phone_on_the_lan_sees_the_key_once_logged_in(tmp_path: Path, module_serve: Any, device: Device) -> None:
    """Chromium runs in the other namespace (a phone on the hub's Wi-Fi): the Node screen says the key is not
    shown; after the operator login, the same screen shows it."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.sh web)")
    sync_api = pytest.importorskip("playwright.sync_api")
    phone = tmp_path / "chromium-on-the-lan"
    phone.write_text(f'#!/bin/sh\nexec ip netns exec {device.ns} {CHROMIUM} "$@"\n')
    phone.chmod(0o755)
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    npub = cli.json("keys", "show")["npub"]
    node = hub(cli, module_serve)
    url = f"http://{device.node_address}:{node.port}/"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(phone), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(locale="en-US").new_page()
            page.goto(url + "#/status")
            sync_api.expect(page.locator("#node-key")).to_have_text("not shown on this network")
            page.goto(url + "#op=" + cli.json("web", "login")["token"])
            sync_api.expect(page.locator("#operator-status")).to_contain_text("Logged in as the node’s operator")
            page.goto(url + "#/status")
            sync_api.expect(page.locator("#node-key")).to_have_text(npub)
        finally:
            browser.close()


def test_a_neighbour_learns_neither_the_mirrors_nor_that_the_node_publishes(
    tmp_path: Any, module_serve: Any, device: Device
) -> None:
    """The relays in ``/api/status`` are the mirrors of the channels the node follows or runs, and their delivery
    counts say that its owner publishes: a device on the Wi-Fi gets how many relays there are and whether they
    answer, not which, nor what was delivered to them (red-team finding)."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    cli.ok("channel", "create", "yard", "--name", "Yard", "--mirror", "wss://mirror.invalid")
    cli.ok("post", "yard", "The water is back in block 3.")
    node = hub(cli, module_serve)

    here = local_fetch(node.port)["api"]
    assert [r["url"] for r in here["relays"]] == ["wss://mirror.invalid"]
    assert here["relays"][0]["pending"] + here["relays"][0]["delivered"] + here["relays"][0]["failed"] >= 1
    assert here["carried"]["delivered"] is not None

    neighbour = device.fetch(node.port)["api"]
    assert "mirror.invalid" not in json.dumps(neighbour)
    assert len(neighbour["relays"]) == 1
    assert {k for k, v in neighbour["relays"][0].items() if v is not None} <= {
        "reachable",
        "last_success",
        "last_attempt",
    }
    assert neighbour["carried"]["delivered"] is None
    assert neighbour["follows"] is None
