"""A hostile device on the Wi-Fi announces what it likes over mDNS: services at 127.0.0.1, at the node's own
address, at a cloud metadata address or behind a router; names with right-to-left overrides and broken UTF-8;
hundreds of services; services that flap or fall silent without saying goodbye. A real ``samizdat serve --lan``
node, with an honest neighbour, must never be made to connect to itself, keep at most 64 announced peers, show
names as unverified, forget what stops announcing, and keep syncing with its neighbour throughout.

The hostile device is this very file run as a program (``python test_lan_hostile.py announce ADDRESS``): it
crafts mDNS responses with zeroconf's record classes and sends them unasked, as an attacker would, taking
commands as JSON lines on stdin. Canary TCP listeners (``... canary HOST PORT FILE``) count the connections a
node makes where no announcement may send it.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lan_netns import (
    Lab,
    LanError,
    LanNode,
    neighbours_and_device,
    peer_urls,
    stop_group,
    wait_for,
)

pytestmark = pytest.mark.slow

SERVICE_TYPE = "_samizdat._tcp.local."
MAX_ANNOUNCED = 64  # samizdat.mesh.announcements.MAX_ANNOUNCED (not imported: this file also runs standalone)
MAX_PER_ADDRESS = 4  # samizdat.mesh.announcements.MAX_PER_ADDRESS: services kept from one address
HUGE_TTL = 10**9  # about 31 years: nothing may rely on an announcer's TTL to forget it
DISCOVERY_TIMEOUT = 60.0
ARRIVAL_TIMEOUT = 30.0
FORGET_TIMEOUT = 150.0  # a silent service goes after 60 s unheard (FORGET_AFTER); slack for a busy machine
COMMAND_TIMEOUT = 30.0  # the announcer's answer to one command


# -- the hostile device and the canaries (run as programs in a namespace) ------------------------------------------


def _txt(items: list[bytes]) -> bytes:
    return b"".join(bytes([len(item)]) + item for item in items)


def _records(service: dict[str, Any], ttl: int) -> list[Any]:
    from zeroconf._dns import DNSAddress, DNSPointer, DNSService, DNSText
    from zeroconf.const import _CLASS_IN, _CLASS_UNIQUE, _TYPE_A, _TYPE_PTR, _TYPE_SRV, _TYPE_TXT

    unique = _CLASS_IN | _CLASS_UNIQUE
    full = f"{service['name']}.{SERVICE_TYPE}"
    server = f"{service['name']}.local."
    txt = _txt([bytes.fromhex(item) for item in service["txt"]])
    return [
        DNSPointer(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN, ttl, full),
        DNSService(full, _TYPE_SRV, unique, ttl, 0, 0, service["port"], server),
        DNSText(full, _TYPE_TXT, unique, ttl, txt),
        DNSAddress(server, _TYPE_A, unique, ttl, socket.inet_aton(service["address"])),
    ]


def _send(zc: Any, services: list[dict[str, Any]], ttl: int) -> None:
    from zeroconf._protocol.outgoing import DNSOutgoing
    from zeroconf.const import _FLAGS_AA, _FLAGS_QR_RESPONSE

    out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
    for service in services:
        for record in _records(service, ttl):
            out.add_answer_at_time(record, 0)
    zc.send(out)


def announcer(address: str) -> None:
    """Send crafted announcements from ``address``, re-sending the current set every 2 s (so it stays heard),
    until stdin closes. Commands: announce (replace the set), add, goodbye (TTL 0 for the set, then none), flap
    (announce and withdraw a set as fast as it goes for some seconds, then goodbye)."""
    from zeroconf import IPVersion, Zeroconf

    zc = Zeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    current: list[dict[str, Any]] = []
    next_send = 0.0
    try:
        while True:
            wait = max(0.0, next_send - time.monotonic()) if current else 1.0
            if select.select([sys.stdin], [], [], wait)[0]:
                line = sys.stdin.readline()
                if not line:
                    return
                command = json.loads(line)
                done: dict[str, Any] = {"done": command["do"]}
                if command["do"] == "announce":
                    current = command["services"]
                elif command["do"] == "add":
                    current = [*current, *command["services"]]
                elif command["do"] == "goodbye":
                    _send(zc, current, 0)
                    current = []
                elif command["do"] == "flap":
                    deadline, cycles = time.monotonic() + command["seconds"], 0
                    while time.monotonic() < deadline:
                        _send(zc, command["services"], HUGE_TTL)
                        _send(zc, command["services"], 0)
                        cycles += 1
                        time.sleep(0.005)  # the sender's own queue stays small; the receiver still sees a storm
                    done["cycles"] = cycles
                next_send = 0.0
                print(json.dumps(done), flush=True)
            if current and time.monotonic() >= next_send:
                _send(zc, current, HUGE_TTL)
                next_send = time.monotonic() + 2.0
    finally:
        zc.close()


def canary(host: str, port: int, path: str) -> None:
    """Listen on host:port and write one line per connection accepted to ``path``."""
    listener = socket.create_server((host, port), reuse_port=False)
    with open(path, "a") as log:
        log.write("listening\n")
        log.flush()
        while True:
            connection, peer = listener.accept()
            log.write(f"connection from {peer[0]}\n")
            log.flush()
            connection.close()


if __name__ == "__main__":
    if sys.argv[1] == "announce":
        announcer(sys.argv[2])
    elif sys.argv[1] == "canary":
        canary(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    sys.exit(0)


# -- driving them from the test ------------------------------------------------------------------------------------


class Announcer:
    """The hostile device's announcer process in ``node``'s namespace; stopped with the lab."""

    def __init__(self, lab: Lab, node: LanNode) -> None:
        self.node = node
        self.process = lab.device_program(node, Path(__file__), "announce")

    def send(self, do: str, services: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"do": do, "services": services or [], **extra}).encode() + b"\n")
        self.process.stdin.flush()
        timeout = COMMAND_TIMEOUT + float(extra.get("seconds", 0))
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            raise LanError(f"the announcer did not answer {do!r} within {timeout:.0f} s")
        answer: dict[str, Any] = json.loads(self.process.stdout.readline() or b"{}")
        assert answer.get("done") == do, answer
        return answer

    def kill(self) -> None:
        """Gone without a goodbye, as a device switched off or carried away."""
        stop_group(self.process, timeout=5.0)

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def start_canary(lab: Lab, node: LanNode, host: str, port: int) -> Path:
    path = lab.root / f"canary-{node.name}-{port}.log"
    argv = [sys.executable, str(Path(__file__).resolve()), "canary", host, str(port), str(path)]
    with (lab.root / "canaries.log").open("ab") as log:
        lab.spawn(node.ns, argv, log)
    wait_for(lambda: path.exists() and "listening" in path.read_text(), 30, f"the canary on {host}:{port}")
    return path


def connections(canary_log: Path, *sources: str) -> int:
    """Connections the canary accepted (from one of ``sources``, if given)."""
    lines = [line.split()[-1] for line in canary_log.read_text().splitlines() if line.startswith("connection")]
    return sum(1 for source in lines if not sources or source in sources)


def service(label: str, address: str, port: int, **txt: bytes) -> dict[str, Any]:
    """A crafted service; its instance id sorts after any real one, so a node would connect to it (not wait)."""
    items = {"id": b"zzzz" + label.encode().hex().encode(), "v": b"1", "hub": b"0", **txt}
    return {"name": label, "address": address, "port": port,
            "txt": [(key.encode() + b"=" + value).hex() for key, value in items.items()]}  # fmt: skip


urls = peer_urls


def status_from(lab: Lab, outsider: LanNode, node: LanNode) -> dict[str, Any]:
    """What anyone on the Wi-Fi reads from the node's web app: its public status document."""
    code = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())"
    result = lab.run(outsider.ns, [sys.executable, "-c", code, f"http://{node.addr}:{node.port}/api/status"])
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


