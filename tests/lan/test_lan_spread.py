"""Posts spread over a LAN with no way out: six nodes that find each other with mDNS, and two that only know
each other because a person typed the address in (``peers add``, mDNS off)."""

from __future__ import annotations

import time

import pytest
from lan_netns import Lab, LanNode, ip, wait_for

pytestmark = pytest.mark.slow

DISCOVERY_TIMEOUT = 60.0  # the target is 5 s; the shared test machine gets slack
ARRIVAL_TIMEOUT = 30.0  # the target is 2 s


def peer_urls(node: LanNode) -> set[str]:
    return {peer["url"] for peer in node.peers()}


def knows_all(node: LanNode, nodes: list[LanNode]) -> bool:
    return {other.url for other in nodes if other is not node} <= peer_urls(node)


def wait_arrival(event_id: str, nodes: list[LanNode], what: str) -> float:
    started = time.monotonic()
    wait_for(lambda: all(n.has(event_id) for n in nodes), ARRIVAL_TIMEOUT, what, interval=0.05)
    return time.monotonic() - started


def test_a_post_on_one_of_six_nodes_reaches_all_of_them(lab: Lab) -> None:
    lan = lab.lan()
    nodes = [lab.node(lan, f"n{i}") for i in range(6)]
    for node in nodes:
        assert "default" not in ip("-n", node.ns, "route", "show")  # no way out of the LAN
    author, neighbour = nodes[0], nodes[3]
    district = author.json("channel", "create", "district", "--name", "District")
    neighbour.json("channel", "create", "yard", "--name", "Block 7 yard")
    for node in nodes:
        node.start("--lan")

    started = time.monotonic()
    wait_for(lambda: all(knows_all(n, nodes) for n in nodes), DISCOVERY_TIMEOUT, "every node listing the 5 others")
    print(f"\nsix nodes found each other in {time.monotonic() - started:.1f} s")
    for node in nodes:
        assert {p["source"] for p in node.peers()} == {"mdns"}

    news = author.post("district", "Metro stations are closed", "--type", "news")
    print(f"news reached all six {wait_arrival(news, nodes, 'the news on all six nodes'):.2f} s after `post`")
    alert = neighbour.post("yard", "Police vans at the market", "--type", "alert", "--place", "Market")
    print(f"alert reached all six {wait_arrival(alert, nodes, 'the alert on all six nodes'):.2f} s after `post`")

    # A reader on every node sees the news in the channel's feed: the channel's definition came along.
    for node in nodes:
        assert news in {item["id"] for item in node.json("feed", district["address"])}, node
    assert all(n.running for n in nodes)


def test_a_manual_peer_syncs_across_namespaces_without_mdns(lab: Lab) -> None:
    lan = lab.lan()
    reader, hub = lab.node(lan, "reader"), lab.node(lan, "hub")
    hub.json("channel", "create", "district", "--name", "District")
    early = hub.post("district", "Posted before anyone connected")
    reader.start("--lan", "--no-mdns")
    hub.start("--lan", "--no-mdns")

    added = reader.json("peers", "add", hub.url)
    assert added["url"] == hub.url

    def synced() -> dict[str, object] | None:
        for peer in reader.peers():
            if peer["url"] == hub.url and peer["last_sync"]:
                return peer
        return None

    peer = wait_for(synced, 30, "the reader syncing with the manually added hub")
    assert peer["source"] == "manual"
    assert {"url", "name", "source", "state", "last_seen", "last_sync", "events_in", "events_out"} <= set(peer)
    wait_for(lambda: reader.has(early), ARRIVAL_TIMEOUT, "the hub's earlier post on the reader")

    # Live both ways once linked: a new post on either side arrives without another `peers add` or `sync`.
    later = hub.post("district", "Posted while linked")
    wait_for(lambda: reader.has(later), ARRIVAL_TIMEOUT, "the hub's live post on the reader")
    reader.json("channel", "create", "flat", "--name", "Flat 12")
    own = reader.post("flat", "Water is back on")
    wait_for(lambda: hub.has(own), ARRIVAL_TIMEOUT, "the reader's post on the hub")
    counted = next(p for p in reader.peers() if p["url"] == hub.url)
    assert counted["events_in"] >= 2
    assert counted["events_out"] >= 1
    # Without mDNS nobody was found on the LAN by itself: the hub lists no peer of its own making.
    assert all(p["source"] != "mdns" for p in hub.peers())

    reader.ok("peers", "remove", hub.url)
    assert hub.url not in peer_urls(reader)

    # Removed means unlinked: once the running node has read the change (it polls every 2 s), the hub's posts
    # stop arriving.
    time.sleep(5)
    unlinked = hub.post("district", "Posted after the reader removed the hub")
    time.sleep(5)
    assert not reader.has(unlinked)
