"""A laptop with an encrypted node, switched off and imaged by the police, and the stick found with it (red team,
round 7b in docs/safety.md).

One realistic session, on a real ext4 file system (made in a file and loop-mounted, as in test_seized_round3.py;
the commands' home and temporary folders on it too): an owner's node and a reader's node, both encrypted; a
channel with a place, a mirror (nostr-sdk's LocalRelay) and its recovery file written to a stick; posts, one with a
photo; a second channel imported from a bundle and vouched for; a plain and a sealed export to the stick; an
operator code; a LAN peer added by hand; ``serve --workers 2`` with a phone's page, status, a full-text search and a
share asked over HTTP and WebSocket; the reader syncing the channel and its photo from that serve, then its own
``serve`` killed with ``kill -9``. Then every byte of the unmounted image, free blocks included, is searched:

- for the channels' names, the posts, the search term, the relay's and the peer's addresses, the keys (public, npub,
  secret in hex and raw), the vouch's reason, the operator code, the phone's share and WebP photo bytes: none;
- for a file per photo: before, each photo was a file of its own, encrypted, whose size was the photo's size plus
  36 bytes (which every post's ``imeta`` tag makes public: matched against the relays' posts, the sizes told which
  photos the device held) and whose birth time was, to the second, the ``created_at`` of the post its author made
  with it (the device was the author); now the photos are rows of the encrypted photo index;

and the stick alone: the recovery file named the channel, its address, its owner's key, its mirror and its place
in plain text (now sealed under the file's password); a channel's bundle carried the deletion requests its owner
made in other channels (their reasons, the ids and the other channel's place), now only its own.

Root is needed to mount; the tools are e2fsprogs and mount (scripts/apt/forensic.txt).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from test_seized_round3 import Disk, disk, found_in, on_disk  # noqa: F401 - disk, on_disk: fixtures
from websockets.sync.client import connect
from websockets.typing import Origin

import photo_samples as samples
from conftest import Cli, LocalRelayProcess, ServeProcess
from samizdat.core.bundle import RawEvent
from samizdat.core.bundle_reader import BundleReader
from samizdat.store.blobs import INDEX, KEYCHECK
from samizdat.testing import TEST_PASSPHRASE, node_keys

CHANNEL = "Kastrychnitski night watch"
PLACE = "u9edp2"
OTHER = "Zavodski mutual aid 4412"
POSTS = [f"Riot police buses parked behind the tractor works, column {n}" for n in range(3)]
PHOTO_POST = "Second column turning onto Partyzanski 5521"
OTHER_POST = "Zavodski water queue at the school 8812"
SEARCH = "tractorworks9931"
REASON = "I know the people of this yard 7731"
PEER = "192.168.77.51"
PASSWORD = "a long stick password 2291"
RETRACTED = "Safe flat at Kuprevicha 3, ask for Ales 6620"
RETRACT_REASON = "Flat 6620 is burnt, do not go"


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        body: bytes = answer.read()
    return body


def ask(url: str, wanted: dict[str, Any]) -> list[dict[str, Any]]:
    """A REQ as a phone's app or a client sends it: the events until EOSE."""
    found: list[dict[str, Any]] = []
    with connect(url, open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps(["REQ", "q", wanted]))
        for _ in range(500):
            message = json.loads(ws.recv(timeout=30))
            if message[0] != "EVENT":
                break
            found.append(message[2])
    return found


def operator_login(node: ServeProcess, code: str) -> str:
    """Log in at ``/op`` as the web app does with a login link (an HMAC of the code's hash, never the code), and
    return the session code's hash that both sides then work out; fails the test unless the node says yes."""
    digest = hashlib.sha256(code.encode()).hexdigest()
    with connect(node.url + "/op", origin=Origin(node.http_url.rstrip("/")), open_timeout=10) as ws:
        ws.send(json.dumps({"login": "challenge"}))
        challenge = json.loads(ws.recv(timeout=30))["challenge"]
        ws.send(json.dumps({"proof": hmac.new(bytes.fromhex(digest), f"samizdat operator login {challenge}".encode(),
                                              hashlib.sha256).hexdigest()}))  # fmt: skip
        answer = json.loads(ws.recv(timeout=30))
    assert answer.get("ok") is True, answer
    session = hmac.new(bytes.fromhex(digest), f"samizdat operator session {challenge}".encode(), hashlib.sha256)
    return hashlib.sha256(session.hexdigest().encode()).hexdigest()


