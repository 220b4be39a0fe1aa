"""A hostile device on the Wi-Fi forges mDNS goodbyes in the names of the nodes it hears. mDNS has no
authentication: a goodbye (a record with TTL 0) for a node's service can come from anyone. A node that believed
every goodbye at once would drop its link to a neighbour that never left, every time the device sends one; the
neighbour must stay a peer, linked, and posts must keep crossing.

The forger is this very file run as a program (``python test_lan_adversary.py forge ADDRESS``): it browses for
Samizdat services as any device on the Wi-Fi can, and on each command (a JSON line on stdin) sends goodbyes for
every service it heard, taking commands until stdin closes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lan_netns import DeviceProgram, Lab, LanNode, neighbours_and_device, wait_for
from lan_netns import peer_urls as urls

pytestmark = pytest.mark.slow

SERVICE_TYPE = "_samizdat._tcp.local."
DISCOVERY_TIMEOUT = 60.0
ARRIVAL_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0  # the forger's answer to one command
GOODBYES = 12  # rounds of forged goodbyes, one every GOODBYE_EVERY seconds
GOODBYE_EVERY = 1.0


# -- the forger (runs as a program in the device's namespace) ------------------------------------------------------


def forger(address: str) -> None:
    """Browse for Samizdat services from ``address``; on ``{"do": "names"}`` answer the names heard, on
    ``{"do": "goodbye", "rounds": N, "every": S}`` send a goodbye (PTR, TTL 0) for each of them N times, every
    S seconds, then answer."""
    from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf
    from zeroconf._dns import DNSPointer
    from zeroconf._protocol.outgoing import DNSOutgoing
    from zeroconf.const import _CLASS_IN, _FLAGS_AA, _FLAGS_QR_RESPONSE, _TYPE_PTR

    zc = Zeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    names: set[str] = set()

    def seen(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            names.add(name)

    browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[seen])
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if command["do"] == "goodbye":
                for _ in range(command["rounds"]):
                    out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
                    for name in sorted(names):
                        out.add_answer_at_time(DNSPointer(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN, 0, name), 0)
                    zc.send(out)
                    time.sleep(command["every"])
            print(json.dumps({"done": command["do"], "names": sorted(names)}), flush=True)
    finally:
        browser.cancel()
        zc.close()


if __name__ == "__main__":
    if sys.argv[1] == "forge":
        forger(sys.argv[2])
    sys.exit(0)


# -- driving it from the test --------------------------------------------------------------------------------------


class Forger(DeviceProgram):
    """The forger process in ``node``'s namespace (see :class:`DeviceProgram`)."""

    def __init__(self, lab: Lab, node: LanNode) -> None:
        super().__init__(lab, node, Path(__file__), "forge")

    def names(self, timeout: float) -> list[str]:
        """The names the forger heard, once it has done what it was told."""
        names: list[str] = self.answer(timeout).get("names", [])
        return names


@pytest.fixture
def forged(lab: Lab) -> Iterator[tuple[LanNode, LanNode, Forger]]:
    """A node and its honest neighbour that found each other, and a forger on their Wi-Fi that heard both."""
    node, neighbour, device = neighbours_and_device(lab, DISCOVERY_TIMEOUT)
    with Forger(lab, device) as forger:

        def heard_both() -> bool:
            forger.send("names")
            return len(forger.names(COMMAND_TIMEOUT)) >= 2

        wait_for(heard_both, DISCOVERY_TIMEOUT, "the forger to hear both nodes", interval=1.0)
        yield node, neighbour, forger


def test_forged_goodbyes_do_not_cut_a_node_off_its_neighbour(forged: tuple[LanNode, LanNode, Forger]) -> None:
    node, neighbour, forger = forged
    forger.send("goodbye", rounds=GOODBYES, every=GOODBYE_EVERY)
    # While the goodbyes come, the neighbour is looked for on the node's peer list again and again: it never
    # leaves it (a node that believed the goodbyes dropped it, and its link, within a second of the first).
    deadline = time.monotonic() + GOODBYES * GOODBYE_EVERY + COMMAND_TIMEOUT
    missing, looks = 0, 0
    while looks < 200 and time.monotonic() < deadline:
        ready = forger.answered()
        seen = urls(node), urls(neighbour)
        looks += 1
        missing += neighbour.url not in seen[0] or node.url not in seen[1]
        if ready:
            break
    assert forger.names(COMMAND_TIMEOUT), "the forger sent its goodbyes"
    assert looks >= 3, "the peer lists were looked at while the goodbyes came"
    assert missing == 0, f"a forged goodbye removed a live neighbour ({missing} of {looks} looks)"
    post = neighbour.post("yard", "Water is off in blocks 3 to 9")
    wait_for(lambda: node.has(post), ARRIVAL_TIMEOUT, "the post on the node")
    assert "someone on the LAN forges goodbyes" in node.output()
    assert node.running
    assert neighbour.running


def test_a_real_goodbye_is_still_believed(forged: tuple[LanNode, LanNode, Forger]) -> None:
    node, neighbour, _ = forged
    neighbour.stop()  # says goodbye as it goes, and answers no question after it
    wait_for(lambda: neighbour.url not in urls(node), ARRIVAL_TIMEOUT, "the neighbour that left forgotten")
