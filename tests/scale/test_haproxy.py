"""Two ``samizdat serve`` relays sharing one store behind Debian's HAProxy, configured by docs/haproxy.cfg itself
(only its addresses and global maxconn replaced), with the PROXY protocol v2: the relays count the real client
address (readers come from 127.0.0.2 and 127.0.0.3 through one balancer), a post published through HAProxy
reaches the readers connected through it on both relays (an ephemeral event too, over the NATS bus), and a
``kill -9`` of one relay is survived: new connections go to the other, and what is published there still reaches
its readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import orjson
import pytest
from test_bus import NatsServer, nats_server, served, sharing_homes  # noqa: F401 - fixtures
from test_workers import TAG, TIMEOUT, Served, _accepts, _free_port, post, publish, received_ids, subscribe
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey

CONFIG = Path(__file__).resolve().parents[2] / "docs" / "haproxy.cfg"
PER_ADDRESS = 3  # the relays' per-address cap here, so that a few connections reach it
READERS = ("127.0.0.2", "127.0.0.3")


class Haproxy:
    """Debian's haproxy in the foreground on docs/haproxy.cfg, listening on a free loopback port."""

    def __init__(self, directory: Path, backends: list[int]) -> None:
        self.port = _free_port()
        text = CONFIG.read_text()
        marked = {
            "maxconn": "    maxconn 2000",  # the documented figure needs an open-file limit of about 200,000
            "frontend": f"    bind 127.0.0.1:{self.port}",
            "relay1": f"    server relay1 127.0.0.1:{backends[0]}",
            "relay2": f"    server relay2 127.0.0.1:{backends[1]}",
        }
        for mark, line in marked.items():
            text, count = re.subn(rf"(?m)^.*# samizdat-test: {mark}$", line, text)
            assert count == 1, f"docs/haproxy.cfg has no single line marked {mark!r}"
        self.config = directory / "haproxy.cfg"
        self.config.write_text(text)
        checked = subprocess.run(["haproxy", "-c", "-f", str(self.config)], capture_output=True, text=True,
                                 timeout=30, check=False)  # fmt: skip
        assert checked.returncode == 0, f"docs/haproxy.cfg does not pass haproxy -c: {checked.stdout}{checked.stderr}"
        self.log_path = directory / "haproxy.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 20
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"haproxy did not start: {self.log_path.read_text(errors='replace')}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


def test_the_configuration_in_the_docs_is_the_tested_file() -> None:
    scaling = (CONFIG.parent / "scaling.md").read_text()
    assert f"```haproxy\n{CONFIG.read_text()}```" in scaling, "docs/scaling.md's copy of docs/haproxy.cfg differs"


def trusting(home: Path) -> None:
    """``home``'s relay trusts the balancer on this machine and caps each client address at PER_ADDRESS."""
    path = home / "config.toml"
    text = path.read_text()
    text = re.sub(r"(?m)^max_connections_per_ip = .*$", f"max_connections_per_ip = {PER_ADDRESS}", text)
    text = re.sub(r"(?m)^\[relay\]$", '[relay]\ntrusted_proxies = ["127.0.0.1/32"]', text, count=1)
    path.write_text(text)


@pytest.fixture
def balanced(
    tmp_path: Path,
    nats_server: NatsServer,  # noqa: F811
    served: Callable[..., Served],  # noqa: F811
) -> Iterator[tuple[Haproxy, list[Served]]]:
    if shutil.which("haproxy") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is missing (scripts/apt/scale.txt installs it)")
        pytest.skip("haproxy is missing (apt-get install haproxy)")
    homes = sharing_homes(tmp_path)
    for home in homes:
        trusting(home)
    relays = [served(home, "--bus", nats_server.url) for home in homes]
    balancer = Haproxy(tmp_path, [relay.port for relay in relays])
    try:
        yield balancer, relays
    finally:
        balancer.stop()


async def through(balancer: Haproxy, source: str) -> ClientConnection:
    return await connect(balancer.url, local_addr=(source, 0), open_timeout=10, close_timeout=1)


@contextlib.asynccontextmanager
async def opened(connections: list[ClientConnection]) -> AsyncIterator[list[ClientConnection]]:
    try:
        yield connections
    finally:
        for ws in connections:
            with contextlib.suppress(Exception):
                await ws.close()


async def test_haproxy_in_front_of_two_relays(balanced: tuple[Haproxy, list[Served]]) -> None:
    balancer, relays = balanced
    author = SecretKey.generate()
    async with opened([]) as readers:
        # The per-address cap counts the client HAProxy names, not HAProxy: one reader address runs out of
        # connections (PER_ADDRESS on each relay), the other still gets in.
        refused: InvalidStatus | None = None
        for _ in range(2 * PER_ADDRESS + 1):
            try:
                readers.append(await through(balancer, READERS[0]))
            except InvalidStatus as exc:
                refused = exc
                break
        assert refused is not None, "one client address was never refused: the relays did not see it"
        assert refused.response.status_code == 503
        assert PER_ADDRESS <= len(readers) <= 2 * PER_ADDRESS  # each relay counts its own connections
        readers.append(await through(balancer, READERS[1]))
        for ws in readers:
            await subscribe(ws)

        # A post published through HAProxy reaches every reader, whichever relay took it (leastconn spreads the
        # readers over both).
        writer = await through(balancer, READERS[1])
        first = post(author, "through the balancer")
        assert await publish(writer, first)
        await writer.close()
        for ws in readers:
            assert await received_ids(ws, {first.id}) == {first.id}
        # An ephemeral event (never stored) too: it crosses to the other relay on the NATS bus, verified there.
        typing = sign_event(author, 20001, "typing...", [["t", TAG]], created_at=int(time.time()))
        writer = await through(balancer, READERS[1])
        assert await publish(writer, typing)
        await writer.close()
        for ws in readers:
            assert await received_ids(ws, {typing.id}) == {typing.id}

        # kill -9 of one relay: its readers are cut off; new connections through HAProxy reach the other relay,
        # and a post published there reaches readers on it.
        victim = relays[0]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        survivors: list[ClientConnection] = []
        for ws in readers:
            with contextlib.suppress(WebSocketException, OSError, TimeoutError):
                await ws.send(orjson.dumps(["REQ", "ping", {"limit": 0}]).decode())
                async with asyncio.timeout(TIMEOUT):
                    while orjson.loads(await ws.recv())[0] != "EOSE":
                        pass
                survivors.append(ws)
        assert 0 < len(survivors) < len(readers), "the readers were not spread over both relays"
        deadline = time.monotonic() + TIMEOUT
        again: ClientConnection | None = None
        while again is None and time.monotonic() < deadline:
            try:
                again = await through(balancer, READERS[1])
                await subscribe(again)
            except (WebSocketException, OSError, TimeoutError):
                again = None
                await asyncio.sleep(0.2)
        assert again is not None, "no connection through HAProxy was served after one relay was killed"
        readers.append(again)
        second = post(author, "after the kill", 1)
        writer = await through(balancer, READERS[1])  # READERS[0] may still hold all it may on the survivor
        assert await publish(writer, second)
        await writer.close()
        for ws in [*survivors, again]:
            assert await received_ids(ws, {second.id}) == {second.id}
