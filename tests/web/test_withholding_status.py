"""The web app's status screen names a mirror that withholds a channel's changes: one line a finding, in the
reader's language, from the node's own sync rows (services/withholding.py). Before, only ``samizdat status`` named
it, and the operator who reads the node from a phone saw the mirror as reachable and nothing more."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from web_helpers import Cli, phone_page

from samizdat.store.local import LocalState
from samizdat.testing import node_keys

pytest.importorskip("playwright")
from playwright.sync_api import expect

MIRROR = "ws://127.0.0.1:9"  # nothing answers there: the row is what the node's last syncs with it found
ADDRESS = "30333:" + "ab" * 32 + ":yard"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with phone_page(browser, dismiss_dialogs=True) as page:
        yield page


def test_the_status_screen_names_a_withholding_mirror(tmp_path: Any, module_serve: Any, page: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    now = int(time.time())
    keys = node_keys(cli.home)
    local = LocalState(cli.home / "local.sqlite", key=keys.local if keys else None)
    try:  # what two checks of the mirror found (services/sync.py writes it so)
        local.record_sync(MIRROR, f"channel:{ADDRESS}", now=now, ok=True, next_attempt=now + 86400, summary={
            "withholding_checked": [ADDRESS],
            "withheld": [
                {"channel": ADDRESS, "what": "definition", "event": "1" * 64, "newest": now - 1800,
                 "served": now - 7200, "readers": True},
                {"channel": ADDRESS, "what": "retraction", "event": "2" * 64, "newest": now - 1700, "served": None},
            ],
        })  # fmt: skip
    finally:
        local.close()
    node = module_serve(cli.home)
    page.goto(f"{node.http_url}#/status")
    lines = page.locator("#withholding li")
    expect(lines).to_have_count(2, timeout=20_000)
    expect(lines.nth(0)).to_contain_text(f"{MIRROR} showed this node a channel’s newest settings")
    expect(lines.nth(0)).to_contain_text("hid them from readers asking another way (they get the ones of")
    expect(lines.nth(1)).to_contain_text(f"{MIRROR} left out a retraction of")
    expect(lines.nth(1)).to_contain_text("its readers see the post as news")
