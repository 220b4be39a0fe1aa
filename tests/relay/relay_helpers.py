"""Helpers for the relay tests: signed events and a websockets client that speaks NIP-01."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey

NOW = 1_800_000_000


def make_event(
    key: SecretKey,
    kind: int = 1,
    content: str = "hello",
    tags: Sequence[Sequence[str]] = (),
    created_at: int | None = None,
) -> Event:
    return sign_event(key, kind, content, tags, created_at=int(time.time()) if created_at is None else created_at)


def event_message(event: Event) -> str:
    return orjson.dumps(["EVENT", event.to_dict()]).decode()


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws: ClientConnection, verb: str, timeout: float = 5.0, limit: int = 10_000) -> list[Any]:
    """Messages up to and including the first whose verb is ``verb``."""
    out = []
    async with asyncio.timeout(timeout):
        for _ in range(limit):
            message = orjson.loads(await ws.recv())
            out.append(message)
            if message[0] == verb:
                return out
    raise AssertionError(f"no {verb} in {limit} messages")


async def publish(ws: ClientConnection, event: Event) -> list[Any]:
    """Send ``event`` and return its OK message."""
    await ws.send(event_message(event))
    return (await recv_until(ws, "OK"))[-1]


async def query(ws: ClientConnection, sub_id: str, *filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of a REQ up to EOSE, then CLOSE it."""
    await ws.send(orjson.dumps(["REQ", sub_id, *filters]).decode())
    messages = await recv_until(ws, "EOSE")
    await ws.send(orjson.dumps(["CLOSE", sub_id]).decode())
    return [m[2] for m in messages if m[0] == "EVENT" and m[1] == sub_id]


def client(url: str, **kwargs: Any) -> Any:
    """A websockets client with generous limits (tests send oversized messages on purpose)."""
    kwargs.setdefault("max_size", 16 * 1024 * 1024)
    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("close_timeout", 2)
    return connect(url, **kwargs)


class RawClient:
    """A minimal WebSocket client on a plain socket with a tiny receive buffer, for clients that never read.

    ``websockets``' own client keeps reading into its queue; this one reads only when told to, so the relay
    really sees a subscriber that does not keep up.
    """

    def __init__(self, port: int, rcvbuf: int = 4096, path: str = "/") -> None:
        import base64
        import os
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))

    def send_text(self, text: str) -> None:
        self.sock.sendall(self.frame(text))

    def send_many(self, texts: list[str], timeout: float = 5.0) -> bool:
        """Send many messages at once; False if the peer stopped reading (timeout) or went away."""
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(b"".join(self.frame(t) for t in texts))
        except OSError:
            return False
        return True

    @staticmethod
    def frame(text: str) -> bytes:
        import os

        payload = text.encode()
        mask = os.urandom(4)
        header = bytearray([0x81])
        if len(payload) < 126:
            header.append(0x80 | len(payload))
        elif len(payload) < 65536:
            header.append(0x80 | 126)
            header += len(payload).to_bytes(2, "big")
        else:
            header.append(0x80 | 127)
            header += len(payload).to_bytes(8, "big")
        repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")
        return bytes(header) + mask + masked

    def read_all(self, timeout: float = 2.0, limit_bytes: int = 64 * 1024 * 1024) -> tuple[list[Any], bool]:
        """Read until the connection is quiet for ``timeout`` or closed; return (messages, closed)."""
        self.sock.settimeout(timeout)
        closed = False
        while len(self.buffer) < limit_bytes:
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            self.buffer += chunk
        messages = []
        data, pos = self.buffer, 0
        while len(data) - pos >= 2:
            opcode, length, start = data[pos] & 0x0F, data[pos + 1] & 0x7F, pos + 2
            if length == 126:
                length, start = int.from_bytes(data[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                length, start = int.from_bytes(data[pos + 2 : pos + 10], "big"), pos + 10
            if len(data) < start + length:
                break
            if opcode == 1:
                messages.append(orjson.loads(data[start : start + length]))
            elif opcode == 8:
                closed = True
            pos = start + length
        self.buffer = data[pos:]
        return messages, closed

    def close(self) -> None:
        self.sock.close()
