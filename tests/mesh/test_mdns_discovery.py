"""This machine's side of discovery: which addresses it announces, and which networks it is on (what an
announcement is checked against: ``test_announcements.py``; real mDNS between namespaces: ``tests/lan``)."""

from __future__ import annotations

import pytest

from samizdat.mesh.announcements import usable_address
from samizdat.mesh.discovery import lan_addresses, local_networks


def test_a_node_bound_to_one_address_announces_only_that() -> None:
    assert lan_addresses("10.9.8.7") == ["10.9.8.7"]
    assert all(not a.startswith("127.") for a in lan_addresses("0.0.0.0"))


def test_a_neighbour_on_one_of_our_networks_is_usable() -> None:
    networks = [i for i in local_networks() if not i.ip.is_loopback and i.network.num_addresses > 2]
    if not networks:
        pytest.skip("this machine has no IPv4 network with room for a neighbour")
    network = networks[0].network
    neighbour = next(a for a in network.hosts() if all(a != i.ip for i in local_networks()))
    assert usable_address(str(neighbour), local_networks()) == neighbour


def test_an_announcement_of_this_machine_is_never_usable_here() -> None:
    networks = local_networks()
    assert any(i.ip.is_loopback for i in networks)
    for interface in networks:
        assert usable_address(str(interface.ip), networks) is None
