"""The start page never grows with hostile data: whatever channel definitions strangers store, the page that
``samizdat serve`` sends stays within 500 KB, lists the node's own, followed and vouched channels, and carries
no invalid definition; it is rebuilt only when something changed."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from web_helpers import Cli
from websockets.datastructures import Headers

from samizdat.core import kinds, nip19
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_vouch
from samizdat.errors import RemoteProtocolError
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock, store_key
from samizdat.web.app import PAGE_BYTES, SEED_MARK, SEED_START, WebApp

HOSTILE = 20_000
ABOUT = "Официальный канал района: новости, тревоги, просьбы о помощи. " * 10  # 620 characters
NAME = "Официальный канал " + "Ж" * 80  # 98 characters: as long as a name may be


def hostile(key: SecretKey, n: int, now: int) -> Event:
    """One of a stranger's flood of definitions, all newer than the channels the node cares about: valid and
    bulky, valid but with 1,200 junk tags, or invalid in one of several ways (those carry a ``marker`` tag)."""
    tags = [["d", f"flood-{n}"], ["name", NAME], *[["t", f"tag-{i}"] for i in range(8)]]
    about = ABOUT
    match n % 20:
        case 0:  # valid, 1,200 tags
            tags += [["junk", f"{i:06}"] for i in range(1200)]
        case 1 | 2 | 3 | 4:  # a name of 4,000 characters
            tags[1] = ["name", "INVALID " * 500]
        case 5 | 6:  # no slug, and a description far too long
            tags[0], about = ["d", f"NOT A SLUG {n}"], ABOUT * 8
        case 7 | 8:  # a mirror that is no relay
            tags.append(["r", "javascript:alert(1)"])
        case 9:  # two names
            tags.append(["name", "Second name"])
        case _:
            return sign_event(key, kinds.CHANNEL, about, tags, created_at=now)
    if n % 20:
        tags.append(["marker", "invalid"])
    return sign_event(key, kinds.CHANNEL, about, tags, created_at=now)


async def store_flood(home: Path, events: list[Event]) -> None:
    store = await SqliteStore.open(home / "events.sqlite", key=store_key(home))
    try:
        for start in range(0, len(events), 1000):
            await store.add_many(events[start : start + 1000])
    finally:
        await store.close()


def page(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
        return body


def seed_of(body: bytes) -> list[dict[str, Any]]:
    start = body.index(SEED_START) + len(SEED_START)
    events: list[dict[str, Any]] = json.loads(body[start : body.index(b"</script>", start)])
    return events


async def test_hostile_definitions_do_not_grow_the_page(tmp_path: Path, module_serve: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    own = cli.json("channel", "create", "yard", "--name", "Our yard")
    owner, verifier, city_owner = (SecretKey(bytes([n]) * 32) for n in (41, 42, 43))
    now = int(time.time())
    followed = build_channel_event(owner, "district", "District news", created_at=now - 86400)
    vouched = build_channel_event(city_owner, "city", "City news", created_at=now - 86400)
    vouch = build_vouch(verifier, parse_channel(vouched), created_at=now - 3600)
    strangers = [SecretKey(bytes([60 + i]) * 32) for i in range(8)]
    flood = [hostile(strangers[n % 8], n, now) for n in range(HOSTILE)]
    await store_flood(cli.home, [followed, vouched, vouch, *flood])
    cli.ok("follow", nip19.naddr_encode(kinds.CHANNEL, owner.public_key_hex, "district", []))
    cli.ok("follow", nip19.npub_encode(verifier.public_key_hex))

    node = module_serve(cli.home)
    body = page(node.http_url)
    assert len(body) <= PAGE_BYTES
    seeded = [parse_event(raw) for raw in seed_of(body)]
    addresses = {f"{e.kind}:{e.pubkey}:{e.d_tag}" for e in seeded}
    assert {own["address"], f"{kinds.CHANNEL}:{owner.public_key_hex}:district",
            f"{kinds.CHANNEL}:{city_owner.public_key_hex}:city"} <= addresses  # fmt: skip
    assert not any(e.first_tag("marker") for e in seeded)  # no invalid definition
    for event in seeded:
        try:
            parse_channel(event)
        except RemoteProtocolError as exc:
            raise AssertionError(f"an invalid definition in the page: {exc}") from exc
    assert len(seeded) > 50  # the room left goes to others' valid channels
    assert page(node.http_url) == body  # nothing changed: the same page


async def test_the_page_is_rebuilt_only_when_something_changed(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_bytes(b"<!doctype html><title>Samizdat</title>" + SEED_MARK + b"<p>app</p>")
    clock = FakeClock(100.0)
    version, calls = [1], []
    definition = {"kind": 30333, "created_at": 5, "content": "x" * 1000, "tags": []}

    async def seed() -> list[dict[str, Any]]:
        calls.append(version[0])
        return [dict(definition, created_at=n) for n in range(1000)]  # 1 MB: more than a page may hold

    async def seed_version() -> int:
        return version[0]

    app = WebApp(lambda: {}, seed=seed, seed_version=seed_version, directory=tmp_path, clock=clock)

    async def get() -> bytes:
        result = await app("/", Headers())
        assert result is not None
        return result[2]

    first = await get()
    assert len(first) <= PAGE_BYTES
    assert seed_of(first)[0]["created_at"] > seed_of(first)[-1]["created_at"]  # newest first
    clock.advance(60)
    assert await get() == first
    assert calls == [1]  # the store did not change: not rebuilt
    version[0] = 2
    await get()  # a moment after the last check: the page of then
    clock.advance(60)
    await get()
    assert calls == [1, 2]
    version[0] = 3
    clock.advance(60)
    burst = await asyncio.gather(*(get() for _ in range(10)))  # many phones at once: one build, others wait not
    assert calls == [1, 2, 3]
    assert all(len(body) <= PAGE_BYTES for body in burst)
