"""Red team, round 4, on real networks: what a listening device on each of two Wi-Fis learns about a node carried
from one to the other (a courier's laptop: the flat's Wi-Fi, then the café's)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from lan_netns import Lab, LanNode, wait_for

pytestmark = pytest.mark.slow

LISTENER = Path(__file__).with_name("lan_listener.py")
LISTEN_FOR = 30.0  # seconds a listener waits for the announcement it looks for
MOVE_NOTICED = 30.0  # seconds for a moved node to notice its new network


def listen(lab: Lab, where: LanNode, address: str, not_id: str = "-") -> list[dict[str, Any]]:
    """What a passive listener in ``where``'s namespace hears, until it hears a node at ``address`` whose id is not
    ``not_id`` (or LISTEN_FOR passes)."""
    result = lab.run(where.ns, [sys.executable, str(LISTENER), str(LISTEN_FOR), address, not_id],
                     timeout=LISTEN_FOR + 30)  # fmt: skip
    assert result.code == 0, result.err
    return list(json.loads(result.out))


def at(heard: list[dict[str, Any]], address: str) -> list[dict[str, Any]]:
    return [s for s in heard if address in s["addresses"]]


def test_a_node_carried_to_another_wifi_is_not_recognisable_by_its_announcement(lab: Lab) -> None:
    flat, cafe = lab.lan(), lab.lan()
    courier = lab.node(flat, "courier")
    at_flat = lab.node(flat, "flat-listener", init=False)
    at_cafe = lab.node(cafe, "cafe-listener", init=False)
    courier.start("--lan")

    first = at(listen(lab, at_flat, courier.addr), courier.addr)
    assert first, "the listener at the flat heard the courier's node"
    old = first[-1]

    changes = courier.output().count("the network changed")
    lab.move(courier, cafe)
    wait_for(lambda: courier.output().count("the network changed") > changes, MOVE_NOTICED, "the move noticed")
    # The harness keeps the node's address across the move (a real Wi-Fi gives it another): only what the node
    # itself announces is looked at.
    later = at(listen(lab, at_cafe, courier.addr, not_id=old["id"]), courier.addr)
    assert later, "the courier's node is announced at the café (its neighbours there must find it)"
    new = later[-1]
    assert new["id"] != old["id"], "the same instance id was announced on both Wi-Fis: one node, seen at both"
    assert old["id"][:12] not in new["name"]
    assert old["id"][:12] not in new["server"]
    assert courier.running
