"""The web app's status screen says that something else answers in a relay's name on this network (red team
round 10, services/relay_memory.py): a sync found the route impersonated and went on another way. Before, the
phone showed the relay as reachable, and only ``samizdat routes`` said why the sync went through the proxy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from web_helpers import Cli, phone_page

from samizdat.core.routes import after_stall
from samizdat.net import netinfo
from samizdat.store.local import LocalState
from samizdat.testing import node_keys

pytest.importorskip("playwright")
from playwright.sync_api import expect

RELAY = "ws://127.0.0.1:9"  # nothing answers there: the row is what the node's last sync found


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with phone_page(browser, dismiss_dialogs=True) as page:
        yield page


def test_the_status_screen_says_something_else_answers_in_a_relays_name(
    tmp_path: Any, module_serve: Any, page: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    now = time.time()
    keys = node_keys(cli.home)
    local = LocalState(cli.home / "local.sqlite", key=keys.local if keys else None)
    try:  # what services/sync.py writes when another route served what this one lacked
        local.record_sync(RELAY, "*", now=now, ok=True, next_attempt=now + 86400, summary={})
        marked = after_stall(None, "direct", "relay.impostor", "lacked 150 events it had served before", now=now)
        local.record_route(RELAY, netinfo.network_id(), marked)
    finally:
        local.close()
    node = module_serve(cli.home)
    page.goto(f"{node.http_url}#/status")
    expect(page.get_by_text("something else answers in its name on this network through direct")).to_be_visible(
        timeout=20_000
    )
