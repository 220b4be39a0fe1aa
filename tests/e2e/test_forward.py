"""A post sent straight to a node's relay (from a phone's browser, or pushed by a LAN peer) in a channel the node
owns or follows goes on to that channel's mirrors, as the node's own posts do; other channels' posts do not."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.sync.client import connect

from samizdat.core import nip19
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, parse_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess


def fetch(url: str, flt: dict[str, Any]) -> list[Event]:
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps(["REQ", "q", flt]))
        events = []
        for _ in range(1000):
            message = json.loads(ws.recv(timeout=10))
            if message[0] == "EOSE":
                return events
            if message[0] == "EVENT":
                events.append(parse_event(message[2]))
    return events


def send(url: str, event: Event) -> None:
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps(["EVENT", event.to_dict()]))
        reply = json.loads(ws.recv(timeout=10))
    assert reply[:3] == ["OK", event.id, True], reply


def test_a_phone_post_in_an_own_channel_reaches_its_mirror(
    make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess], wait_until: Callable[..., Any]
) -> None:
    hub, mirror = make_cli("hub"), make_cli("mirror")
    hub.ok("init")
    mirror.ok("init")
    mirror_node = serve(mirror.home)
    phone = SecretKey.generate()
    hub.json("channel", "create", "block7", "--name", "Block 7", "--mirror", mirror_node.url)
    hub.ok("channel", "admins", "block7", "--add", nip19.npub_encode(phone.public_key_hex), "--role", "editor")
    hub.ok("channel", "create", "other", "--name", "Not mirrored")
    hub_node = serve(hub.home)
    wait_until(lambda: fetch(mirror_node.url, {"kinds": [30333]}), 30, "the channel definitions on the mirror")

    definition = fetch(hub_node.url, {"kinds": [30333], "#d": ["block7"]})[0]
    post = build_post(phone, parse_channel(definition), "alert", "Water is off", created_at=int(time.time()),
                      location="Entrance 2")  # fmt: skip
    send(hub_node.url, post)  # what the web app does from a phone

    wait_until(lambda: fetch(mirror_node.url, {"ids": [post.id]}), 30, "the phone's post on the channel's mirror")

    # A stranger's post for a channel the hub neither owns nor follows stays where it was sent, even when that
    # channel names the same mirror: carrying it on is the stranger's business.
    stranger = SecretKey.generate()
    definition = build_channel_event(
        stranger, "elsewhere", "Elsewhere", created_at=int(time.time()), mirrors=[mirror_node.url]
    )
    send(hub_node.url, definition)
    carried = build_post(stranger, parse_channel(definition), "news", "Not ours", created_at=int(time.time()))
    send(hub_node.url, carried)
    # A later phone post reaching the mirror shows that the hub has handled the stranger's post: forwarding takes
    # posts in the order they came, and the outbox pass that delivers this one would have delivered that one.
    later = build_post(phone, parse_channel(fetch(hub_node.url, {"kinds": [30333], "#d": ["block7"]})[0]),
                       "news", "Water is back", created_at=int(time.time()))  # fmt: skip
    send(hub_node.url, later)
    wait_until(lambda: fetch(mirror_node.url, {"ids": [later.id]}), 30, "a later phone post on the mirror")
    assert fetch(mirror_node.url, {"ids": [carried.id]}) == []
    assert all(r["event"] != carried.id for r in hub.json("status")["outbox"]["pending"])
