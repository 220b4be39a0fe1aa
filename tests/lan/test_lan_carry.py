"""Store-carry-forward between LANs that share no link: a node that spends time on one LAN and is then plugged
into the other carries the posts it picked up there, in both directions."""

from __future__ import annotations

import time

import pytest
from lan_netns import Lab, LanNode, wait_for

pytestmark = pytest.mark.slow

DISCOVERY_TIMEOUT = 60.0
ARRIVAL_TIMEOUT = 60.0  # after a move: noticing the new network, announcing, linking, reconciling


def linked(a: LanNode, b: LanNode) -> bool:
    """Whether ``a`` lists ``b`` as a peer (either side may be the one that connects)."""
    return any(p["url"] == b.url for p in a.peers())


def test_a_node_moved_between_two_lans_carries_posts_both_ways(lab: Lab) -> None:
    lan1, lan2 = lab.lan(), lab.lan()
    east, carrier = lab.node(lan1, "east"), lab.node(lan1, "carrier")
    west = lab.node(lan2, "west")
    east.json("channel", "create", "east", "--name", "East district")
    west.json("channel", "create", "west", "--name", "West district")
    for node in (east, carrier, west):
        node.start("--lan")
    wait_for(lambda: linked(carrier, east) and linked(east, carrier), DISCOVERY_TIMEOUT, "east and carrier linked")

    from_east = east.post("east", "Bridge on Partizansky closed", "--type", "alert", "--place", "Partizansky")
    from_west = west.post(
        "west",
        "Lawyer on duty at the district court",
        "--type",
        "contact",
        "--role",
        "lawyer",
        "--reach",
        "+375 29 000",
    )
    wait_for(lambda: carrier.has(from_east), ARRIVAL_TIMEOUT, "the east post on the carrier")
    time.sleep(2.0)  # give a wrong path, if any, the time to show itself
    assert not west.has(from_east), "a post crossed between LANs that share no link"
    assert not carrier.has(from_west)
    assert not east.has(from_west)
    assert not linked(west, carrier)

    # To the west LAN: the carrier brings the east post and picks up the west one.
    moved = time.monotonic()
    lab.move(carrier, lan2)
    wait_for(lambda: west.has(from_east), ARRIVAL_TIMEOUT, "the east post on the west node after the move")
    wait_for(lambda: carrier.has(from_west), ARRIVAL_TIMEOUT, "the west post on the carrier after the move")
    print(f"\nmoved east -> west: both posts crossed in {time.monotonic() - moved:.1f} s")
    later_west = west.post("west", "Pharmacy on Lenina has insulin")  # while the carrier is there
    wait_for(lambda: carrier.has(later_west), ARRIVAL_TIMEOUT, "a live west post on the carrier")
    assert not east.has(from_west)

    # And back east: the west posts arrive there.
    moved = time.monotonic()
    lab.move(carrier, lan1)
    wait_for(lambda: east.has_all([from_west, later_west]), ARRIVAL_TIMEOUT, "the west posts on the east node")
    print(f"moved west -> east: the west posts crossed in {time.monotonic() - moved:.1f} s")
    assert all(n.running for n in (east, carrier, west))
