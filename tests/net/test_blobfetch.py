"""Which URLs named by a post or a channel the node will fetch a photo from (net/blobfetch.py may_follow)."""

from __future__ import annotations

import pytest

from samizdat.core.imeta import PhotoRef
from samizdat.net.blobfetch import may_follow
from samizdat.services.blob_travel import _candidates

SHA = "ab" * 32


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[fe80::1]/x",
        "http://[::ffff:169.254.169.254]/x",  # the same, as IPv4-mapped IPv6
        "http://0.0.0.0:8080/x",
        "http://224.0.0.1/x",
        "http://255.255.255.255/x",
        "file:///etc/passwd",
        "ftp://example.org/x",
        "http:///x",
    ],
)
def test_urls_a_post_may_not_point_the_node_at(url: str) -> None:
    assert not may_follow(url)


@pytest.mark.parametrize(
    "url",
    ["https://media.example.org/x.webp", "http://192.168.1.5:4848/x", "http://127.0.0.1:4848/x", "http://[::1]/x"],
)
def test_media_servers_on_the_internet_the_lan_or_this_machine_are_fetched_from(url: str) -> None:
    assert may_follow(url)


def test_a_posts_link_local_urls_are_never_tried_but_peers_are() -> None:
    ref = PhotoRef(SHA, f"http://169.254.169.254/{SHA}.webp")
    tried = _candidates(ref, SHA, ["http://10.0.0.7:4848"], ["http://[fe80::2]:80", "https://media.example.org"])
    assert tried == [f"http://10.0.0.7:4848/{SHA}.webp", f"https://media.example.org/{SHA}.webp"]
