"""A photo URL whose *name* resolves to a link-local address (where cloud metadata services and routers' set-up
pages live) is refused as its address would be: net/blobfetch.py checks the address the socket reached, after
the name was resolved, so DNS cannot point the node there. Run in a network namespace of its own, whose hosts
file (``/etc/netns/<ns>/hosts``, which ``ip netns exec`` puts over ``/etc/hosts``) names two addresses on its
loopback: 169.254.169.254 (link-local) and 10.9.9.9 (a LAN media server, allowed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

PORT = 8080

SERVER = textwrap.dedent(
    """
    import http.server, sys

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            print(self.path, flush=True)
            body = b"photo bytes"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
    """
)

FETCH = textwrap.dedent(
    """
    import asyncio, sys
    from samizdat.net.blobfetch import FetchFailed, fetch
    from samizdat.net.failover import Routing

    async def main():
        try:
            body = await fetch(sys.argv[1], Routing(), max_bytes=1000, timeout=10)
        except FetchFailed as exc:
            print("failed:", exc)
        else:
            print("fetched:", body.decode())

    asyncio.run(main())
    """
)


def _tools_present() -> bool:
    return shutil.which("ip") is not None and os.geteuid() == 0


@pytest.fixture
def namespace(tmp_path: Path) -> Iterator[str]:
    if not _tools_present():
        if os.environ.get("CI") == "true":
            pytest.fail("this test needs root and iproute2 (scripts/system-packages.sh installs iproute2)")
        pytest.skip("needs root and iproute2")
    ns = f"smzf{os.getpid()}"
    etc = Path(f"/etc/netns/{ns}")
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        for command in (
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", ns, "addr", "add", "169.254.169.254/32", "dev", "lo"],
            ["ip", "-n", ns, "addr", "add", "10.9.9.9/32", "dev", "lo"],
        ):
            subprocess.run(command, check=True, capture_output=True)
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text("127.0.0.1 localhost\n169.254.169.254 metadata.test\n10.9.9.9 media.test\n")
        yield ns
    finally:
        shutil.rmtree(etc, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _in(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *args]


def test_a_name_that_resolves_to_a_link_local_address_is_never_asked(namespace: str, tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    with log.open("wb") as out:
        server = subprocess.Popen(_in(namespace, sys.executable, "-c", SERVER, str(PORT)), stdout=out)
    try:
        # The LAN media server by name: fetched (so the namespace, its names and the server work).
        lan = subprocess.run(_in(namespace, sys.executable, "-c", FETCH, f"http://media.test:{PORT}/lan.webp"),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert lan.stdout.strip() == "fetched: photo bytes", lan.stdout + lan.stderr
        # A name for the metadata address: refused once connected, before a byte of the request is sent.
        meta = subprocess.run(_in(namespace, sys.executable, "-c", FETCH, f"http://metadata.test:{PORT}/meta.webp"),
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert meta.stdout.startswith("failed:"), meta.stdout + meta.stderr
        assert "metadata.test resolves to 169.254.169.254" in meta.stdout
    finally:
        server.terminate()
        server.wait(10)
    assert log.read_text().split() == ["/lan.webp"]  # the metadata path was never requested
