"""Red team round 8, the turned admin, as a reader sees it on a phone (real ``samizdat`` commands, real ``samizdat
serve``, real Chromium). An admin, honest until arrested, had withdrawn a fake safe place an editor's seized key
posted; the owner removes the arrested admin (``channel admins --remove --since``); then the police, with the
admin's key, send a correction of the admin's own safe place, dated a second before the removal, that moves it to
where they wait. The phone shows the safe place where it was, says a correction by the removed key is not applied,
and still shows the editor's fake as retracted (the owner's node signed that retraction again on the removal:
before, removing the admin put the fake back, and the backdated correction moved the place)."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_start_page import store_flood
from web_helpers import Cli, phone_page

from samizdat.core import kinds, nip19
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey

pytest.importorskip("playwright")
from playwright.sync_api import expect

expect.set_options(timeout=60_000)

SAFE, TRAP = "Flat 3, Lenina 5", "Yard of Lenina 40"


def _post(key: SecretKey, address: str, post_type: str, text: str, at: int, *tags: list[str]) -> Event:
    return sign_event(key, kinds.POST, text, [["a", address, ""], ["type", post_type], *tags], created_at=at)


def _store(home: Path, events: list[Event]) -> None:
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API runs a loop in this thread
        pool.submit(asyncio.run, store_flood(home, events)).result()


def test_a_removed_admins_backdated_correction_and_their_retractions_on_the_phone(
    tmp_path: Path, browser: Any, module_serve: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    turned, editor = SecretKey.generate(), SecretKey.generate()
    yard = cli.json("channel", "create", "yard", "--name", "Yard")["address"]
    cli.ok("channel", "admins", "yard", "--add", nip19.npub_encode(turned.public_key_hex), "--role", "admin")
    cli.ok("channel", "admins", "yard", "--add", nip19.npub_encode(editor.public_key_hex), "--role", "editor")
    now = int(time.time())
    place = _post(turned, yard, "safe-place", "Tea and a charger", now - 7200, ["location", SAFE])
    fake = _post(editor, yard, "safe-place", "Doctors here", now - 7100, ["location", TRAP])
    withdrawn = _post(turned, yard, "retraction", "A police trap", now - 7000,
                      ["e", fake.id, "", "retraction", editor.public_key_hex])  # fmt: skip
    _store(cli.home, [place, fake, withdrawn])
    arrest = now - 1800
    removed = cli.ok("channel", "admins", "yard", "--remove", nip19.npub_encode(turned.public_key_hex),
                     "--since", str(arrest), "--keep-all")  # kept after a look (round 12)  # fmt: skip
    assert "Kept 1 retraction(s) or correction(s) the removed key made before its removal" in removed.out
    moved = _post(turned, yard, "correction", "Moved: come to the yard", arrest - 1, ["location", TRAP],
                  ["e", place.id, "", "correction", turned.public_key_hex])  # fmt: skip
    _store(cli.home, [moved])

    node = module_serve(cli.home)
    with phone_page(browser, timeout=60_000) as page:
        page.goto(f"{node.http_url}#/c/{yard}")
        safe = page.locator(f'.post[data-id="{place.id}"]')
        expect(safe).to_contain_text(SAFE)
        expect(safe).to_contain_text("by a former admin")
        expect(safe.locator(".unapplied")).to_have_text(
            "A correction by its removed key is not applied (it can date it before its removal): ask the channel "
            "before you go."
        )
        expect(safe).not_to_contain_text(TRAP)
        trap = page.locator(f'.post[data-id="{fake.id}"]')
        expect(trap).to_have_class(re.compile(r"\bretracted\b"))
        expect(trap).to_contain_text("A police trap")
