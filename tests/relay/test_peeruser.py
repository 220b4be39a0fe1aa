"""relay/peeruser.py: which account a loopback connection comes from, read from the kernel's socket tables."""

from __future__ import annotations

import ipaddress
import socket
import sys

import pytest

from samizdat.relay.peeruser import owner_of, same_user

TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:BD4C 0100007F:12F0 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0
   1: 0100007F:12F0 0100007F:BD4C 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0
"""
TABLE6 = """\
  sl  local_address                         remote_address                        st tx rx tr retrnsmt   uid
   0: 0000000000000000FFFF00000100007F:BD4D 0000000000000000FFFF00000100007F:12F0 01 0:0 00:0 0  1001 0 4244
   1: 00000000000000000000000001000000:BD4E 00000000000000000000000001000000:12F0 01 0:0 00:0 0  1002 0 4245
"""  # the columns the kernel writes after the uid, and the queues' widths, are cut short here
LOOP = ipaddress.ip_address("127.0.0.1")
LOOP6 = ipaddress.ip_address("::1")


def test_the_clients_row_gives_its_owner() -> None:
    assert owner_of(TABLE.splitlines(), (LOOP, 0xBD4C), (LOOP, 0x12F0)) == 1000  # the client's socket, not ours
    assert owner_of(TABLE.splitlines(), (LOOP, 0xBD4D), (LOOP, 0x12F0)) is None
    assert owner_of(TABLE6.splitlines(), (LOOP, 0xBD4D), (LOOP, 0x12F0)) == 1001  # IPv4 mapped into IPv6
    assert owner_of(TABLE6.splitlines(), (LOOP6, 0xBD4E), (LOOP6, 0x12F0)) == 1002


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp")
def test_a_connection_of_this_process_is_its_own_user() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=10) as client:
            accepted, _ = server.accept()
            with accepted:
                assert same_user(accepted.getsockname(), accepted.getpeername())
                assert not same_user(accepted.getsockname(), ("127.0.0.1", client.getsockname()[1] + 1))
