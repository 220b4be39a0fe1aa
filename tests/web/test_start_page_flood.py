"""A turned admin's flood and the first paint: the posts ``samizdat serve`` builds into its page for a followed
channel (services/start_posts.py) hold the owner's alert, however many newer alerts a seized admin key sent, so
a reader who opens the channel by link sees the alert before the app has asked the relay for anything."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from test_page_posts import fetch, posts_of, store_events
from web_helpers import Cli

from samizdat.core import kinds
from samizdat.core.channel import ADMIN, build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post

OWNER, SEIZED = SecretKey(bytes([73]) * 32), SecretKey(bytes([74]) * 32)
FLOOD = 400


def test_the_owners_alert_is_in_the_page_despite_an_admins_flood(tmp_path: Any, module_serve: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    now = int(time.time())
    definition = build_channel_event(OWNER, "yard", "Yard news", created_at=now - 100_000, place="BY/Minsk",
                                     admins={SEIZED.public_key_hex: ADMIN})  # fmt: skip
    channel = parse_channel(definition)
    alert = build_post(OWNER, channel, "alert", "Riot police at the north gate", location="North gate",
                       created_at=now - 3600)  # fmt: skip
    flood = [build_post(SEIZED, channel, "alert", f"All clear, come out {i}", location="Yard",
                        created_at=now - 1800 + i) for i in range(FLOOD)]  # fmt: skip
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API may run a loop in this thread
        pool.submit(asyncio.run, store_events(cli.home, [definition, alert, *flood])).result()
    cli.ok("follow", channel.naddr())

    node = module_serve(cli.home)
    carried = {e["id"] for e in posts_of(fetch(node.http_url)) if e["kind"] == kinds.POST}

    assert alert.id in carried, "the owner's alert is not in the page"
    assert carried & {e.id for e in flood}, "the admin's newest posts are in the page too"
