"""``samizdat serve --workers 3`` as a person runs it: one port, three relay processes, one SQLite store.

A post published to any worker reaches subscribers on every worker; NIP-77 against any worker sees the same set;
``kill -9`` of a worker during ingest loses nothing acknowledged, the parent starts it again and its clients'
reconnects are served by the others; the per-address connection cap counts the connections on every worker.
Which worker took a connection is in the ``X-Samizdat-Worker`` header of the handshake (loopback readers only).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy
from samizdat.core.negentropy_storage import VectorStorage
from samizdat.testing import passphrase_env

WORKERS = 3
START_TIMEOUT = 60.0
TIMEOUT = 20.0  # one wait for messages
TAG = "scale"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("SAMIZDAT_HOME", "SAMIZDAT_PROXY", "SAMIZDAT_DEBUG"):
        env.pop(name, None)
    env.update(passphrase_env())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _samizdat(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "samizdat", "--home", str(home), *args]


def init_home(home: Path) -> None:
    subprocess.run(_samizdat(home, "init"), env=_env(), check=True, capture_output=True, timeout=90)


class Served:
    """A ``samizdat serve`` process (a parent with its workers), stopped by :meth:`stop`."""

    def __init__(self, home: Path, log: Path, *args: str) -> None:
        self.home, self.log_path = home, log
        self._log = log.open("wb")
        self.process = subprocess.Popen(_samizdat(home, "serve", "--no-mdns", *args), stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT, env=_env())  # fmt: skip
        self.port = 0

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"samizdat serve exited with {self.process.returncode}: {self.output()}")
            if "Ctrl-C stops" in self.output() and _accepts(port):
                self.port = port
                return
            time.sleep(0.1)
        pytest.fail(f"samizdat serve did not start within {START_TIMEOUT:.0f} s: {self.output()}")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``start(home, *args)``: ``samizdat serve --port P *args`` on ``home``, ready; all stopped in teardown."""
    started: list[Served] = []

    def run(home: Path, *args: str, host: str = "127.0.0.1") -> Served:
        port = _free_port()
        served = Served(home, tmp_path / f"serve-{len(started)}.log", "--host", host, "--port", str(port), *args)
        started.append(served)
        served.wait_ready(port)
        return served

    try:
        yield run
    finally:
        for served in started:
            served.stop()


@pytest.fixture(scope="module")
def author() -> SecretKey:
    return SecretKey.generate()


def post(key: SecretKey, text: str, offset: int = 0) -> Event:
    return sign_event(key, 1, text, [["t", TAG]], created_at=int(time.time()) - 60 + offset)


async def open_ws(url: str) -> tuple[ClientConnection, int]:
    """A connection and the worker that took it."""
    ws = await connect(url, open_timeout=10, close_timeout=1, max_size=None)
    assert ws.response is not None
    return ws, int(ws.response.headers["X-Samizdat-Worker"])


@contextlib.asynccontextmanager
async def connections(url: str, count: int) -> AsyncIterator[list[tuple[ClientConnection, int]]]:
    """``count`` connections and the workers that took them, closed when the block ends, also when it failed (as
    an ``async for`` over a generator, they stayed open until collected, in whatever test ran then)."""
    opened: list[tuple[ClientConnection, int]] = []
    try:
        for _ in range(count):
            opened.append(await open_ws(url))
        yield opened
    finally:
        for ws, _ in opened:
            with contextlib.suppress(Exception):
                await ws.close()


async def publish(ws: ClientConnection, event: Event) -> bool:
    """Send ``event`` and wait for its OK; True if accepted."""
    await ws.send(orjson.dumps(["EVENT", event.to_dict()]).decode())
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = orjson.loads(await ws.recv())
            if message[0] == "OK" and message[1] == event.id:
                return bool(message[2])


async def subscribe(ws: ClientConnection, sub_id: str = "live") -> None:
    await ws.send(orjson.dumps(["REQ", sub_id, {"#t": [TAG], "limit": 0}]).decode())
    async with asyncio.timeout(TIMEOUT):
        while orjson.loads(await ws.recv())[0] != "EOSE":
            pass


