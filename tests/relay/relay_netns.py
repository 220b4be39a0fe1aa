"""Many remote addresses for one test, in a network namespace of its own.

The relay exempts loopback from its per-address limits, so tests of those limits need peers with other addresses.
:class:`AddressLab` makes an anonymous network namespace (``unshare`` in a helper thread: no name, nothing to
leak; it disappears once the lab's handle and every socket in it are closed), brings its loopback up and routes a
whole private /24 to it (AnyIP: ``ip route add local SUBNET dev lo``), so a socket may bind to any of its 254
addresses. The relay listens on ``.1``; each "device" is a source address. Sockets are made inside the namespace
by a short-lived thread that joins it (``setns``), then used from the test's event loop like any other socket.
No traffic leaves the namespace.

Needs Linux, root and ``ip`` (iproute2); :func:`missing` says which is missing (a skip reason, which CI turns into
a failure).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from websockets.asyncio.client import ClientConnection, connect

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
SUBNET = "10.213.7.0/24"


def missing() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs scripts/test as root)"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is missing: scripts/system-packages.sh installs it"
    return None


class AddressLab:
    """An anonymous network namespace where every address of :data:`SUBNET` is local. Close it when done."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd: int | None = None
        hosts = ipaddress.ip_network(SUBNET).hosts()
        self.relay_address = str(next(hosts))  # .1
        self.addresses = [str(a) for a in hosts]  # .2 to .254: the "devices"

        def make() -> int:
            if self._libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            commands = (["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "local", SUBNET, "dev", "lo"])
            try:
                for command in commands:
                    subprocess.run(command, check=True, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
            except BaseException:
                os.close(fd)
                raise
            return fd

        self._fd = self._in_thread(make, join=False)

    def _in_thread(self, fn: Callable[[], T], *, join: bool = True) -> T:
        result: list[T] = []
        error: list[BaseException] = []

        def run() -> None:
            try:
                if join:
                    assert self._fd is not None
                    if self._libc.setns(self._fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns failed")
                result.append(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
                error.append(exc)

        thread = threading.Thread(target=run, name="netns")
        thread.start()
        thread.join(30)
        if thread.is_alive():
            raise TimeoutError("the namespace helper thread did not finish within 30 s")
        if error:
            raise error[0]
        return result[0]

    def listener(self, port: int = 0) -> socket.socket:
        """A listening TCP socket on the relay's address (for ``RelayServer.start(sock=...)``)."""

        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.relay_address, port))
            sock.listen(4096)
            sock.setblocking(False)
            return sock

        return self._in_thread(make)

    def connect(self, source: str, port: int, *, rcvbuf: int | None = None, timeout: float = 5.0) -> socket.socket:
        """A TCP socket from ``source`` connected to the relay's ``port`` (blocking, with ``timeout``)."""

        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                if rcvbuf is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                sock.bind((source, 0))
                sock.settimeout(timeout)
                sock.connect((self.relay_address, port))
            except BaseException:
                sock.close()
                raise
            return sock

        return self._in_thread(make)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


@contextlib.asynccontextmanager
async def websockets_from(lab: AddressLab, port: int) -> AsyncIterator[Callable[[str], Awaitable[ClientConnection]]]:
    """``await open_(source_address)``: a WebSocket to the relay on the lab's ``.1`` and ``port`` from that
    address; every one opened is closed when the block ends."""
    import asyncio

    opened: list[ClientConnection] = []

    async def open_(source: str) -> ClientConnection:
        sock = await asyncio.to_thread(lab.connect, source, port)
        ws = await connect(f"ws://{lab.relay_address}:{port}/", sock=sock, open_timeout=5, close_timeout=1)
        opened.append(ws)
        return ws

    try:
        yield open_
    finally:
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
