"""A hostile device on the Wi-Fi fills the room with made-up nodes that really answer: it owns 64 more addresses,
runs one relay on all of them, whose store is empty and stays empty, and announces a node at each (64, as many as
a node keeps). Every link to them finishes its reconciliation, so none ever fails. A node that kept every node
whose link works never linked with a real neighbour that came later; now a node that brings nothing new for
``[lan] quiet_for`` makes room, and the neighbour, whose posts are new, keeps its place. The node runs with
``quiet_for = 30`` instead of its 300 s (the same rule; tests/mesh/test_room.py runs the default with a clock of
its own).

The device is this very file run as a program (``python test_lan_crowd_answering.py answer ADDRESS``): on
``announce`` it starts the relay and registers the services; on ``stop`` it withdraws them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from lan_netns import PORT, DeviceProgram, Lab, LanNode, wait_for
from lan_netns import peer_urls as urls

from samizdat.mesh.announcements import FAILING_FOR, MAX_ANNOUNCED

SERVICE_TYPE = "_samizdat._tcp.local."
DISCOVERY_TIMEOUT = 90.0
QUIET_FOR = 30  # the node's [lan] quiet_for: how long the made-up nodes must bring nothing before there is room
pytestmark = [pytest.mark.slow, pytest.mark.timeout(QUIET_FOR + 2 * FAILING_FOR + 4 * DISCOVERY_TIMEOUT)]

COMMAND_TIMEOUT = 60.0  # the device's answer to one command
FAKE = "10.77.200."  # the device's own extra addresses, on the LAN
ADDRESSES = MAX_ANNOUNCED  # one made-up node at each


# -- the device (runs as a program in its own namespace) -----------------------------------------------------------


def answer(address: str) -> None:
    """Own :data:`ADDRESSES` more addresses on the LAN; take JSON commands on stdin, answer each with a JSON line:
    ``announce`` (serve an empty relay on every address, register MAX_ANNOUNCED services on them), ``stop``
    (withdraw the services)."""
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    from samizdat.relay.limits import RelayLimits
    from samizdat.relay.negentropy import NegentropyService
    from samizdat.relay.server import RelayServer
    from samizdat.store.sqlite import SqliteStore

    shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], check=True, capture_output=True, text=True).stdout
    mine = next(line.split() for line in shown.splitlines() if f" {address}/" in line)
    for a in range(ADDRESSES):
        subprocess.run(["ip", "addr", "add", f"{FAKE}{a + 1}/{mine[3].split('/')[1]}", "dev", mine[1]], check=True)

    async def run(home: Path) -> None:
        azc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
        store = await SqliteStore.open(home / "events.sqlite")
        # The node links to every made-up node from its one address: the relay takes them all, and their live
        # subscriptions ({"limit": 0}, broad) too. It stores nothing (every event is dated too far ahead for it):
        # it would otherwise pass the neighbour's posts on, and bring something after all.
        limits = RelayLimits(
            max_connections_per_ip=1000, max_search_subscriptions_per_ip=1000, created_at_future_seconds=-(10**9)
        )
        relay = RelayServer(store, limits=limits, negentropy=NegentropyService())
        loop = asyncio.get_running_loop()
        infos: list[AsyncServiceInfo] = []
        try:
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                command = json.loads(line)
                if command["do"] == "announce":
                    await relay.start("0.0.0.0", PORT)
                    for n in range(MAX_ANNOUNCED):
                        # Ids after every hex id: the node is the one that links, to each of them.
                        instance = "z" + secrets.token_hex(8)
                        infos.append(
                            AsyncServiceInfo(
                                SERVICE_TYPE,
                                f"samizdat-{instance[:12]}.{SERVICE_TYPE}",
                                addresses=[socket.inet_aton(f"{FAKE}{n % ADDRESSES + 1}")],
                                port=PORT,
                                properties={"id": instance, "v": "1", "hub": "0", "name": ""},
                                server=f"samizdat-{instance[:12]}.local.",
                            )
                        )
                    waits = [await azc.async_register_service(info, cooperating_responders=True) for info in infos]
                    await asyncio.gather(*waits)
                elif command["do"] == "stop":
                    await azc.async_unregister_all_services()
                print(json.dumps({"done": command["do"], "services": len(infos)}), flush=True)
        finally:
            await azc.async_close()
            await relay.stop()
            await store.close()

    with tempfile.TemporaryDirectory() as home:
        asyncio.run(run(Path(home)))


if __name__ == "__main__":
    if sys.argv[1] == "answer":
        answer(sys.argv[2])
    sys.exit(0)


# -- driving it from the test --------------------------------------------------------------------------------------


class Answering(DeviceProgram):
    """The device's program in ``node``'s namespace (see :class:`DeviceProgram`)."""

    def __init__(self, lab: Lab, node: LanNode) -> None:
        super().__init__(lab, node, Path(__file__), "answer")


def fakes(node: LanNode) -> set[str]:
    return {url for url in urls(node) if url.startswith(f"ws://{FAKE}")}


def live_fakes(node: LanNode) -> int:
    return sum(1 for peer in node.peers() if peer["url"].startswith(f"ws://{FAKE}") and peer["state"] == "live")


def test_made_up_nodes_that_answer_but_bring_nothing_do_not_keep_a_neighbour_out(lab: Lab) -> None:
    lan = lab.lan()
    node, neighbour = lab.node(lan, "node"), lab.node(lan, "neighbour")
    device_node = lab.node(lan, "device", init=False)
    neighbour.json("channel", "create", "yard", "--name", "Block 7 yard")
    config = node.home / "config.toml"
    text = config.read_text()
    assert "\nquiet_for = 300\n" in text  # what init wrote
    config.write_text(text.replace("\nquiet_for = 300\n", f"\nquiet_for = {QUIET_FOR}\n"))
    node.start("--lan")
    with Answering(lab, device_node) as device:
        assert device.ask("announce", COMMAND_TIMEOUT, count=MAX_ANNOUNCED)["services"] == MAX_ANNOUNCED
        wait_for(
            lambda: len(fakes(node)) == MAX_ANNOUNCED and live_fakes(node) == MAX_ANNOUNCED,
            DISCOVERY_TIMEOUT,
            "the node to keep and link every made-up node",
            interval=1.0,
        )
        # The neighbour comes later, when there is no room left; every made-up node's link works.
        neighbour.start("--lan")
        # Room is made once the made-up nodes have brought nothing for QUIET_FOR seconds. (The neighbour may have
        # kept the node among what it heard first and link to it before that: only the node's own table counts.)
        wait_for(
            lambda: neighbour.url in urls(node),
            QUIET_FOR + 2 * FAILING_FOR + DISCOVERY_TIMEOUT,
            "the neighbour on the node's peers",
            interval=1.0,
        )
        assert len(urls(node)) <= MAX_ANNOUNCED
        post = neighbour.post("yard", "Water is off in blocks 3 to 9")
        wait_for(lambda: node.has(post), DISCOVERY_TIMEOUT, "the neighbour's post on the node")
        node.json("channel", "create", "block4", "--name", "Block 4")
        back = node.post("block4", "Block 4 has water: bring buckets")
        wait_for(lambda: neighbour.has(back), DISCOVERY_TIMEOUT, "the node's post on the neighbour")
        assert neighbour.url in urls(node), "the neighbour, who brought news, was not pushed out"
        assert device.ask("stop", COMMAND_TIMEOUT)["done"] == "stop"
    assert "took its place" in node.output() + neighbour.output()
    assert node.running
    assert neighbour.running
