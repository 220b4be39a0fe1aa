"""The courier's stick between a phone and a node (docs/safety.md, "The courier and the stick"): a bundle sealed by
``samizdat export --seal`` opens on a phone once its passphrase is typed, a wrong one opens nothing and says so, and
a file the phone seals (random-looking bytes, a neutral name) is taken by ``samizdat import`` with the passphrase."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli

from samizdat.testing import TEST_PASSPHRASE

pytest.importorskip("playwright")
from playwright.sync_api import expect

POSTS = ["Water is back on Kalvaryjskaja", "Market gate closed", "Yard meeting at 7"]
STICK = "rain over the square at noon"


@dataclass
class Hub:
    cli: Cli
    url: str
    address: str
    tmp: Path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    tmp = tmp_path_factory.mktemp("sealed")
    cli = Cli(tmp / "home")
    cli.ok("init")
    address = cli.json("channel", "create", "frunzenski", "--name", "Frunzenski district")["address"]
    for text in POSTS:
        cli.ok("post", "frunzenski", "--type", "news", text)
    node = module_serve(cli.home)
    return Hub(cli, node.http_url, address, tmp)


def open_file(page: Any, path: Path, passphrase: str) -> str:
    page.click("nav a >> nth=2")  # the Node screen
    page.fill("#bundle-passphrase", passphrase)
    page.set_input_files("#bundle-file", str(path))
    result = page.locator("#bundle-result")
    expect(result).to_be_visible()
    return str(result.inner_text())


def test_the_phone_opens_a_bundle_the_node_sealed(hub: Hub, context: Any) -> None:
    sealed = hub.tmp / "holiday.bin"
    done = hub.cli.typed([TEST_PASSPHRASE, STICK], "export", "--seal", "-o", str(sealed), "--channel", "frunzenski")
    assert done.code == 0, done.err
    assert not sealed.read_bytes().startswith(b"SMZDBNDL")
    page = context.new_page()
    page.goto(hub.url)
    assert "Imported 0 events" in open_file(page, sealed, "rain over the square at nine")
    expect(page.locator("#bundle-error")).to_contain_text("the passphrase does not open this file")
    page.reload()
    assert "Imported 4 events; 0 invalid" in open_file(page, sealed, STICK)
    expect(page.locator("#bundle-error")).to_have_count(0)
    assert page.locator("#bundle-passphrase").input_value() == ""  # not left in the field


def test_the_node_imports_a_bundle_the_phone_sealed(hub: Hub, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{hub.url}#/c/{hub.address}")
    expect(page.locator(".post", has_text=POSTS[0])).to_be_visible()
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")
    page.click("nav a >> nth=2")
    page.fill("#bundle-passphrase", STICK)
    with page.expect_download() as info:
        page.click("#bundle-export")
    name = info.value.suggested_filename
    assert "samizdat" not in name.lower()
    assert not name.endswith(".smz")
    made = hub.tmp / "from-phone"
    info.value.save_as(made)
    data = made.read_bytes()
    assert len(data) % 4096 == 0
    assert b"SMZ" not in data
    assert POSTS[0].encode() not in data

    reader = Cli(hub.tmp / "reader-home")
    reader.ok("init")
    wrong = reader.typed([TEST_PASSPHRASE, "not it"], "import", str(made))
    assert wrong.code != 0
    assert "the passphrase does not open this file" in wrong.err
    done = reader.typed([TEST_PASSPHRASE, STICK], "import", str(made), "--json")
    assert done.code == 0, done.err
    assert done.json()["new"] == 4
