"""netcheck's probes on loopback with real parts: our relay, a block page, microsocks as the control path, and a
DNS-over-HTTPS resolver of our own behind a throwaway certificate. (The censorship matrix itself runs in network
namespaces: tests/e2e/test_blocking.py.)"""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dns.message
import dns.rrset
import pytest
from net_helpers import Microsocks, Relay

from samizdat.errors import UsageError
from samizdat.net import netcheck
from samizdat.net.transports import Direct
from samizdat.testing import free_port

BLOCKPAGE = b"HTTP/1.1 451 Unavailable\r\nContent-Type: text/html\r\nContent-Length: 22\r\n\r\n<html>blocked</html>\r\n"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA), made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
         "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
         str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def doh(certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    """A DNS-over-HTTPS resolver that knows relay.test (and says NXDOMAIN for everything else)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b" ")[1].decode()
        query = dns.message.from_wire(base64.urlsafe_b64decode(parse_qs(urlsplit(target).query)["dns"][0] + "=="))
        answer = dns.message.make_response(query)
        name = query.question[0].name.to_text()
        if name == "relay.test.":
            answer.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "93.184.215.14"))
        else:
            answer.set_rcode(dns.rcode.NXDOMAIN)
        body = answer.to_wire()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")  # fmt: skip
        await writer.drain()
        writer.close()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/dns-query"
    finally:
        server.close()


async def test_dns_over_https_control_resolver(doh: str, certificate: tuple[Path, Path]) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    answer = await netcheck.control_dns("relay.test", doh, Direct(), 5, trusting)
    assert answer.addresses == ("93.184.215.14",)
    assert (await netcheck.control_dns("gone.test", doh, Direct(), 5, trusting)).error == "nxdomain"
    # Without trusting its certificate, the resolver is no control at all.
    assert (await netcheck.control_dns("relay.test", doh, Direct(), 5, ssl.create_default_context())).error == "error"


async def test_a_relay_that_answers_is_ok(samizdat_relay: Relay) -> None:
    result = await netcheck.measure(samizdat_relay.url, netcheck.Options(step_timeout=5))
    assert result.verdict.cls == "ok"
    assert result.to_dict()["steps"]["nip11"]["outcome"] == "ok"


async def test_a_block_page_instead_of_the_relay() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(BLOCKPAGE)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        result = await netcheck.measure(url, netcheck.Options(step_timeout=5))
    finally:
        server.close()
    assert result.verdict.cls == "http.blockpage"
    assert "451" in result.verdict.reason


async def test_down_when_the_control_path_fails_too(microsocks: Microsocks) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    result = await netcheck.measure(url, netcheck.Options(control_proxy=microsocks.url(), step_timeout=5))
    assert result.verdict.cls == "down"
    # A control proxy that is not there is no control path: the relay is not called down then.
    dead_proxy = f"socks5h://127.0.0.1:{free_port()}"
    alone = await netcheck.measure(url, netcheck.Options(control_proxy=dead_proxy, step_timeout=5))
    assert alone.verdict.cls == "tcp.reset"
    assert not alone.verdict.confirmed


def test_bad_options_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="control resolver"):
        netcheck.Options(control_dns="8.8.8.8")
    with pytest.raises(UsageError, match="does not exist"):
        netcheck.Options(ca_file=tmp_path / "missing.pem")
    with pytest.raises(UsageError, match="not a transport"):
        netcheck.Options(control_proxy="vpn please")
