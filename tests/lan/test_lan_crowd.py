"""A hostile device on the Wi-Fi announces as many made-up nodes as a node keeps (64), each a service with a random
instance id at an address of its own, and answers every question for them, so none is ever forgotten. Two ways:

* **Nothing answers** at those addresses. A node that kept announced nodes first come first served, waiting for
  one to go, never linked with a real neighbour that came later; now a newcomer takes the place of a node none of
  whose links has worked for a minute, and a node whose link works keeps its place.
* **They answer**: the device owns the 64 addresses and runs one relay on all of them, whose store is empty and
  stays empty, so every link finishes its reconciliation and none ever fails. Now a node that brings nothing new
  for ``[lan] quiet_for`` makes room, and the neighbour, whose posts are new, keeps its place. The node runs with
  ``quiet_for = 30`` instead of its 300 s (the same rule; tests/mesh/test_room.py runs the default with a clock of
  its own).

The device is this very file run as a program (``python test_lan_crowd.py crowd|answer ADDRESS``): on ``announce``
it registers the services (Zeroconf then answers every question for them, as a node does for its own) and, when
answering, starts the relay; on ``stop`` it withdraws the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lan_netns import PORT, DeviceProgram, Lab, LanNode, wait_for
from lan_netns import peer_urls as urls

from samizdat.mesh.announcements import FAILING_FOR, MAX_ANNOUNCED

pytestmark = pytest.mark.slow

SERVICE_TYPE = "_samizdat._tcp.local."
DISCOVERY_TIMEOUT = 90.0
HOLD_OWN = 120.0  # [lan] hold_own as init writes it: the longest a node holds its own new post
COMMAND_TIMEOUT = 60.0  # the device's answer to one command
FAKE = "10.77.200."  # where the made-up nodes are said to be: on the LAN (the device's own when they answer)
QUIET_FOR = 30  # the node's [lan] quiet_for when the made-up nodes answer


# -- the device (runs as a program in its own namespace) -----------------------------------------------------------


def device(address: str, answering: bool) -> None:
    """Take JSON commands on stdin, answer each with a JSON line: ``announce`` (register ``count`` made-up
    services, each at its own address under :data:`FAKE`; when ``answering``, own those addresses and serve an
    empty relay on all of them first), ``stop`` (withdraw the services)."""
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    if answering:
        shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], check=True, capture_output=True, text=True).stdout
        mine = next(line.split() for line in shown.splitlines() if f" {address}/" in line)
        for n in range(MAX_ANNOUNCED):
            subprocess.run(["ip", "addr", "add", f"{FAKE}{n + 1}/{mine[3].split('/')[1]}", "dev", mine[1]], check=True)

    async def run() -> None:
        azc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
        loop = asyncio.get_running_loop()
        infos: list[AsyncServiceInfo] = []
        try:
            async with empty_relay() if answering else contextlib.nullcontext() as relay:
                while line := await loop.run_in_executor(None, sys.stdin.readline):
                    command = json.loads(line)
                    if command["do"] == "announce":
                        if relay is not None:
                            await relay.start("0.0.0.0", PORT)
                        for n in range(command["count"]):
                            # Answering, ids after every hex id: the node is the one that links, to each of them.
                            instance = ("z" if answering else "") + secrets.token_hex(8)
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
                        waits = [await azc.async_register_service(i, cooperating_responders=True) for i in infos]
                        await asyncio.gather(*waits)
                    elif command["do"] == "stop":
                        await azc.async_unregister_all_services()
                    print(json.dumps({"done": command["do"], "services": len(infos)}), flush=True)
        finally:
            await azc.async_close()

    asyncio.run(run())


@contextlib.asynccontextmanager
async def empty_relay() -> AsyncIterator[object]:
    """A relay that stores nothing (every event is dated too far ahead for it: it would otherwise pass the
    neighbour's posts on, and bring something after all); the node links to every made-up node from its one
    address, so it takes them all, and their live subscriptions too. Started by the caller; stopped here."""
    from samizdat.relay.limits import RelayLimits
    from samizdat.relay.negentropy import NegentropyService
    from samizdat.relay.server import RelayServer
    from samizdat.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory() as home:
        store = await SqliteStore.open(Path(home) / "events.sqlite")
        limits = RelayLimits(
            max_connections_per_ip=1000, max_search_subscriptions_per_ip=1000, created_at_future_seconds=-(10**9)
        )
        relay = RelayServer(store, limits=limits, negentropy=NegentropyService())
        try:
            yield relay
        finally:
            await relay.stop()
            await store.close()


if __name__ == "__main__":
    if sys.argv[1] in ("crowd", "answer"):
        device(sys.argv[2], answering=sys.argv[1] == "answer")
    sys.exit(0)


# -- driving it from the test --------------------------------------------------------------------------------------


class Device(DeviceProgram):
    """The device's program in ``node``'s namespace (see :class:`DeviceProgram`); ``role``: crowd or answer."""

    def __init__(self, lab: Lab, node: LanNode, role: str) -> None:
        super().__init__(lab, node, Path(__file__), role)


def fakes(node: LanNode) -> set[str]:
    return {url for url in urls(node) if url.startswith(f"ws://{FAKE}")}


def live_fakes(node: LanNode) -> int:
    return sum(1 for peer in node.peers() if peer["url"].startswith(f"ws://{FAKE}") and peer["state"] == "live")


def posts_cross_both_ways(node: LanNode, neighbour: LanNode, post: str) -> None:
    """The neighbour's ``post`` reaches the node, and one of the node's the neighbour; the neighbour keeps its
    place in the node's table meanwhile."""
    wait_for(lambda: node.has(post), DISCOVERY_TIMEOUT, "the neighbour's post on the node")
    node.json("channel", "create", "block4", "--name", "Block 4")
    back = node.post("block4", "Block 4 has water: bring buckets")
    # The node hands its own new post to one neighbour first ([lan] hold_own, relay/embargo.py): when a made-up node
    # is picked and drops it, the node serves and pushes it itself once the hold ends (120 s at most).
    wait_for(lambda: neighbour.has(back), DISCOVERY_TIMEOUT + HOLD_OWN, "the node's post on the neighbour")
    assert neighbour.url in urls(node), "the neighbour was pushed out"
    assert len(urls(node)) <= MAX_ANNOUNCED


def test_a_device_announcing_as_many_made_up_nodes_as_are_kept_does_not_keep_a_neighbour_out(lab: Lab) -> None:
    lan = lab.lan()
    node, neighbour = lab.node(lan, "node"), lab.node(lan, "neighbour")
    device_node = lab.node(lan, "device", init=False)
    neighbour.json("channel", "create", "yard", "--name", "Block 7 yard")
    node.start("--lan")
    with Device(lab, device_node, "crowd") as device:
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
        posts_cross_both_ways(node, neighbour, post)
        assert device.ask("stop", COMMAND_TIMEOUT)["done"] == "stop"
    assert "took its place" in node.output() + neighbour.output()
    assert node.running
    assert neighbour.running


def test_made_up_nodes_that_answer_but_bring_nothing_do_not_keep_a_neighbour_out(lab: Lab) -> None:
    lan = lab.lan()
    node, neighbour = lab.node(lan, "node"), lab.node(lan, "neighbour")
    device_node = lab.node(lan, "device", init=False)
    neighbour.json("channel", "create", "yard", "--name", "Block 7 yard")
    for either in (node, neighbour):  # whichever of the two links to the other has the made-up nodes to wait out
        config = either.home / "config.toml"
        text = config.read_text()
        assert "\nquiet_for = 300\n" in text  # what init wrote
        text = text.replace("\nquiet_for = 300\n", f"\nquiet_for = {QUIET_FOR}\n")
        # Room for the neighbour is what is tested, not who serves the node's own post first: no hold of it (a
        # made-up node picked to serve it first would keep it from the neighbour for up to two minutes).
        config.write_text(text.replace("\nhold_own = 120\n", "\nhold_own = 0\n"))
    node.start("--lan")
    with Device(lab, device_node, "answer") as device:
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
        posts_cross_both_ways(node, neighbour, neighbour.post("yard", "Water is off in blocks 3 to 9"))
        assert device.ask("stop", COMMAND_TIMEOUT)["done"] == "stop"
    assert "took its place" in node.output() + neighbour.output()
    assert node.running
    assert neighbour.running