Nodes = tuple[LanNode, LanNode, LanNode]


@pytest.fixture
def nodes(lab: Lab) -> Nodes:
    """A node and its honest neighbour that found each other, and a device on their Wi-Fi (not a node)."""
    return neighbours_and_device(lab, DISCOVERY_TIMEOUT)


@pytest.fixture
def announcer(lab: Lab, nodes: Nodes) -> Iterator[Announcer]:
    with Announcer(lab, nodes[2]) as running:
        yield running


def arrives(neighbour: LanNode, node: LanNode, text: str) -> None:
    post = neighbour.post("yard", text)
    wait_for(lambda: node.has(post), ARRIVAL_TIMEOUT, f"{text!r} on the node")


# -- the tests -----------------------------------------------------------------------------------------------------


def test_announcements_never_point_a_node_at_itself_names_are_unverified_and_peers_are_bounded(
    lab: Lab, nodes: Nodes, announcer: Announcer
) -> None:
    node, neighbour, device = nodes
    loopback = start_canary(lab, node, "127.0.0.1", 2222)
    itself = start_canary(lab, node, "0.0.0.0", 2223)
    control = start_canary(lab, device, "0.0.0.0", 2224)

    # Targets no announcement may send the node to, then (in a later packet) one it may: the device itself.
    announcer.send(
        "announce",
        [
            service("loopback", "127.0.0.1", 2222),
            service("itself", node.addr, 2223),
            service("metadata", "169.254.169.254", 80),
            service("behind-a-router", "192.0.2.1", 4848),
            service("bad-id", device.addr, 2225, id="идентификатор".encode()),
        ],
    )
    tricky_name = "\u202eduh 7 kcolB".encode() + b"\xff" + b"x" * 200  # RTL override, broken UTF-8, too long
    announcer.send("add", [service("device", device.addr, 2224, name=tricky_name, hub=b"1")])
    claimed = f"ws://{device.addr}:2224"
    wait_for(lambda: claimed in urls(node) and connections(control) > 0, DISCOVERY_TIMEOUT, "the device's service")
    assert urls(node) == {neighbour.url, claimed}
    # (The neighbour may connect to the node's port 2223: for it, the node is just another host on the LAN.)
    assert connections(loopback) == 0, "an announcement made the node connect to its own loopback"
    assert connections(itself, node.addr, "127.0.0.1") == 0, "an announcement made the node connect to itself"

    # The name is the device's claim: cut, without its tricks, and shown as unverified on every face.
    (shown,) = [p for p in node.peers() if p["url"] == claimed]
    assert shown["name"].startswith("duh 7 kcolB")
    assert len(shown["name"]) <= 60
    assert "\u202e" not in shown["name"]
    assert shown["name_verified"] is False
    assert "unverified" in next(line for line in node.ok("peers").out.splitlines() if claimed in line)
    public = status_from(lab, device, node)
    assert {p["url"]: p["name_verified"] for p in public["peers"]} == {neighbour.url: False, claimed: False}

    # Hundreds of services from the device's address, re-announced every 2 s: the node keeps a few of them (one
    # address is one device, not many neighbours; the bound on all is test_lan_crowd's) and goes on syncing with
    # its neighbour.
    flood = [service(f"flood{i}", device.addr, 20000 + i) for i in range(500)]
    announcer.send("add", flood)
    wait_for(lambda: len(node.peers()) == 1 + MAX_PER_ADDRESS, DISCOVERY_TIMEOUT, "the device's services kept")
    for _ in range(3):
        kept = urls(node)
        assert len(kept) == 1 + MAX_PER_ADDRESS <= MAX_ANNOUNCED
        assert neighbour.url in kept, "the honest neighbour, there first, stays"
    arrives(neighbour, node, "Water is off in blocks 3 to 9")

    # Goodbye: everything only the device announced is forgotten.
    announcer.send("goodbye")
    wait_for(lambda: urls(node) == {neighbour.url}, ARRIVAL_TIMEOUT, "the device's services forgotten")
    assert connections(loopback) == 0
    assert connections(itself, node.addr, "127.0.0.1") == 0
    assert node.running
    assert neighbour.running


def test_flapping_costs_little_and_a_silent_device_is_forgotten(nodes: Nodes, announcer: Announcer) -> None:
    node, neighbour, device = nodes
    # Twenty services announced and withdrawn as fast as the device can for 15 s: the node keeps answering,
    # keeps syncing, and is left with nothing of them.
    flapping = [service(f"flap{i}", device.addr, 21000 + i) for i in range(20)]
    cycles = announcer.send("flap", flapping, seconds=15)["cycles"]
    assert cycles > 100
    arrives(neighbour, node, "Police vans at the market")
    wait_for(lambda: urls(node) == {neighbour.url}, ARRIVAL_TIMEOUT, "the flapping services forgotten")

    # Services with a TTL of decades, then the device is switched off without a goodbye.
    announcer.send("announce", [service(f"silent{i}", device.addr, 22000 + i) for i in range(3)])
    silent = {f"ws://{device.addr}:{22000 + i}" for i in range(3)}
    wait_for(lambda: silent <= urls(node), DISCOVERY_TIMEOUT, "the silent device's services")
    announcer.kill()
    wait_for(lambda: urls(node) == {neighbour.url}, FORGET_TIMEOUT, "the silent device forgotten")
    arrives(neighbour, node, "The neighbour is still heard")
