"""A turned admin's flood, as a reader sees it on a phone (real ``samizdat serve``, real Chromium): an admin whose
key the police hold sends 3,100 alerts, all newer than the owner's one alert. The channel shows the admin's three
newest, then one line "+ 3097 posts by the same author", then the owner's alert, on the first screen; the line
opens the run in its place. The phone's offline cache, full at 3,000 posts, keeps the owner's alert (cache.js:
a fair share per author), so it is still there offline."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_start_page import store_flood
from web_helpers import Cli, phone_page

from samizdat.core import kinds, nip19
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey

pytest.importorskip("playwright")
from playwright.sync_api import expect

expect.set_options(timeout=60_000)

FLOOD = 3100  #: more than the 3,000 posts a phone keeps of a channel
OWNERS = "Owner: police at the market gate, keep away"


def test_the_owners_alert_shows_above_a_flood_and_stays_offline(
    tmp_path: Path, browser: Any, module_serve: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    turned = SecretKey.generate()
    town = cli.json("channel", "create", "town", "--name", "Town", "--place", "BY/Minsk")["address"]
    cli.ok("channel", "admins", "town", "--add", nip19.npub_encode(turned.public_key_hex), "--role", "admin")
    owners = cli.json("post", "town", "--type", "alert", OWNERS, "--place", "Market gate", "--expires", "6h")
    now = int(time.time())
    flood = [
        sign_event(
            turned,
            kinds.POST,
            f"Fake all-clear {n}",
            [["a", town, ""], ["type", "alert"], ["location", f"Exit {n}"], ["expiration", str(now + 6 * 3600)]],
            created_at=now + 1 + n % 600,
        )
        for n in range(FLOOD)
    ]
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API runs a loop in this thread
        pool.submit(asyncio.run, store_flood(cli.home, flood)).result()
    node = module_serve(cli.home)
    with phone_page(browser, timeout=60_000) as page:
        page.goto(f"{node.http_url}#/c/{town}")
        fold = page.locator("button.more")
        expect(fold).to_have_text(f"+ {FLOOD - 3} posts by the same author ({turned.public_key_hex[:8]})")
        alert = page.locator(f'.post[data-id="{owners["ids"][0]}"]')
        expect(alert).to_be_in_viewport()  # on the first screen, no scrolling past the flood
        # Kept offline: the cache, past its 3,000 posts, keeps the owner's alert among them.
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        page.wait_for_function(
            """() => new Promise((done) => { const r = indexedDB.open('data');
              r.onsuccess = () => { const q = r.result.transaction('records').objectStore('records').count();
                q.onsuccess = () => { r.result.close(); done(q.result <= 3010); }; }; })""",
            polling=500,
        )
        page.context.set_offline(True)
        page.reload()
        expect(page.locator("#conn")).to_have_text("offline")
        expect(alert).to_be_in_viewport()
        expect(fold).to_contain_text("by the same author")
        # A tap opens the run in its place: the admin's posts follow one another, the owner's alert below them.
        fold.click()
        expect(fold).to_have_count(0)
        expect(page.locator(".post").nth(4)).to_contain_text("Fake all-clear")
