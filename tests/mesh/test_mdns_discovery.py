"""This machine's side of discovery: which addresses it announces, and which networks it is on (what an
announcement is checked against: ``test_announcements.py``; real mDNS between namespaces: ``tests/lan``)."""

from __future__ import annotations

import pytest

from samizdat.mesh.announcements import usable_address
from samizdat.mesh.discovery import lan_addresses, local_networks, on_a_local_network


def test_a_node_bound_to_one_address_announces_only_that() -> None:
    assert lan_addresses("10.9.8.7") == ["10.9.8.7"]
    assert all(not a.startswith("127.") for a in lan_addresses("0.0.0.0"))


def test_addresses_on_our_own_networks_are_recognised() -> None:
    ours = lan_addresses("0.0.0.0")
    if not ours:
        pytest.skip("this machine has no non-loopback IPv4 address")
    assert on_a_local_network(ours[0])
    assert not on_a_local_network("127.0.0.1")
    assert not on_a_local_network("not an address")


def test_an_announcement_of_this_machine_is_never_usable_here() -> None:
    networks = local_networks()
    assert any(i.ip.is_loopback for i in networks)
    for interface in networks:
        assert usable_address(str(interface.ip), networks) is None
