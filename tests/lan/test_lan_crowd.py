"""A hostile device on the Wi-Fi announces as many made-up nodes as a node keeps (64), each a service with a random
instance id at an address of its own where nothing answers, and answers every question for them, so none is ever
forgotten. A node that kept announced nodes first come first served, waiting for one to go, never linked with a
real neighbour that came later; now a newcomer takes the place of a node none of whose links has worked for a
minute, and a node whose link works keeps its place.

The device is this very file run as a program (``python test_lan_crowd.py crowd ADDRESS``): on ``announce`` it
registers ``count`` services (Zeroconf then answers every question for them, as a node does for its own); on
``stop`` it withdraws them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import sys
from pathlib import Path

import pytest
from lan_netns import PORT, DeviceProgram, Lab, LanNode, wait_for
from lan_netns import peer_urls as urls

from samizdat.mesh.announcements import FAILING_FOR, MAX_ANNOUNCED

pytestmark = pytest.mark.slow

SERVICE_TYPE = "_samizdat._tcp.local."
DISCOVERY_TIMEOUT = 90.0
COMMAND_TIMEOUT = 60.0  # the device's answer to one command
FAKE = "10.77.200."  # where the made-up nodes are said to be: on the LAN, and nothing there


# -- the device (runs as a program in its own namespace) -----------------------------------------------------------


def crowd(address: str) -> None:
    """Take JSON commands on stdin, answer each with a JSON line: ``announce`` (register ``count`` made-up
    services, each at its own address under :data:`FAKE`), ``stop`` (withdraw them)."""
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    async def run() -> None:
        azc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
        loop = asyncio.get_running_loop()
        infos: list[AsyncServiceInfo] = []
        try:
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                command = json.loads(line)
                if command["do"] == "announce":
                    for n in range(command["count"]):
                        instance = secrets.token_hex(8)
                        infos.append(
                            AsyncServiceInfo(
                                SERVICE_TYPE,
                                f"samizdat-{instance[:12]}.{SERVICE_TYPE}",
                                addresses=[socket.inet_aton(f"{FAKE}{n + 1}")],
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

    asyncio.run(run())


if __name__ == "__main__":
    if sys.argv[1] == "crowd":
        crowd(sys.argv[2])
    sys.exit(0)


# -- driving it from the test --------------------------------------------------------------------------------------


class Crowd(DeviceProgram):
    """The device's program in ``node``'s namespace (see :class:`DeviceProgram`)."""

    def __init__(self, lab: Lab, node: LanNode) -> None:
        super().__init__(lab, node, Path(__file__), "crowd")


def fakes(node: LanNode) -> set[str]:
    return {url for url in urls(node) if url.startswith(f"ws://{FAKE}")}


def test_a_device_announcing_as_many_made_up_nodes_as_are_kept_does_not_keep_a_neighbour_out(lab: Lab) -> None:
    lan = lab.lan()
    node, neighbour = lab.node(lan, "node"), lab.node(lan, "neighbour")
    device_node = lab.node(lan, "device", init=False)
    neighbour.json("channel", "create", "yard", "--name", "Block 7 yard")
    node.start("--lan")
    with Crowd(lab, device_node) as device:
        assert device.ask("announce", COMMAND_TIMEOUT, count=MAX_ANNOUNCED)["services"] == MAX_ANNOUNCED
        wait_for(
            lambda: len(fakes(node)) == MAX_ANNOUNCED,
            DISCOVERY_TIMEOUT,
            "the node to keep every made-up node",
            interval=1.0,
        )
        # The neighbour comes later, when there is no room left; the device goes on answering for its nodes.
        neighbour.start("--lan")
        post = neighbour.post("yard", "Water is off in blocks 3 to 9")
        # Room is made once the made-up nodes have failed for FAILING_FOR seconds; the node and the neighbour
        # each wait for that in their own tables, and one link between them is enough.
        wait_for(lambda: node.has(post), 3 * FAILING_FOR + DISCOVERY_TIMEOUT, "the neighbour's post on the node")
        wait_for(lambda: neighbour.url in urls(node), DISCOVERY_TIMEOUT, "the neighbour on the node's peers")
        assert len(fakes(node)) < MAX_ANNOUNCED, "a made-up node made room"
        assert len(urls(node)) <= MAX_ANNOUNCED
        node.json("channel", "create", "block4", "--name", "Block 4")
        back = node.post("block4", "Block 4 has water: bring buckets")
        wait_for(lambda: neighbour.has(back), DISCOVERY_TIMEOUT, "the node's post on the neighbour")
        assert neighbour.url in urls(node), "the neighbour, whose link works, was not pushed out"
        assert device.ask("stop", COMMAND_TIMEOUT)["done"] == "stop"
    assert "took its place" in node.output() + neighbour.output()
    assert node.running
    assert neighbour.running
