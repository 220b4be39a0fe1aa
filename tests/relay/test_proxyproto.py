"""The PROXY protocol parser: HAProxy's v1 lines and v2 blocks, byte by byte, and strictness on everything else."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat.errors import UsageError
from samizdat.relay.proxyproto import (
    V1_MAX,
    V2_MAX,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    looks_like_header,
    networks,
    parse,
    trusted,
)


def v2(command: int = 1, family: int = 0x11, addresses: bytes = b"", tlvs: bytes = b"", version: int = 2) -> bytes:
    body = addresses + tlvs
    return V2_SIGNATURE + bytes([version << 4 | command, family]) + struct.pack("!H", len(body)) + body


def v4(source: str, destination: str, sport: int, dport: int) -> bytes:
    packed = ipaddress.IPv4Address(source).packed + ipaddress.IPv4Address(destination).packed
    return packed + struct.pack("!HH", sport, dport)


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def test_v1_tcp4_and_tcp6_lines() -> None:
    line = b"PROXY TCP4 198.51.100.7 203.0.113.1 51234 443\r\n"
    assert parse(line + b"GET / HTTP/1.1\r\n") == ProxyHeader(
        len(line), 1, ("198.51.100.7", 51234), ("203.0.113.1", 443)
    )
    six = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"
    header = parse(six)
    assert header is not None
    assert header.source == ("2001:db8::1", 65535)
    assert header.length == len(six)


def test_a_header_in_pieces_needs_more_until_complete() -> None:
    for whole in (b"PROXY TCP4 10.1.2.3 10.0.0.1 1000 80\r\n", v2(addresses=v4("10.1.2.3", "10.0.0.1", 1000, 80))):
        for cut in range(len(whole)):
            assert parse(whole[:cut]) is None, cut
        header = parse(whole)
        assert header is not None
        assert header.source == ("10.1.2.3", 1000)


def test_unknown_and_local_are_health_checks_without_a_client() -> None:
    assert parse(b"PROXY UNKNOWN\r\n") == ProxyHeader(15, 1, None, None)
    assert parse(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest") == ProxyHeader(35, 1, None, None)
    local = v2(command=0, family=0x00)
    assert parse(local) == ProxyHeader(16, 2, None, None)
    # LOCAL with addresses (HAProxy fills them in for checks): still the balancer itself
    assert parse(v2(command=0, addresses=v4("1.2.3.4", "5.6.7.8", 1, 2))) == ProxyHeader(28, 2, None, None)


def test_v2_ipv4_ipv6_and_tlvs_skipped() -> None:
    block = v2(addresses=v4("192.0.2.9", "192.0.2.1", 40000, 4848), tlvs=tlv(0x01, b"h2") + tlv(0x05, b"x" * 300))
    assert parse(block + b"GET") == ProxyHeader(len(block), 2, ("192.0.2.9", 40000), ("192.0.2.1", 4848))
    six = ipaddress.IPv6Address("2001:db8::9").packed + ipaddress.IPv6Address("2001:db8::1").packed
    header = parse(v2(family=0x21, addresses=six + struct.pack("!HH", 7, 8)))
    assert header is not None
    assert header.source == ("2001:db8::9", 7)
    unix = v2(family=0x31, addresses=b"\x00" * 216)
    assert parse(unix) == ProxyHeader(len(unix), 2, None, None)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n\r\n",  # no header at all: a trusted proxy must send one
        b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",  # two spaces
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",  # bare line feed
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",  # leading zero in a port
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",  # leading zero in an address
        b"PROXY TCP4 ::1 ::2 1 2\r\n",  # IPv6 under TCP4
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP6 fe80::1%eth0 ::2 1 2\r\n",  # a zone
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 \xd9\xa1 2\r\n",  # not ASCII
        b"PROXY TCP4 1.2.3.4 5.6.7.8 \xd9\xa1",  # not ASCII, before the end
        b"PROXY " + b"1" * V1_MAX,  # no end within 107 bytes
        b"PROXY TCP4 1.2.3.4\x00",
        v2(version=1),
        v2(command=2),
        v2(family=0x41),
        v2(family=0x13),
        v2(family=0x12, addresses=v4("1.2.3.4", "5.6.7.8", 1, 2)),  # UDP
        v2(addresses=b"\x01" * 11),  # too short for IPv4 addresses
        v2(addresses=v4("1.2.3.4", "5.6.7.8", 1, 2), tlvs=b"\x01\x00"),  # truncated TLV
        v2(addresses=v4("1.2.3.4", "5.6.7.8", 1, 2), tlvs=b"\x01\x00\x05ab"),  # TLV past the end
        V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", V2_MAX),  # longer than taken, refused before it is read
        b"\r\n\r\nX",
        b"PRoXY ",
    ],
)
def test_malformed_headers_are_refused(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse(data)


def test_only_real_header_starts_look_like_headers() -> None:
    assert looks_like_header(b"PROXY TCP4 1.2.3.4")
    assert looks_like_header(V2_SIGNATURE[:4])
    assert not looks_like_header(b"POST /upload HTTP/1.1")
    assert not looks_like_header(b"GET / HTTP/1.1\r\n")
    assert not looks_like_header(b"P")


def test_trusted_networks() -> None:
    allowed = networks(["127.0.0.9/32", "10.0.0.0/24", "2001:db8::/64"])
    assert trusted(("127.0.0.9", 5000), allowed)
    assert trusted(("::ffff:10.0.0.7", 5000, 0, 0), allowed)
    assert trusted(("2001:db8::5", 1, 0, 0), allowed)
    assert not trusted(("127.0.0.1", 5000), allowed)
    assert not trusted(("10.0.1.1", 5000), allowed)
    assert not trusted(None, allowed)
    assert not trusted(("127.0.0.9", 1), ())
    with pytest.raises(UsageError, match="not an address or a network"):
        networks(["10.0.0.300/8"])


@given(st.binary(max_size=300))
def test_any_bytes_give_a_header_need_more_or_one_error(data: bytes) -> None:
    try:
        header = parse(data)
    except ProxyProtocolError:
        return
    if header is not None:
        assert 0 < header.length <= min(len(data), V2_MAX)


@given(
    st.sampled_from([b"PROXY TCP4 10.1.2.3 10.0.0.1 1000 80\r\n", v2(addresses=v4("1.2.3.4", "5.6.7.8", 1, 2))]),
    st.integers(0, 60),
    st.binary(min_size=1, max_size=4),
)
def test_mutated_headers_keep_the_contract(whole: bytes, at: int, noise: bytes) -> None:
    at = min(at, len(whole))
    mutated = whole[:at] + noise + whole[at + len(noise) :]
    try:
        header = parse(mutated)
    except ProxyProtocolError:
        return
    if header is not None:
        assert 0 < header.length <= len(mutated)
        assert header.source is None or ipaddress.ip_address(header.source[0])
