"""Red team, round 10: a bot on a hub's Wi-Fi against ``samizdat serve --workers 2`` (docs/scaling.md, "Red team,
round 10: workers").

Real ``samizdat serve --workers 2`` processes on this machine, listening on every interface; the "device" is this
machine's own non-loopback address (loopback is exempt from the per-address limits), its requests raw HTTP or
WebSocket connections that the kernel spreads over the two workers (``SO_REUSEPORT``).

- An address's uploads in flight (relay/bodies.py) and its Blossom budgets (web/blossom.py) were each worker's
  own: spread over two workers, a device held four 2 MB bodies instead of two, and got 120 upload attempts and
  twice the photo reads before its first 429. They are the node's now (relay/shared.py).
- A worker that is alive but wedged (here: stopped with SIGSTOP) kept its listening socket: half of the new
  connections were never answered, for as long as it stayed wedged. The parent now kills a worker whose heartbeat
  stopped (workers.py, WEDGED_SECONDS) and starts it again.
- The workers' shared token buckets were one row of the keyed hash: an attacker's address that fell in an honest
  address's bucket spent its budget (a few hundred addresses hit one honest address in 200). Now each address has
  a bucket in each of two rows and the fuller counts.
- Photo previews (web/media.py: 30 a minute per address, one at a time on the node) were counted by each worker:
  a key that may post got 30 a minute per worker. Now one budget for the node (and one blur at a time).
- Eleven exits of serving workers in a minute (a client that found an input that kills one, here ``kill -9``)
  stopped the whole node. Now the workers are started again, after a pause once they exit that often, and what
  was acknowledged before is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from PIL import Image
from relay_helpers import make_event
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from samizdat.core import nip19
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.relay import shared
from samizdat.relay.bodies import MAX_BODIES_PER_ADDRESS
from samizdat.testing import passphrase_env
from samizdat.web.blossom import GET_BURST, GET_RATE, IP_BURST, IP_RATE
from samizdat.web.media import PER_MINUTE, PREVIEW_PATH, frame, unframe
from samizdat.workers import WEDGED_SECONDS

START_TIMEOUT = 60.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("SAMIZDAT_HOME", "SAMIZDAT_PROXY", "SAMIZDAT_DEBUG"):
        env.pop(name, None)
    env.update(passphrase_env())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _own_address() -> str:
    """This machine's non-loopback IPv4 address (the test is skipped without one; CI fails instead)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.200", 9))  # no packet is sent: the kernel picks the source address
        address = str(probe.getsockname()[0])
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
        address = str(info[4][0])
        if not address.startswith("127."):
            return address
    if os.environ.get("CI") == "true":
        pytest.fail("this machine has no address but loopback, which the per-address limits exempt")
    pytest.skip("this machine has no address but loopback, which the per-address limits exempt")


class Node:
    """``samizdat serve --workers 2`` on every interface, ready; :meth:`stop` ends it and its workers."""

    def __init__(self, home: Path, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.log_path = log
        self._log = log.open("wb")
        command = [sys.executable, "-m", "samizdat", "--home", str(home), "serve", "--no-mdns", "--host", "0.0.0.0",
                   "--port", str(self.port), "--workers", "2"]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env=_env())  # fmt: skip

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"samizdat serve exited with {self.process.returncode}: {self.output()}")
            if "Ctrl-C stops" in self.output() and await worker_pid(self.port) is not None:
                return
            await asyncio.sleep(0.1)
        pytest.fail(f"samizdat serve did not start within {START_TIMEOUT:.0f} s: {self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """``serve()``: a fresh node served by two workers; stopped in teardown, whatever the test did."""
    started: list[Node] = []

    def run(*setup: tuple[str, ...]) -> Node:
        home = tmp_path / f"node{len(started)}"
        for args in (("init",), *setup):  # then the commands that set the node up, before it serves
            subprocess.run([sys.executable, "-m", "samizdat", "--home", str(home), *args], env=_env(), check=True,
                           capture_output=True, timeout=90)  # fmt: skip
        node = Node(home, tmp_path / f"serve{len(started)}.log")
        started.append(node)
        return node

    try:
        yield run
    finally:
        for node in started:
            node.stop()


async def _request(host: str, port: int, head: bytes, timeout: float = 5.0) -> str:
    """Send ``head`` on a new connection; the status line of the answer ('' if none came in ``timeout``)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(200), timeout)
        return answer.split(b"\r\n", 1)[0].decode(errors="replace")
    except (TimeoutError, OSError):
        return ""
    finally:
        writer.close()


