"""Red team round 4, the look-alike channel, in a real Chromium against a real ``samizdat serve``.

A police-run copy of "Минск news" names itself "MИHCK news" (Latin M, H and C: the same as the real name in
capitals) and spreads to the hub. A reader who has just opened the hub's page follows nothing yet: the app
listed both channels side by side with no word that two keys used one name (the warning only compared channels
with the ones the reader already follows), and "MИHCK" was not taken for "Минск" even then. Once the reader
followed the real one, a search listed the copy *first* (Latin M sorts before Cyrillic М), and its Follow button
followed the copy at one tap, after which the warning sat on the real channel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli, publish

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event
from samizdat.core.display import fingerprint
from samizdat.core.keys import SecretKey

pytest.importorskip("playwright")
from playwright.sync_api import expect

PLACE = "BY/Minsk/Frunzenski"


def test_two_channels_with_one_name_are_both_marked_and_the_followed_one_comes_first(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    owner, police = SecretKey.generate(), SecretKey.generate()
    now = int(time.time())
    real = build_channel_event(owner, "minsk", "Минск news", place=PLACE, created_at=now - 120)
    fake = build_channel_event(police, "minsk", "MИHCK news", place=PLACE, created_at=now - 60)
    real_address = f"{kinds.CHANNEL}:{owner.public_key_hex}:minsk"
    fake_address = f"{kinds.CHANNEL}:{police.public_key_hex}:minsk"
    publish(node.url, [real, fake])

    page = context.new_page()
    page.goto(node.http_url)
    page.fill("#search", "news")
    cards = page.locator(".channels .channel")
    expect(cards).to_have_count(2)
    for address, other in ((real_address, police), (fake_address, owner)):
        warning = page.locator(f'.channel[data-address="{address}"] .warning.collision')
        expect(warning).to_contain_text("Another channel has this name")
        expect(warning).to_contain_text(fingerprint(other.public_key_hex))

    # The copy's own page, opened from a shared link, says it first too.
    page.goto(f"{node.http_url}#/c/{fake_address}")
    expect(page.locator(".warning.collision").first).to_contain_text("Another channel has this name")

    # The reader follows the real one: the copy is now "not the channel you follow", listed after it.
    page.goto(f"{node.http_url}#/c/{real_address}")
    expect(page.locator(".warning.collision").first).to_contain_text("Another channel has this name")
    page.click("text=Follow")
    expect(page.locator("text=Unfollow")).to_be_visible()
    expect(page.locator(".warning.collision")).to_have_count(0)  # the reader chose it
    page.goto(node.http_url)
    page.fill("#search", "news")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_have_attribute("data-address", real_address)
    expect(cards.nth(1)).to_have_attribute("data-address", fake_address)
    expect(cards.nth(1).locator(".warning.collision")).to_contain_text("Not the channel you follow")
    expect(cards.nth(0).locator(".warning.collision")).to_have_count(0)

    # Following the copy from its link is asked first; "no" leaves the reader following the real one only.
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.goto(f"{node.http_url}#/c/{fake_address}")
    expect(page.locator(".warning.collision").first).to_contain_text("Not the channel you follow")
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Follow")
    assert len(asked) == 1
    assert "not the channel you follow" in asked[0]
    assert fingerprint(owner.public_key_hex) in asked[0]
    page.goto(node.http_url)
    expect(page.locator(".channels.followed .channel")).to_have_count(1)
    expect(page.locator(".channels.followed .channel")).to_have_attribute("data-address", real_address)


def test_a_name_one_letter_or_a_filler_word_away_is_marked_and_asked_about_before_following(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    """Red team round 6: the copy drops a letter ("Фрунзеский район") or adds a word ("Новости: Фрунзенский
    район"), gives another place or none and a description of its own. Neither was marked; the metro station
    "Фрунзенская", a real other channel, must stay unmarked."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    owner, police, bot, metro = (SecretKey.generate() for _ in range(4))
    now = int(time.time())
    made = [
        (owner, "frunzenski", "Фрунзенский район", PLACE, "Новости района, дежурный юрист"),
        (police, "f", "Фрунзеский район", "BY/Minsk", "Безопасные адреса района"),
        (bot, "n", "Новости: Фрунзенский район", "", "Сбор у ДК сегодня в 19:00"),
        (metro, "metro", "Фрунзенская", PLACE, "Станция метро"),
    ]
    publish(node.url, [
        build_channel_event(key, d, name, place=place, about=about, created_at=now - 120 + i)
        for i, (key, d, name, place, about) in enumerate(made)
    ])  # fmt: skip
    real, dropped, added, station = (f"{kinds.CHANNEL}:{key.public_key_hex}:{d}" for key, d, *_ in made)

    page = context.new_page()
    page.goto(f"{node.http_url}#/c/{real}")
    page.click("text=Follow")
    expect(page.locator("text=Unfollow")).to_be_visible()
    page.goto(node.http_url)
    page.fill("#search", "Фрунзе")
    cards = page.locator(".channels .channel")
    expect(cards).to_have_count(4)
    expect(cards.nth(0)).to_have_attribute("data-address", real)
    for address in (dropped, added):
        warning = page.locator(f'.channel[data-address="{address}"] .warning.collision')
        expect(warning).to_contain_text("Not the channel you follow")
        expect(warning).to_contain_text("Фрунзенский район")
        expect(warning).to_contain_text(fingerprint(owner.public_key_hex))
    expect(page.locator(f'.channel[data-address="{station}"] .warning.collision')).to_have_count(0)
    expect(page.locator(f'.channel[data-address="{real}"] .warning.collision')).to_have_count(0)

    # Following the copy a letter away is asked first; "no" leaves the reader following the real one only.
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.goto(f"{node.http_url}#/c/{dropped}")
    expect(page.locator(".warning.collision").first).to_contain_text("Not the channel you follow")
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Follow")
    assert len(asked) == 1
    assert "not the channel you follow" in asked[0]
    assert "Фрунзенский район" in asked[0]
    page.goto(node.http_url)
    expect(page.locator(".channels.followed .channel")).to_have_count(1)
    expect(page.locator(".channels.followed .channel")).to_have_attribute("data-address", real)
