"""Which requests from the node's own machine are refused (relay/http.py, ``refused_on_this_machine``): a browser
asking by a name that is not the node's (DNS rebinding), a page of another site; and which are not: relay
clients, a proxy on this machine forwarding them by a public name, an onion service, other addresses."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from websockets.datastructures import Headers

from samizdat.relay.http import OTHER_SITE, REBOUND, from_this_machine, refused_on_this_machine

BROWSER = ("Sec-Fetch-Site", "same-origin")


@dataclass
class Peer:
    """What the server knows of a connection: the peer's address and the address it came in on."""

    remote_address: tuple[str, int]
    local_address: tuple[str, int] = ("127.0.0.1", 4848)
    proxied: bool = False


LOOPBACK = Peer(("127.0.0.1", 50000))


@pytest.mark.parametrize(
    ("peer", "mine"),
    [
        (LOOPBACK, True),
        (Peer(("::ffff:127.0.0.1", 1), ("::ffff:127.0.0.1", 4848)), True),
        (Peer(("192.168.1.5", 50000), ("192.168.1.5", 4848)), True),  # this machine at its own LAN address
        (Peer(("192.168.1.7", 50000), ("192.168.1.5", 4848)), False),  # a neighbour
        (Peer(("127.0.0.1", 50000), proxied=True), False),  # a balancer's client
    ],
)
def test_which_connections_come_from_this_machine(peer: Peer, mine: bool) -> None:
    assert from_this_machine(peer) is mine


@pytest.mark.parametrize(
    ("peer", "headers", "refused"),
    [
        # the node's own page, the command line, a relay client: answered
        (LOOPBACK, [("Host", "127.0.0.1:4848"), ("Origin", "http://127.0.0.1:4848"), BROWSER], None),
        (LOOPBACK, [("Host", "localhost:4848"), ("Origin", "http://127.0.0.1:4848")], None),
        (LOOPBACK, [("Host", "127.0.0.1:4848")], None),
        # a bookmark, or an address typed or pasted: answered
        (
            LOOPBACK,
            [
                ("Host", "127.0.0.1:4848"),
                ("Sec-Fetch-Site", "none"),
                ("Sec-Fetch-Mode", "navigate"),
                ("Sec-Fetch-Dest", "document"),
            ],
            None,
        ),  # fmt: skip
        # a page of another site, a link or a popup it opens included: refused
        (
            LOOPBACK,
            [
                ("Host", "127.0.0.1:4848"),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "navigate"),
                ("Sec-Fetch-Dest", "document"),
            ],
            OTHER_SITE,
        ),  # fmt: skip
        (LOOPBACK, [("Host", "127.0.0.1:4848"), ("Origin", "https://evil.example")], OTHER_SITE),
        (LOOPBACK, [("Host", "127.0.0.1:4848"), ("Origin", "null")], OTHER_SITE),
        (
            LOOPBACK,
            [
                ("Host", "127.0.0.1:4848"),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "no-cors"),
                ("Sec-Fetch-Dest", "image"),
            ],
            OTHER_SITE,
        ),  # fmt: skip
        (
            LOOPBACK,
            [
                ("Host", "127.0.0.1:4848"),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "navigate"),
                ("Sec-Fetch-Dest", "iframe"),
            ],
            OTHER_SITE,
        ),  # fmt: skip
        # DNS rebinding: a browser asking by the site's own name
        (LOOPBACK, [("Host", "evil.example:4848"), BROWSER], REBOUND),
        (LOOPBACK, [("Host", "evil.example:4848"), ("User-Agent", "Mozilla/5.0")], REBOUND),
        (LOOPBACK, [("Host", "[::1"), ("Origin", "http://[::1")], REBOUND),
        # a proxy on this machine (TLS in front) forwarding a relay client by the relay's public name: answered
        (LOOPBACK, [("Host", "relay.example.org"), ("User-Agent", "nostr-sdk/0.39")], None),
        # ... and a browser through it when the name was given; an onion service always
        (LOOPBACK, [("Host", "given.example"), ("Origin", "https://client.example"), BROWSER], None),
        (LOOPBACK, [("Host", "abcdefabcdef.onion"), ("Origin", "http://abcdefabcdef.onion"), BROWSER], None),
        # another address: not judged here (a hub serves its network)
        (Peer(("192.168.1.7", 50000), ("192.168.1.5", 4848)), [("Host", "evil.example"), BROWSER], None),
        (Peer(("192.168.1.5", 50000), ("192.168.1.5", 4848)), [("Host", "evil.example"), BROWSER], REBOUND),
    ],
)
def test_what_is_refused_from_this_machine(peer: Peer, headers: list[tuple[str, str]], refused: str | None) -> None:
    assert refused_on_this_machine(peer, Headers(headers), names=("given.example",)) == refused
