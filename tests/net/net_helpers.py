"""Helpers shared by the net tests (importable by name: the test folders are not packages)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import encode_varint
from samizdat.net.client import RelayClient
from samizdat.relay.server import RelayServer
from samizdat.testing import free_port, poll_until

#: A NIP-77 reply that ends the session: the protocol version, then one range to the end listing no ids (from a
#: relay: "I have nothing at all", so the node learns that the relay lacks every event it has).
SETTLE = bytes((0x61,)) + encode_varint(0) + encode_varint(0) + encode_varint(2) + encode_varint(0)


def frame(*parts: Any) -> str:
    return orjson.dumps(list(parts)).decode()


class NegentropyLiar:
    """A relay's side of NIP-77 that answers round ``n`` with ``reply(n)`` (with :data:`SETTLE` after
    ``most_rounds``: the test's own bound), answers a REQ with EOSE alone and notes the ids it was asked for, and
    answers every EVENT with ``OK true``, keeping nothing but the count and the bytes of what it was sent."""

    def __init__(self, reply: Callable[[int], bytes], most_rounds: int) -> None:
        self.reply, self.most_rounds = reply, most_rounds
        self.rounds = 0
        self.asked: set[str] = set()
        self.events = 0  # EVENTs received (and acknowledged)
        self.event_bytes = 0  # their frames' bytes

    async def __call__(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] in ("NEG-OPEN", "NEG-MSG"):
                self.rounds += 1
                reply = self.reply(self.rounds) if self.rounds <= self.most_rounds else SETTLE
                await ws.send(frame("NEG-MSG", message[1], reply.hex()))
            elif message[0] == "REQ":
                self.asked.update(message[2].get("ids", []))
                await ws.send(frame("EOSE", message[1]))
            elif message[0] == "EVENT" and isinstance(message[1], dict):
                self.events += 1
                self.event_bytes += len(raw)
                await ws.send(frame("OK", message[1].get("id"), True, ""))


@dataclass
class Relay:
    url: str
    server: RelayServer | None = None  # ours, for looking inside


class ConnectProxy:
    """A tiny real HTTP proxy that speaks only ``CONNECT`` (what relays need), on loopback, for the transport
    suite. ``silent=True`` makes it accept connections and never answer: a blackholed route."""

    def __init__(self, *, silent: bool = False) -> None:
        self.silent = silent
        self.tunnels = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def start(self) -> ConnectProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if self.silent:
                await reader.read()
                return
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            host, _, port = target.rpartition(":")
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
                self.writers.add(up_writer)
            except OSError:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            self.tunnels += 1
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

            async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(OSError):
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                dst.close()

            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            self.writers.discard(writer)


class Microsocks:
    """Debian's ``microsocks`` SOCKS5 proxy on a loopback port (skips the test when it is not installed)."""

    def __init__(self) -> None:
        if shutil.which("microsocks") is None:
            pytest.skip("microsocks is not installed (scripts/system-packages.sh installs scripts/apt/blocking.txt)")
        self.port = free_port()
        self.process = subprocess.Popen(
            ["microsocks", "-i", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            poll_until(self.accepts_connections, timeout=10, what="microsocks to start", interval=0.05)
        except TimeoutError as exc:
            self.stop()
            pytest.fail(str(exc))

    def accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def url(self, scheme: str = "socks5h") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


EVENTS = 120  # of about 1.2 KB each: about 150 KB to send


async def seed(url: str, count: int = EVENTS) -> None:
    key = SecretKey.generate()
    events = [sign_event(key, 1, f"{i:04d} " + "x" * 1000, [], created_at=1_700_000_000 + i) for i in range(count)]
    async with await RelayClient.connect(url, timeout=10) as client:
        results = await client.publish_many(events, timeout=30)
    assert all(r.accepted for r in results), [r.message for r in results if not r.accepted][:3]


class Stalling:
    """A TCP forwarder that carries ``down`` bytes toward the client (``up`` toward the relay), then silently
    swallows everything that way, keeping the connection open: a censor's stall after the handshake."""

    def __init__(
        self, target_port: int, *, down: int | None = None, up: int | None = None, rate: int | None = None
    ) -> None:
        """``rate``: bytes a second toward the client, at most (a throttling censor), in chunks of 512."""
        self.target_port, self.down, self.up, self.rate = target_port, down, up, rate
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Stalling:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, allowed: int | None, rate: int | None = None
        ) -> None:
            carried = 0
            with contextlib.suppress(OSError):
                while data := await src.read(512 if rate else 4096):
                    if rate:
                        await asyncio.sleep(len(data) / rate)
                    if allowed is not None and carried + len(data) > allowed:
                        data = data[: max(0, allowed - carried)]
                    carried += len(data)
                    if data:
                        dst.write(data)
                        await dst.drain()

        tasks = [asyncio.ensure_future(pump(up_reader, writer, self.down, self.rate)),
                 asyncio.ensure_future(pump(reader, up_writer, self.up))]  # fmt: skip
        self.tasks.update(tasks)
        try:
            await asyncio.gather(*tasks)
        finally:
            writer.close()
            up_writer.close()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))