async def received_ids(ws: ClientConnection, wanted: set[str]) -> set[str]:
    """Event ids received on ``ws`` until all of ``wanted`` came (or the time is up: then what came)."""
    got: set[str] = set()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(TIMEOUT):
            while not wanted <= got:
                message = orjson.loads(await ws.recv())
                if message[0] == "EVENT":
                    got.add(message[2]["id"])
    return got


async def stored_ids(url: str) -> tuple[set[str], int]:
    """The ids of every #scale post, asked with REQ on a new connection, and the worker that answered."""
    ws, worker = await open_ws(url)
    ids: set[str] = set()
    try:
        await ws.send(orjson.dumps(["REQ", "all", {"#t": [TAG], "limit": 5000}]).decode())
        async with asyncio.timeout(TIMEOUT):
            while (message := orjson.loads(await ws.recv()))[0] != "EOSE":
                if message[0] == "EVENT":
                    ids.add(message[2]["id"])
    finally:
        await ws.close()
    return ids, worker


async def negentropy_ids(ws: ClientConnection) -> set[str]:
    """The ids NIP-77 says the relay has for #scale, reconciling from an empty set."""
    storage = VectorStorage()
    storage.seal()
    session = Negentropy(storage)
    message: bytes | None = session.initiate()
    need: set[str] = set()
    await ws.send(orjson.dumps(["NEG-OPEN", "neg", {"#t": [TAG]}, message.hex()]).decode())
    async with asyncio.timeout(TIMEOUT):
        for _ in range(50):  # rounds
            reply = orjson.loads(await ws.recv())
            assert reply[0] == "NEG-MSG", reply
            message, _, new_need = session.reconcile_client(bytes.fromhex(reply[2]))
            need |= {i.hex() for i in new_need}
            if message is None:
                return need
            await ws.send(orjson.dumps(["NEG-MSG", "neg", message.hex()]).decode())
    raise AssertionError("NIP-77 did not finish in 50 rounds")


async def worker_pids(url: str, until: Callable[[dict[int, int]], bool] | None = None) -> dict[int, int]:
    """Worker index -> pid, from the NIP-11 document each worker gives a reader on this machine: asked until every
    worker answered and ``until`` holds (or the time is up: then what was found)."""
    import urllib.request

    http = url.replace("ws://", "http://") + "/"
    request = urllib.request.Request(http, headers={"Accept": "application/nostr+json"})

    def ask() -> Any:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return orjson.loads(answer.read())

    found: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # each request lands on one worker
        with contextlib.suppress(OSError):
            doc = await asyncio.to_thread(ask)
            found[doc["samizdat_worker"]["index"]] = doc["samizdat_worker"]["pid"]
        if len(found) == WORKERS and (until is None or until(found)):
            break
        await asyncio.sleep(0.02)
    return found


# -- the tests -------------------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "node"
    init_home(home)
    return home


async def test_a_post_to_any_worker_reaches_subscribers_on_every_worker(
    home: Path, start: Callable[..., Served], author: SecretKey
) -> None:
    served = start(home, "--workers", str(WORKERS))
    async with connections(served.url, 24) as subscribers:
        on = {worker for _, worker in subscribers}
        assert on == set(range(WORKERS)), f"24 connections all went to workers {on}"
        for ws, _ in subscribers:
            await subscribe(ws)
        sent: set[str] = set()
        for worker in range(WORKERS):  # one post through each worker
            for _ in range(100):  # the kernel picks the worker: try new connections until this one takes one
                ws, took = await open_ws(served.url)
                try:
                    if took == worker:
                        event = post(author, f"through worker {worker}", worker)
                        assert await publish(ws, event)
                        sent.add(event.id)
                        break
                finally:
                    await ws.close()
        assert len(sent) == WORKERS
        for ws, worker in subscribers:
            got = await received_ids(ws, sent)
            assert got == sent, f"a subscriber on worker {worker} missed {len(sent - got)} of the posts"
        # NIP-77 against each worker sees the same set: the posts just made.
        for ws, worker in subscribers[:8]:
            assert await negentropy_ids(ws) == sent, f"NIP-77 on worker {worker}"


