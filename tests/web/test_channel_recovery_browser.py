"""Red team, the owner key seized, in a real Chromium against a real ``samizdat serve``: a reader follows a channel on
the hub's page; the police, holding the owner key, publish a definition without its recovery key, a fake call to
the square, and a claim of their own (signed by a recovery key of theirs, named in a definition they backdated to
before the real one) pointing readers at a channel of theirs. The real recovery key's claim then arrives. The
reader's phone remembers the recovery key it saw when it followed the channel, so it says the owner key was seized,
no longer shows the fake as the channel's, and leads to the real new channel, which it follows without being warned
of a look-alike (docs/safety.md, "When the owner's key is seized")."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli, publish

from samizdat.core.channel import build_channel_event, parse_channel, rebuild_channel
from samizdat.core.display import fingerprint
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.core.recovery import build_claim

pytest.importorskip("playwright")
from playwright.sync_api import expect

NAME = "Block 7 yard"
FAKE = "Everyone to the square at 18:00, bring flags"


def test_a_followed_channel_whose_owner_key_was_seized_says_so_and_leads_to_the_new_one(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    owner, recovery, new_owner = SecretKey.generate(), SecretKey.generate(), SecretKey.generate()
    police_recovery, police_owner = SecretKey.generate(), SecretKey.generate()
    now = int(time.time())
    first = build_channel_event(owner, "yard", NAME, created_at=now - 600, geohash="u9edp2",
                                recovery=recovery.public_key_hex)  # fmt: skip
    channel = parse_channel(first)
    water = build_post(owner, channel, "news", "The water is back on", created_at=now - 500)
    publish(node.url, [first, water])

    page = context.new_page()
    page.goto(f"{node.http_url}#/c/{channel.address}")
    expect(page.locator(".post").first).to_contain_text("The water is back on")
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")  # the phone remembers the recovery key from here

    # The police, with the owner key: a definition without the recovery key, a fake, and a claim of their own.
    dropped = rebuild_channel(owner, channel, created_at=now - 100, name=f"{NAME} (official)", recovery="")
    fake = build_post(owner, channel, "news", FAKE, created_at=now - 200)
    backdated = build_channel_event(owner, "yard", NAME, created_at=now - 700, recovery=police_recovery.public_key_hex)
    police_channel = parse_channel(build_channel_event(police_owner, "yard", NAME, created_at=now - 90))
    police_claim = build_claim(police_recovery, backdated, police_channel.address, since=now - 650,
                               created_at=now - 80)  # fmt: skip
    publish(node.url, [dropped, fake, police_channel.event, police_claim])
    # The owner's real claim, from the recovery file kept elsewhere, and the new channel.
    successor = parse_channel(build_channel_event(new_owner, "yard", NAME, created_at=now - 60, geohash="u9edp2"))
    claim = build_claim(recovery, first, successor.address, since=now - 300, created_at=now - 50)
    publish(node.url, [successor.event, claim])

    page.reload()  # the app opens again: what it remembered is read back from the phone
    warning = page.locator("#seized")
    expect(warning).to_contain_text("owner key was seized")
    expect(warning).to_contain_text(fingerprint(new_owner.public_key_hex))
    expect(page.locator("h1")).to_have_text(NAME)  # the definition dated after the seizure does not count
    expect(page.locator(".post").first).to_contain_text("The water is back on")
    expect(page.locator(".post").first).to_contain_text("by the former owner")
    expect(page.locator(".feed")).not_to_contain_text(FAKE)

    page.goto(node.http_url)  # the directory marks it too
    card = page.locator(f'.channel[data-address="{channel.address}"]')  # in the followed list and its place's
    expect(card.locator(".warning.seized").first).to_contain_text("Owner key seized")
    page.goto(f"{node.http_url}#/c/{channel.address}")
    expect(page.locator("#seized")).to_be_visible()

    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("#successor")
    expect(page.locator("main")).to_contain_text(f"Owner key {fingerprint(new_owner.public_key_hex)}")
    # The claim links the old and the new channel: not look-alikes. The police's copy still is one.
    collision = page.locator(".warning.collision")
    expect(collision).to_have_count(1)
    expect(collision).to_contain_text(fingerprint(police_owner.public_key_hex))
    expect(collision).not_to_contain_text(fingerprint(owner.public_key_hex))
    expect(collision).not_to_contain_text("Not the channel you follow")
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")
    assert asked == []
