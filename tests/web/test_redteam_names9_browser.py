"""Red team round 9, names and text that lie, in a real Chromium against a real ``samizdat serve``.

A reader follows "Гомель". The police publish "Гомиль" in the same place (a letter changed), "Гоемль" in another
(two letters swapped) and "Гомель news" with a Latin "e" (mixed alphabets and a filler word): the app marked none
of them, as it compared only words of 7 letters or more and never a one-word name with other filler words. The
share code of a channel whose definition names a mirror with a zero-width space carried that mirror as a relay
hint, which ``samizdat follow`` then refused whole ("this naddr is malformed: a relay address is not ASCII")."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli, publish

from samizdat.core import kinds, nip19
from samizdat.core.channel import build_channel_event
from samizdat.core.display import fingerprint
from samizdat.core.keys import SecretKey

pytest.importorskip("playwright")
from playwright.sync_api import expect


def test_short_names_a_letter_away_are_marked_and_a_share_code_keeps_to_ascii_hints(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    owner, changed, swapped, mixed, other = (SecretKey.generate() for _ in range(5))
    now = int(time.time())
    made = [
        (owner, "homel", "Гомель", "BY/Homel", ["wss://relay.example.org"]),
        (changed, "h", "Гомиль", "BY/Homel", ["wss://relay\u200b.example.org", "wss://relay.example.org"]),
        (swapped, "h", "Гоемль", "BY/Minsk", []),
        (mixed, "h", "Гомeль news", "", []),  # a Latin e
        (other, "h", "Гомель news", "BY/Homel", []),  # the real name and a filler: not a look-alike
    ]
    publish(node.url, [
        build_channel_event(key, d, name, place=place, mirrors=mirrors, created_at=now - 120 + i)
        for i, (key, d, name, place, mirrors) in enumerate(made)
    ])  # fmt: skip
    real, *fakes, news = (f"{kinds.CHANNEL}:{key.public_key_hex}:{d}" for key, d, *_ in made)

    page = context.new_page()
    page.goto(f"{node.http_url}#/c/{real}")
    page.click("text=Follow")
    expect(page.locator("text=Unfollow")).to_be_visible()
    page.goto(node.http_url)
    page.fill("#search", "Го")
    cards = page.locator(".channels .channel")
    expect(cards).to_have_count(5)
    expect(cards.nth(0)).to_have_attribute("data-address", real)
    for address in fakes:
        warning = page.locator(f'.channel[data-address="{address}"] .warning.collision')
        expect(warning).to_contain_text("Not the channel you follow")
        expect(warning).to_contain_text("Гомель")
        expect(warning).to_contain_text(fingerprint(owner.public_key_hex))
    expect(page.locator(f'.channel[data-address="{real}"] .warning.collision')).to_have_count(0)
    # "Гомель news" in the same place is the real name and more: marked since round 4 (one inside the other).
    expect(page.locator(f'.channel[data-address="{news}"] .warning.collision')).to_contain_text(
        "Not the channel you follow"
    )

    # The look-alike's share code: only the mirror written in printable ASCII goes in as a hint.
    page.goto(f"{node.http_url}#/c/{fakes[0]}")
    expect(page.locator(".warning.collision").first).to_contain_text("Not the channel you follow")
    page.click("details.share summary")
    code = page.locator("details.share code.naddr")
    expect(code).to_contain_text("naddr1")
    pointer = nip19.naddr_decode(code.inner_text().strip())  # as `samizdat follow` reads it
    assert list(pointer.relays) == ["wss://relay.example.org"]