async def secret_key(home: Path) -> bytes:
    from samizdat.node import Node

    node = await Node.open(home, keys=node_keys(home))
    try:
        return bytes(node.ctx.key.secret)
    finally:
        await node.close()


def photo_files(home: Path) -> list[str]:
    """The files of a node's photo store but its index and key check: what ``ls -l`` shows an examiner."""
    return [p.name for p in (home / "blobs").iterdir() if not p.name.startswith((INDEX, KEYCHECK))]


def sizes(home: Path) -> set[int]:
    return {p.stat().st_size for p in home.rglob("*") if p.is_file()}


def bundle_events(path: Path) -> list[dict[str, Any]]:
    """The events of a plain bundle file, as anyone who finds it reads them."""
    reader = BundleReader()
    items = reader.feed(path.read_bytes()) + reader.close()
    return [item.value for item in items if isinstance(item, RawEvent)]


def test_an_encrypted_nodes_disk_and_its_stick_give_no_channel_post_key_or_photo_after_a_session(
    on_disk: Disk,  # noqa: F811 - the fixture of test_seized_round3
    cli_for: type[Cli],
    local_relay: LocalRelayProcess,
    serve: Callable[..., ServeProcess],
    tmp_path: Path,
) -> None:
    stick = tmp_path / "stick"  # another device: searched file by file
    stick.mkdir()
    owner = cli_for(on_disk.mount / "user" / ".samizdat")
    reader = cli_for(on_disk.mount / "user" / "reader")
    owner.ok("init")
    reader.ok("init")
    made = owner.typed([TEST_PASSPHRASE, PASSWORD], "channel", "create", "nightwatch", "--name", CHANNEL,
                       "--geohash", PLACE, "--mirror", local_relay.url,
                       "--recovery-file", str(stick / "nightwatch.recovery"), "--json")  # fmt: skip
    assert made.code == 0, made.err
    channel = made.json()
    for text in POSTS:
        owner.ok("post", "nightwatch", text)
    photo = tmp_path / "column.jpg"  # the camera's file: the owner's, off the laptop's disk
    photo.write_bytes(samples.loaded_jpeg(samples.coffee()))
    owner.ok("post", "nightwatch", PHOTO_POST, "--photo", str(photo), "--alt", "A column of vans")
    other = reader.json("channel", "create", "aid", "--name", OTHER, "--geohash", "u9edp3")
    reader.ok("post", "aid", OTHER_POST)
    reader.ok("export", "-o", str(stick / "aid.bundle"), "--channel", "aid")
    owner.ok("import", str(stick / "aid.bundle"))
    owner.ok("vouch", other["naddr"], "--reason", REASON)
    owner.ok("export", "-o", str(stick / "notes.bin"), "--channel", "nightwatch")
    sealing = owner.typed([TEST_PASSPHRASE, "rain over the square", "rain over the square"], "export", "-o",
                          str(stick / "backup.bin"), "--channel", "nightwatch", "--seal")  # fmt: skip
    assert sealing.code == 0, sealing.err
    code = owner.json("web", "login")["token"]
    unused = owner.json("web", "login")["token"]  # a second phone's link, not opened yet
    owner.ok("peers", "add", f"ws://{PEER}:4848")
    owner.ok("sync", local_relay.url, "--direction", "up")

    node = serve(owner.home, "--workers", "2")
    assert CHANNEL.encode() in get(node.http_url)  # the phone's page, with the channel in its seed
    get(node.http_url + "api/status")
    assert any(e["content"] == POSTS[0] for e in ask(node.url, {"search": "tractor", "limit": 5}))
    ask(node.url, {"search": SEARCH, "limit": 5})
    share = json.loads(get(node.http_url + "api/share/" + "ab" * 16))["s"]
    session = operator_login(node, code)  # a worker of the two: it opens the sealed hash
    reader.ok("follow", channel["naddr"])
    reader.ok("sync", node.url)
    assert node.stop() == 0
    (with_photo,) = [p for p in reader.json("feed", channel["naddr"]) if p["text"] == PHOTO_POST]
    public_size = with_photo["photos"][0]["size"]  # what the post's imeta tag tells every relay's reader
    reader.ok("photo", "get", f"{with_photo['id']}:1", "-o", str(tmp_path / "received.webp"))  # stored: no server

    reading = serve(reader.home)
    assert ask(reading.url, {"search": "column", "limit": 5})
    reading.process.send_signal(signal.SIGKILL)  # a power cut, or a kill -9
    reading.process.wait(15)

    assert (tmp_path / "received.webp").stat().st_size == public_size
    assert photo_files(owner.home) + photo_files(reader.home) == [], "a file per photo: its size and birth time"
    assert public_size + 36 not in sizes(owner.home) | sizes(reader.home)
    secrets = {who: asyncio.run(secret_key(cli.home)) for who, cli in (("owner", owner), ("reader", reader))}
    # What a browser proves it holds at login: the session's hash and an unused link's (a used link's is spent)
    hashes = [session, hashlib.sha256(unused.encode()).hexdigest()]
    needles = [CHANNEL, OTHER, *POSTS, PHOTO_POST, OTHER_POST, SEARCH, REASON, PEER, code, unused, *hashes, share,
               f"127.0.0.1:{local_relay.port}", channel["address"], channel["naddr"], other["address"]]  # fmt: skip
    for cli in (owner, reader):
        keys = cli.json("keys", "show")
        needles += [keys["npub"], keys["pubkey"]]
    needles += [key.hex() for key in secrets.values()]

    recovery = (stick / "nightwatch.recovery").read_bytes()
    owner_key = owner.json("keys", "show")
    on_the_stick = [CHANNEL, PLACE, channel["address"], owner_key["pubkey"], owner_key["npub"],
                    f"127.0.0.1:{local_relay.port}"]  # fmt: skip
    assert found_in(recovery, on_the_stick) == [], "the recovery file tells whose channel it is"
    assert b"ncryptsec1" in recovery

    raw = on_disk.raw()
    assert found_in(raw, needles) == []
    assert [who for who, key in secrets.items() if key in raw] == []
    assert b"WEBPVP8" not in raw  # no photo's bytes


