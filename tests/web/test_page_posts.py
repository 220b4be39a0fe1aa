"""The page carries the newest posts of the node's own and followed channels (services/start_posts.py,
web/src/embedded.js): a channel opened by link shows from the page alone, with no WebSocket; a forged or a
stranger's post put into the page is not shown; the service worker's kept copy names no channel and holds no
post; however many posts are stored, the page stays within 500 KB."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from web_helpers import PHONE, Cli

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import store_key
from samizdat.web.app import PAGE_BYTES, POSTS_BYTES, POSTS_START

OWNER, STRANGER = SecretKey(bytes([71]) * 32), SecretKey(bytes([72]) * 32)


async def store_events(home: Path, events: list[Event]) -> None:
    store = await SqliteStore.open(home / "events.sqlite", key=store_key(home))
    try:
        for start in range(0, len(events), 2000):
            await store.add_many(events[start : start + 2000])
    finally:
        await store.close()


def fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
        return body


def posts_of(body: bytes) -> list[dict[str, Any]]:
    start = body.index(POSTS_START) + len(POSTS_START)
    events: list[dict[str, Any]] = json.loads(body[start : body.index(b"</script>", start)])
    return events


def stranger_post(like: Event, text: str, created_at: int) -> Event:
    """A post in ``like``'s channel, well formed and signed, by a key with no role there."""
    return sign_event(STRANGER, kinds.POST, text, [list(t) for t in like.tags], created_at=created_at)


def followed_node(home: Path, posts: int, strangers: int = 0) -> tuple[Cli, str]:
    """A node following a channel of ``posts`` posts by its owner and ``strangers`` newer posts by a stranger."""
    cli = Cli(home)
    cli.ok("init")
    now = int(time.time())
    definition = build_channel_event(OWNER, "yard", "Yard news", created_at=now - 100_000, place="BY/Minsk")
    channel = parse_channel(definition)
    events = [definition]
    events += [build_post(OWNER, channel, "news", f"Yard post {i}: the water is back", created_at=now - 50_000 + i)
               for i in range(posts)]  # fmt: skip
    events += [stranger_post(events[1], f"Stranger {i}", now - 1000 + i) for i in range(strangers)]
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API runs a loop in this thread
        pool.submit(asyncio.run, store_events(cli.home, events)).result()
    cli.ok("follow", channel.naddr())
    return cli, channel.address


@pytest.mark.parametrize("who", ["app", "preview"])
def test_a_channel_opened_by_link_shows_from_the_page_alone(
    who: str, tmp_path: Path, module_serve: Any, browser: Any
) -> None:
    """By the app (in a browser without Web Workers: the signatures are then checked on the page's thread), and by
    the page's first script alone (the app's script cut out of the page: what a reader on a slow link sees while
    it is still arriving, web/src/first.js; the signatures checked in Web Workers)."""
    cli, address = followed_node(tmp_path / "home", 60)
    node = module_serve(cli.home)
    body = fetch(node.http_url)
    carried = posts_of(body)
    assert len([e for e in carried if e["kind"] == kinds.POST]) == 50  # the newest 50 of 60
    now = int(time.time())
    assert carried[0]["kind"] == kinds.CHANNEL  # the channel's definition, then its posts, newest first
    forged = dict(carried[1], content="FORGED text")  # the id and signature no longer hold
    intruder = stranger_post(parse_event(carried[2]), "A stranger's post", now).to_dict()
    context = browser.new_context(service_workers="block", **PHONE)  # every load of the page goes to the route
    emptied = [False]
    try:
        page = context.new_page()
        if who == "app":
            page.add_init_script("delete window.Worker")
        sockets: list[str] = []
        page.route_web_socket(re.compile(".*"), lambda ws: sockets.append(ws.url))  # never reaches the node

        def tampered(route: Any) -> None:
            response = route.fetch()
            text = response.text()
            start = text.index(POSTS_START.decode()) + len(POSTS_START)
            end = text.index("</script>", start)
            events = json.loads(text[start:end])
            events[1:2] = [forged, intruder]
            text = text[:start] + json.dumps([] if emptied[0] else events) + text[end:]
            if who == "preview":  # the app's script is the page's last
                text = text[: text.rindex("<script>")] + text[text.rindex("</script>") + len("</script>") :]
            route.fulfill(response=response, body=text)

        page.route(re.compile(r".*/$"), tampered)
        page.goto(f"{node.http_url}#/c/{address}")
        page.wait_for_selector("#follow" if who == "app" else ".first-read", timeout=30_000)  # the app's, or not
        page.wait_for_function("() => document.querySelector('.count')?.textContent === '49 posts'", timeout=30_000)
        shown = page.locator(".feed").inner_text()
        assert "Yard post 58: the water is back" in shown  # the newest but the forged one, from the page
        assert "FORGED" not in shown
        assert "stranger" not in shown
        assert sockets  # the page did open its WebSocket: it got nothing over it
        assert bool(page.workers) == (who == "preview")  # checked in Web Workers where the browser has them
        if who == "app":  # the posts shown are kept on the phone: a page without them shows them again
            emptied[0] = True
            for _ in range(20):  # until the app has written them (in batches), bounded
                page.goto(f"{node.http_url}#/c/{address}")
                page.wait_for_selector(".count")
                if page.locator(".count").inner_text() == "49 posts":
                    break
            assert page.locator(".count").inner_text() == "49 posts"
    finally:
        context.close()


def test_the_kept_copy_of_the_page_holds_no_post(tmp_path: Path, module_serve: Any, browser: Any) -> None:
    cli, address = followed_node(tmp_path / "home", 5)
    node = module_serve(cli.home)
    assert b"Yard post 4" in fetch(node.http_url)
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(f"{node.http_url}#/c/{address}")
        page.wait_for_selector(".post")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
        kept = page.evaluate(
            """async () => {
                const out = [];
                for (const name of await caches.keys()) {
                    const cache = await caches.open(name);
                    for (const request of await cache.keys()) out.push(await (await cache.match(request)).text());
                }
                return out.join('\\n');
            }"""
        )
        assert '<script type="application/json" id="posts">[]</script>' in kept
        assert '<script type="application/json" id="seed">[]</script>' in kept
        for secret in ("Yard post", "Yard news", OWNER.public_key_hex):
            assert secret not in kept
    finally:
        context.close()


def test_the_page_stays_small_whatever_is_stored(tmp_path: Path, module_serve: Any) -> None:
    """60,000 posts: 40,000 by the followed channel's owner, 20,000 newer ones by a stranger in it."""
    cli, _ = followed_node(tmp_path / "home", 40_000, strangers=20_000)
    node = module_serve(cli.home)
    body = fetch(node.http_url)
    assert len(body) <= PAGE_BYTES
    carried = posts_of(body)
    assert len(json.dumps(carried)) <= POSTS_BYTES
    assert {e["pubkey"] for e in carried} == {OWNER.public_key_hex}  # the stranger's flood is not in it
    assert "Yard post 39999: the water is back" in {e["content"] for e in carried}