async def test_kill_9_of_a_worker_loses_nothing_acknowledged(
    home: Path, start: Callable[..., Served], author: SecretKey
) -> None:
    served = start(home, "--workers", str(WORKERS))
    pids = await worker_pids(served.url)
    assert len(pids) == WORKERS, pids
    victim = 0  # the worker that also runs the loops that must run once: the hardest to lose
    events = [post(author, f"ingest {i}", i % 50) for i in range(900)]
    acknowledged: set[str] = set()
    killed = asyncio.Event()

    async def publisher(part: list[Event], first_on: int | None = None) -> set[int]:
        """Publish ``part`` on a connection, reconnecting (and re-sending the unacknowledged) when it drops; the
        first connection on worker ``first_on`` if given (the kernel picks: new connections until one lands)."""
        served_by: set[int] = set()
        todo = list(part)
        for _ in range(20):  # connections, at most
            if not todo:
                break
            try:
                ws, worker = await open_ws(served.url)
            except (OSError, TimeoutError, WebSocketException):  # it was queued at the killed worker: again
                await asyncio.sleep(0.1)
                continue
            for _ in range(100 if first_on is not None and not served_by else 0):
                if worker == first_on:
                    break
                await ws.close()
                ws, worker = await open_ws(served.url)
            served_by.add(worker)
            try:
                while todo:
                    if await publish(ws, todo[0]):
                        acknowledged.add(todo.pop(0).id)
                    if len(acknowledged) >= 300 and not killed.is_set():
                        killed.set()
                        os.kill(pids[victim], signal.SIGKILL)
            except Exception:  # noqa: BLE001 (the worker was killed: reconnect)
                pass
            finally:
                with contextlib.suppress(Exception):
                    await ws.close()
        return served_by

    # One publisher is surely on the worker killed (each lands on a worker the kernel picks: all nine on the
    # others, or done before the kill, happened on a busy machine).
    results = await asyncio.gather(*(publisher(events[i::9], victim if i == 0 else None) for i in range(9)))
    assert killed.is_set()
    assert acknowledged == {e.id for e in events}, "some publishers could not finish after the kill"
    # The parent started the worker again (a new pid), and every acknowledged post is there, on every worker.
    after = await worker_pids(served.url, lambda found: found.get(victim) != pids[victim])
    assert after.get(victim) not in (None, pids[victim]), f"worker {victim} was not restarted: {after}"
    seen_from: set[int] = set()
    for _ in range(30):
        ids, worker = await stored_ids(served.url)
        assert ids >= acknowledged, f"worker {worker} lacks {len(acknowledged - ids)} acknowledged posts"
        seen_from.add(worker)
        if len(seen_from) == WORKERS:
            break
    assert any(len(by) > 1 for by in results), "no publisher was moved to another worker by the kill"


def _own_address() -> str | None:
    """An address of this machine that is not loopback (the per-address cap exempts loopback)."""
    for target in ("198.51.100.1", "10.254.254.254"):  # documentation/private: only picks the outgoing interface
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((target, 9))  # UDP: nothing is sent
            except OSError:
                continue
            address = str(sock.getsockname()[0])
            if not address.startswith("127.") and address != "0.0.0.0":
                return address
    return None


def _address() -> str:
    """:func:`_own_address`; the test is skipped without one (fails under CI)."""
    address = _own_address()
    if address is None:
        if os.environ.get("CI") == "true":
            pytest.fail("this machine has no address but loopback, which the per-address caps exempt")
        pytest.skip("this machine has no address but loopback, which the per-address caps exempt")
    return address