async def worker_pid(port: int) -> int | None:
    """The pid of the worker that answered a NIP-11 request from this machine (None if none answered)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 3)
    except (TimeoutError, OSError):
        return None
    try:
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/nostr+json\r\nConnection: close\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), 3)
        return int(orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["samizdat_worker"]["pid"])
    except (TimeoutError, OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    finally:
        writer.close()


async def test_an_address_keeps_two_uploads_in_flight_over_both_workers(serve: Callable[..., Node]) -> None:
    """Headers that promise a 2 MB photo, then a trickle: before, each worker let an address hold two, so a device
    spread over two workers held four (and N workers' totals of bodies, 64 MB each)."""
    address = _own_address()
    node = serve()
    await node.wait_ready()
    promise = b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 1000
    opened = []
    try:
        for _ in range(12):  # the kernel spreads them over both workers (all twelve on one: 1 in 2,048)
            opened.append(await asyncio.open_connection(address, node.port))
            opened[-1][1].write(promise)
            await opened[-1][1].drain()
        answers = []
        for reader, _writer in opened:
            try:
                answers.append((await asyncio.wait_for(reader.read(200), 3)).split(b"\r\n", 1)[0].decode())
            except TimeoutError:
                answers.append("held")  # its body is awaited: 2 MB reserved for it
        assert answers.count("held") == MAX_BODIES_PER_ADDRESS, answers
        assert "HTTP/1.1 429 Too Many Requests" in answers, answers
    finally:
        for _reader, writer in opened:
            writer.close()


async def test_an_address_has_one_photo_budget_for_both_workers(serve: Callable[..., Node]) -> None:
    """Upload attempts (refused for their authorization, after the address's bucket) and photo reads: one bucket
    each for the node, not one per worker."""
    address = _own_address()
    node = serve()
    await node.wait_ready()
    upload = b"PUT /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Nostr e30=\r\nContent-Length: 3\r\n\r\nabc"
    began = time.monotonic()
    uploads = [await _request(address, node.port, upload) for _ in range(2 * IP_BURST + 20)]
    elapsed = time.monotonic() - began
    checked = uploads.count("HTTP/1.1 401 Unauthorized")  # the address had a token: its authorization was read
    assert checked <= IP_BURST + IP_RATE * elapsed + 1, (checked, elapsed)
    assert uploads.count("HTTP/1.1 429 Too Many Requests") > 0

    read = f"GET /{'0' * 64} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    began = time.monotonic()
    reads = [await _request(address, node.port, read) for _ in range(2 * GET_BURST + 40)]
    elapsed = time.monotonic() - began
    answered = reads.count("HTTP/1.1 404 Not Found")  # the address had a token: the store was asked
    assert answered <= GET_BURST + GET_RATE * elapsed + 1, (answered, elapsed)
    assert reads.count("HTTP/1.1 429 Too Many Requests") > 0


async def test_a_wedged_worker_is_replaced_and_every_connection_answered_again(serve: Callable[..., Node]) -> None:
    """A worker stopped in its tracks (SIGSTOP: as an event loop stuck in a loop) still gets its share of new
    connections from the kernel. Before, nobody noticed: about half of the connections hung for good."""
    node = serve()
    await node.wait_ready()
    victim = await worker_pid(node.port)
    assert victim is not None
    os.kill(victim, signal.SIGSTOP)
    try:
        probe = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        deadline = time.monotonic() + 4 * WEDGED_SECONDS + 30
        answered = 0
        while time.monotonic() < deadline:
            answers = await asyncio.gather(*[_request("127.0.0.1", node.port, probe, 2.0) for _ in range(16)])
            answered = sum(1 for a in answers if a.startswith("HTTP/1.1"))
            if answered == len(answers):
                break
            await asyncio.sleep(1.0)
        assert answered == 16, f"connections still unanswered: {node.output()[-2000:]}"
        assert "has not answered" in node.output()
        assert node.process.poll() is None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGCONT)


