"""``samizdat peers``: a peer added by hand from another terminal is linked by the running node at once; posts
then spread both ways within seconds, and a peer that goes away is caught up with when it comes back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess


def texts(cli: Cli, channel: str) -> set[str]:
    result = cli("feed", channel, "--json")
    return {item["text"] for item in result.json()} if result.code == 0 else set()


def peer(cli: Cli, url: str) -> dict[str, Any] | None:
    return next((p for p in cli.json("peers") if p["url"] == url), None)


def test_manual_peer_links_and_posts_spread_both_ways(
    make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess], wait_until: Callable[..., Any]
) -> None:
    laptop, hub = make_cli("laptop"), make_cli("hub")
    laptop.ok("init")
    hub.ok("init")
    hub_node = serve(hub.home)
    laptop_node = serve(laptop.home)
    hub_addr = hub.json("channel", "create", "block7", "--name", "Block 7")["address"]
    hub.ok("post", "block7", "Water is off until 18:00")

    assert laptop.json("peers") == []
    added = laptop.json("peers", "add", hub_node.url)
    assert added == {"url": hub_node.url, "added": True}
    assert laptop.json("peers", "add", hub_node.url + "/")["added"] is False

    wait_until(lambda: (peer(laptop, hub_node.url) or {}).get("state") == "live", 30, "the link to go live")
    row = peer(laptop, hub_node.url)
    assert row is not None
    assert row["source"] == "manual"
    assert row["last_sync"]
    assert row["events_in"] >= 2
    wait_until(lambda: "Water is off until 18:00" in texts(laptop, hub_addr), 30, "the hub's post on the laptop")

    # Live, both ways: a post on either side reaches the other without another sync.
    hub.ok("post", "block7", "Water is back")
    wait_until(lambda: "Water is back" in texts(laptop, hub_addr), 15, "a new hub post on the laptop")
    laptop_addr = laptop.json("channel", "create", "street", "--name", "Street")["address"]
    laptop.ok("post", "street", "Seen from the laptop")
    wait_until(lambda: "Seen from the laptop" in texts(hub, laptop_addr), 15, "a laptop post on the hub")

    # The hub goes away; the laptop posts meanwhile; the hub comes back and is caught up.
    hub_node.stop()
    wait_until(lambda: (peer(laptop, hub_node.url) or {}).get("state") != "live", 30, "the link to notice")
    laptop.ok("post", "street", "Posted while the hub was off")
    hub_again = serve(hub.home, "--port", str(hub_node.port))
    assert hub_again.port == hub_node.port
    wait_until(lambda: "Posted while the hub was off" in texts(hub, laptop_addr), 60, "the hub catching up")
    assert laptop_node.process.poll() is None

    removed = laptop.json("peers", "remove", hub_node.url)
    assert removed == {"url": hub_node.url, "removed": True}
    assert laptop.json("peers") == []


def test_peer_commands_refuse_bad_input_with_one_line(make_cli: Callable[[str], Cli]) -> None:
    cli = make_cli("node")
    cli.ok("init")
    for bad in ("http://10.0.0.1:4848", "10.0.0.1:4848", "ws://", "ws://host:99999"):
        cli.fails("peers", "add", bad)
    assert "not a known peer" in cli.fails("peers", "remove", "ws://10.9.9.9:1").err