def test_a_channels_bundle_carries_no_deletion_its_owner_made_in_another_channel(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    made = cli.json("channel", "create", "nightwatch", "--name", CHANNEL, "--geohash", PLACE)
    cli.ok("channel", "create", "flats", "--name", "Safe flats 6620", "--geohash", "u9edqq")
    cli.ok("post", "nightwatch", POSTS[0])
    (gone,) = cli.json("post", "nightwatch", POSTS[1])["ids"]
    cli.ok("retract", gone, "--reason", "Not confirmed")
    (retracted,) = cli.json("post", "flats", RETRACTED)["ids"]
    cli.ok("retract", retracted, "--reason", RETRACT_REASON)

    stick = tmp_path / "stick"
    stick.mkdir()
    cli.ok("export", "-o", str(stick / "notes.bin"), "--channel", "nightwatch")
    events = bundle_events(stick / "notes.bin")
    text = json.dumps(events)
    assert RETRACT_REASON not in text
    assert retracted not in text
    assert "u9edqq" not in text
    deletions = [e for e in events if e["kind"] == 5]
    assert [t[1] for e in deletions for t in e["tags"] if t[0] == "e"] == [gone]  # its own still travels

    cli.ok("export", "-o", str(stick / "flats.bin"), "--channel", "flats")
    (deletion,) = [e for e in bundle_events(stick / "flats.bin") if e["kind"] == 5]
    assert ["e", retracted] in deletion["tags"]  # with the channel it concerns
    reader = Cli(tmp_path / "reader")
    reader.ok("init")
    reader.ok("import", str(stick / "notes.bin"))
    assert POSTS[0] in [post["text"] for post in reader.json("feed", made["naddr"])]
