"""``serve --bus nats://...``: two ``serve`` processes sharing one store hear of each other's posts through a real
``nats-server`` (Debian's, started here on a free loopback port, with a user and password), and catch up from
the store when the bus is down. The bus carries numbers only, so a message on it cannot inject an event.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from test_workers import Served, _accepts, _free_port, init_home, open_ws, post, publish, received_ids, subscribe

from samizdat.core.keys import SecretKey
from samizdat.relay.bus import store_name

USER, PASSWORD = "samizdat", "test-password-not-secret"


class NatsServer:
    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.log = (directory / "nats.log").open("wb")
        self.process = subprocess.Popen(
            ["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "--user", USER, "--pass", PASSWORD],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
        deadline = time.monotonic() + 20
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("nats-server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"nats://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    if shutil.which("nats-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nats-server is missing (scripts/apt/scale.txt installs it)")
        pytest.skip("nats-server is missing (apt-get install nats-server)")
    directory = tmp_path / "nats"
    directory.mkdir()
    server = NatsServer(directory)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def run(home: Path, *args: str) -> Served:
        port = _free_port()
        node = Served(home, tmp_path / f"serve-{len(started)}.log", "--port", str(port), *args)
        started.append(node)
        node.wait_ready(port)
        return node

    try:
        yield run
    finally:
        for node in started:
            node.stop()


def sharing_homes(tmp_path: Path) -> tuple[Path, Path]:
    """Two data directories of one node whose event store is one file (the second links to the first's)."""
    first, second = tmp_path / "a", tmp_path / "b"
    init_home(first)
    shutil.copytree(first, second)
    (second / "events.sqlite").unlink()
    (second / "events.sqlite").symlink_to(first / "events.sqlite")
    return first, second


async def test_a_post_on_one_serve_reaches_subscribers_of_the_other(
    tmp_path: Path, nats_server: NatsServer, served: Callable[..., Served]
) -> None:
    author = SecretKey.generate()
    first_home, second_home = sharing_homes(tmp_path)
    first = served(first_home, "--bus", nats_server.url)
    second = served(second_home, "--bus", nats_server.url)
    (reader_a, _), (reader_b, _) = await open_ws(first.url), await open_ws(second.url)
    try:
        await subscribe(reader_a)
        await subscribe(reader_b)
        listener = await nats.connect(nats_server.url)  # what goes over the bus: insertion numbers
        heard: asyncio.Queue[bytes] = asyncio.Queue()

        async def hear(message: Any) -> None:
            await heard.put(message.data)

        await listener.subscribe("samizdat.stored.>", cb=hear)
        on_first = post(author, "posted on the first")
        on_second = post(author, "posted on the second", 1)
        (writer_a, _), (writer_b, _) = await open_ws(first.url), await open_ws(second.url)
        assert await publish(writer_a, on_first)
        assert await publish(writer_b, on_second)
        await writer_a.close()
        await writer_b.close()
        both = {on_first.id, on_second.id}
        assert await received_ids(reader_b, both) == both
        assert await received_ids(reader_a, both) == both
        async with asyncio.timeout(20):
            number = await heard.get()
        await listener.close()
        assert int(number) >= 1, number  # a number, not an event

        # A forged message on the bus brings nothing: the number only makes the relays read their store.
        client = await nats.connect(nats_server.url)
        try:
            subject = f"samizdat.stored.{store_name(first_home / 'events.sqlite')}"
            await client.publish(subject, orjson.dumps(["EVENT", "x", {"id": "00" * 32}]))
            await client.publish(subject, b"999999999")
            await client.flush()
        finally:
            await client.close()

        # With the bus down, a post still reaches the other serve: it looks at the store's insertion order too.
        nats_server.stop()
        late = post(author, "while the bus is down", 2)
        writer_a, _ = await open_ws(first.url)
        assert await publish(writer_a, late)
        await writer_a.close()
        assert await received_ids(reader_b, {late.id}) == {late.id}
    finally:
        await reader_a.close()
        await reader_b.close()