async def test_the_per_address_cap_counts_every_worker(home: Path, start: Callable[..., Served]) -> None:
    address = _address()
    served = start(home, "--workers", str(WORKERS), host="0.0.0.0")
    url = f"ws://{address}:{served.port}"
    opened: list[ClientConnection] = []
    try:
        for _ in range(64):  # spread by the kernel over the three workers
            opened.append(await connect(url, open_timeout=10, close_timeout=1))
        with pytest.raises(InvalidStatus, match="503"):
            opened.append(await connect(url, open_timeout=10, close_timeout=1))
        for ws in opened[:1]:  # one goes: one more may come in, on whichever worker
            await ws.close()
        opened = opened[1:]
        for _ in range(50):
            try:
                opened.append(await connect(url, open_timeout=10, close_timeout=1))
                break
            except Exception:  # noqa: BLE001 (the close may not be counted yet)
                await asyncio.sleep(0.05)
        else:
            pytest.fail("a connection closed did not make room for another")
    finally:
        for ws in opened:
            with contextlib.suppress(Exception):
                await ws.close()


async def _answer(ws: ClientConnection, sub_id: str) -> str:
    """``EOSE`` or the ``CLOSED`` reason the relay answers ``sub_id`` with (the events before EOSE skipped)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = orjson.loads(await ws.recv())
            if message[0] == "EOSE" and message[1] == sub_id:
                return "EOSE"
            if message[0] == "CLOSED" and message[1] == sub_id:
                return str(message[2])


async def test_what_one_address_subscribes_to_is_bounded_over_every_worker(
    home: Path, start: Callable[..., Served]
) -> None:
    """Subscriptions hold memory on the worker that took them: an address's limits are for all workers together,
    else it could hold three times as much by being spread over three."""
    address = _address()
    served = start(home, "--workers", str(WORKERS), host="0.0.0.0")
    url = f"ws://{address}:{served.port}"
    many = ["REQ", "many", *({"kinds": list(range(i * 1_000, (i + 1) * 1_000))} for i in range(10))]  # 10,000 values
    broad = ["REQ", "broad", {"search": "news"}]
    opened: list[ClientConnection] = []
    try:
        for _ in range(6):  # spread by the kernel over the three workers
            opened.append(await connect(url, open_timeout=10, close_timeout=1))
        values, searches = [], []
        for ws in opened:
            await ws.send(orjson.dumps(many).decode())
            values.append(await _answer(ws, "many"))
        # 50,000 values an address: five connections' worth, wherever they are
        assert values[:5] == ["EOSE"] * 5
        assert values[5].startswith("blocked:")
        assert "from this address" in values[5]
        for i in range(5):  # 16 broad subscriptions an address (4 a connection)
            for ws in opened[:5]:
                await ws.send(orjson.dumps([broad[0], f"broad{i}", *broad[2:]]).decode())
                searches.append(await _answer(ws, f"broad{i}"))
        assert searches[:16] == ["EOSE"] * 16
        assert all(s.startswith("blocked:") for s in searches[16:])
        await opened[0].close()  # what a closed connection held is free again, on whichever worker
        for _ in range(50):
            await opened[5].send(orjson.dumps(many).decode())
            if await _answer(opened[5], "many") == "EOSE":
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("a connection closed did not free what its subscriptions held")
    finally:
        for ws in opened:
            with contextlib.suppress(Exception):
                await ws.close()


def test_a_taken_port_or_a_bad_worker_count_is_one_sentence(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(_samizdat(home, "serve", "--workers", "2", "--port", str(port)), env=_env(),
                              capture_output=True, text=True, timeout=90, check=False)  # fmt: skip
    assert done.returncode != 0
    assert f"port {port} is in use" in done.stderr
    assert "Traceback" not in done.stderr
    (home / "config.toml").write_text("[relay]\nworkers = 0\n")
    done = subprocess.run(_samizdat(home, "serve"), env=_env(), capture_output=True, text=True, timeout=90,
                          check=False)  # fmt: skip
    assert done.returncode != 0
    assert "relay.workers must be 1 or more" in done.stderr
    assert "Traceback" not in done.stderr
