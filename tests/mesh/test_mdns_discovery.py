"""What is taken from an mDNS announcement: anyone on a LAN can announce anything, so values are checked."""

from __future__ import annotations

import pytest

from samizdat.mesh.discovery import Sighting, lan_addresses, parse_service


def test_a_well_formed_announcement_gives_a_ws_url() -> None:
    sighting = parse_service({b"id": b"ab12cd34", b"hub": b"1", b"name": b"Block 7"}, ["10.1.2.3"], 4848)
    assert sighting == Sighting("ab12cd34", "ws://10.1.2.3:4848", "Block 7", True)


@pytest.mark.parametrize(
    ("properties", "addresses", "port"),
    [
        ({}, ["10.1.2.3"], 4848),  # no instance id
        ({b"id": b"x y"}, ["10.1.2.3"], 4848),  # not alphanumeric
        ({b"id": b"ab"}, [], 4848),  # no address
        ({b"id": b"ab"}, ["10.1.2.3"], 0),  # no port
        ({b"id": b"ab"}, ["10.1.2.3"], None),
        ({b"id": b"ab"}, ["not-an-ip"], 4848),
        ({b"id": b"ab"}, ["fe80::1"], 4848),  # IPv4 only
    ],
)
def test_unusable_announcements_are_ignored(
    properties: dict[bytes, bytes | None], addresses: list[str], port: int | None
) -> None:
    assert parse_service(properties, addresses, port) is None


def test_hostile_names_are_cut_and_made_printable() -> None:
    sighting = parse_service({b"id": b"ab", b"name": b"\x1b[31mevil\x00" + b"x" * 200}, ["10.0.0.1"], 1)
    assert sighting is not None
    assert sighting.name.startswith("[31mevil")
    assert len(sighting.name) <= 60
    assert not sighting.hub


def test_a_node_bound_to_one_address_announces_only_that() -> None:
    assert lan_addresses("10.9.8.7") == ["10.9.8.7"]
    assert all(not a.startswith("127.") for a in lan_addresses("0.0.0.0"))


def test_addresses_on_our_own_networks_are_recognised() -> None:
    from samizdat.mesh.discovery import on_a_local_network

    ours = lan_addresses("0.0.0.0")
    if not ours:
        pytest.skip("this machine has no non-loopback IPv4 address")
    assert on_a_local_network(ours[0])
    assert not on_a_local_network("127.0.0.1")
    assert not on_a_local_network("not an address")
