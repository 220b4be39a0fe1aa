"""The test network itself behaves like the one the LAN tests claim: nodes on one bridge reach each other, two
LANs share nothing and no node has a way out, and a node moved to another LAN keeps its address and data and
reaches its new neighbours only. Proven with commands that predate LAN discovery (``serve``, ``sync``)."""

from __future__ import annotations

import pytest
from lan_netns import Lab, ip

pytestmark = pytest.mark.slow


def test_bridged_nodes_sync_two_lans_do_not_and_a_moved_node_joins_the_other(lab: Lab) -> None:
    lan1, lan2 = lab.lan(), lab.lan()
    author, hub = lab.node(lan1, "author"), lab.node(lan1, "hub")
    stranger = lab.node(lan2, "stranger")
    for node in (author, hub, stranger):
        routes = ip("-n", node.ns, "route", "show")
        assert "default" not in routes, routes  # no way out of the LAN
    hub.start()
    stranger.start()

    author.json("channel", "create", "district", "--name", "District")
    posted = author.post("district", "Metro is closed")
    assert author.has(posted)
    assert not hub.has(posted)

    report = author.json("sync", hub.url, "--direction", "up")
    assert report["sent"] >= 2  # the channel definition and the post
    assert hub.has(posted)

    # LAN 2 is out of reach: the same command to its node fails (no route), and nothing moved.
    refused = author.cli("sync", stranger.url, "--direction", "up", timeout=60)
    assert refused.code != 0
    assert "Traceback" not in refused.err
    assert not stranger.has(posted)

    # Plug the author into LAN 2: same address, its data along; LAN 1 is now out of reach instead.
    lab.move(author, lan2)
    assert author.addr in ip("-n", author.ns, "addr", "show", "dev", author.host_if)
    assert author.json("sync", stranger.url, "--direction", "up")["sent"] >= 2
    assert stranger.has(posted)
    assert author.cli("sync", hub.url, "--direction", "up", timeout=60).code != 0

    # Reading a node's traffic counters works (the benchmarks use them).
    received, sent = author.link_bytes()
    assert received > 0
    assert sent > 0