async def test_workers_killed_again_and_again_do_not_stop_the_node(serve: Callable[..., Node]) -> None:
    """Eleven exits of serving workers in a minute (a client with an input that kills one) stopped the node for
    good. Now they are started again, and an event acknowledged before the storm is still served after it."""
    node = serve()
    await node.wait_ready()
    url = f"ws://127.0.0.1:{node.port}"
    event = make_event(SecretKey.generate(), 1, "acknowledged before the storm")
    async with connect(url, open_timeout=10) as ws:
        await ws.send(orjson.dumps(["EVENT", event.to_dict()]).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))[:3] == ["OK", event.id, True]

    killed: set[int] = set()
    deadline = time.monotonic() + 120
    while len(killed) < 14 and time.monotonic() < deadline and node.process.poll() is None:
        pid = await worker_pid(node.port)  # a worker that is serving
        if pid is None or pid in killed:
            await asyncio.sleep(0.05)
            continue
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    assert node.process.poll() is None, f"the node stopped: {node.output()[-2000:]}"
    assert len(killed) == 14

    found: list[object] = []
    deadline = time.monotonic() + 60  # the last two wait out the pause
    while not found and time.monotonic() < deadline:
        with contextlib.suppress(OSError, TimeoutError, WebSocketException):
            async with connect(url, open_timeout=5) as ws:
                await ws.send(orjson.dumps(["REQ", "s", {"ids": [event.id]}]).decode())
                async with asyncio.timeout(10):
                    while (message := orjson.loads(await ws.recv()))[0] != "EOSE":
                        found.append(message[2]["content"])
        if not found:
            await asyncio.sleep(0.5)
    assert found == ["acknowledged before the storm"]
    assert node.process.poll() is None


def test_an_address_sharing_one_bucket_with_another_cannot_spend_its_budget(tmp_path: Path) -> None:
    """Two workers' views of one shared file; an attacker's address that the keyed hash puts in the honest
    address's bucket of one row (not of the other) spends all it can, on both workers."""
    shared.create(tmp_path / "limits", 2)
    key = bytes(range(32))
    one, other = (shared.SharedLimits(tmp_path / "limits", i, 2, key) for i in range(2))
    try:
        honest = "10.0.0.1"
        row0 = one._slots(honest)[0]
        attacker = next(
            ip
            for n in range(1 << 22)
            if (ip := f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}") != honest and one._slots(ip)[0] == row0
        )
        now = time.monotonic()
        spent = 0
        for view in (one, other) * 200:  # events: burst 100, then 1 a second (none comes in this test's time)
            spent += view.take(attacker, 1e-6, 100, now)
        assert spent == 100
        assert one.take(honest, 1e-6, 100, now)
        assert other.take(honest, 1e-6, 100, now)
        assert other.spend(attacker, shared.STORE_SECONDS, 1e-6, 10.0, now, 50.0) < 0  # deep in debt
        assert one.level(honest, shared.STORE_SECONDS, 1e-6, 10.0, now) == 10.0
    finally:
        one.close()
        other.close()


async def test_an_address_has_one_photo_preview_budget_for_both_workers(serve: Callable[..., Node]) -> None:
    """An editor's key asks for blurred previews over two connections, one on each worker: before, each worker
    allowed 30 a minute (60 for the node); now 30 in all, whichever worker answers."""
    editor = SecretKey.generate()
    node = serve(
        ("channel", "create", "yard", "--name", "Yard"),
        ("channel", "admins", "yard", "--add", nip19.npub_encode(editor.public_key_hex), "--role", "editor"),
    )
    await node.wait_ready()
    url, origin = f"ws://127.0.0.1:{node.port}{PREVIEW_PATH}", f"http://127.0.0.1:{node.port}"
    picture = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(picture, "WEBP")
    now = int(time.time())
    auth = sign_event(editor, 24242, "Preview a photo", [["t", "preview"], ["expiration", str(now + 300)]],
                      created_at=now).to_dict()  # fmt: skip
    by_worker: dict[str, ClientConnection] = {}
    spare: list[ClientConnection] = []
    try:
        for _ in range(40):  # the kernel spreads them; keep one on each worker
            ws = await connect(url, origin=origin, open_timeout=10, max_size=2**20)  # type: ignore[arg-type]
            worker = ws.response.headers.get("X-Samizdat-Worker", "") if ws.response is not None else ""
            if worker in by_worker:
                spare.append(ws)
            else:
                by_worker[worker] = ws
            if len(by_worker) == 2:
                break
        assert len(by_worker) == 2, by_worker.keys()
        answers = []
        for ws in by_worker.values():
            await ws.send(orjson.dumps({"auth": auth}).decode())
            assert orjson.loads(await ws.recv()) == {"ok": True}
        for n in range(2 * PER_MINUTE):
            ws = list(by_worker.values())[n % 2]
            await ws.send(frame({"id": n}, picture.getvalue()))
            answers.append(unframe(await asyncio.wait_for(ws.recv(), 30))[0])
        blurred = [a for a in answers if "faces" in a]
        refused = [a["error"] for a in answers if "error" in a]
        assert len(blurred) <= PER_MINUTE + 1, answers  # + the one refilled meanwhile (one every two seconds)
        assert refused
        assert all("photo previews a minute" in r for r in refused), refused
    finally:
        for ws in [*by_worker.values(), *spare]:
            with contextlib.suppress(Exception):
                await ws.close()
