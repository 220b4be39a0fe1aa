"""Red team, authenticity, in a real browser against a real ``samizdat serve``: a channel's owner is not a
verifier. An impostor makes a channel, posts a fake alert in it and labels his own post "confirmed": the channel
page once showed it with the badge "confirmed by 1", which readers take for a verifier's word (docs/protocol.md:
labels from verifiers the reader does not follow are not shown)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from web_helpers import Cli, phone_page, publish

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_label, build_post

pytest.importorskip("playwright")
from playwright.sync_api import expect


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with phone_page(browser) as page:
        yield page


def test_an_owners_label_on_his_own_post_is_no_badge(tmp_path: Any, module_serve: Any, page: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    impostor, verifier = SecretKey.generate(), SecretKey.generate()
    now = int(time.time())
    definition = build_channel_event(impostor, "frunzenski", "Frunzenski district", created_at=now - 60)
    channel = parse_channel(definition)
    alert = build_post(impostor, channel, "news", "The metro is closed, walk to Kupalovskaya", created_at=now - 30)
    own_word = build_label(impostor, alert, "confirmed", "We checked", created_at=now - 20)
    other = build_post(impostor, channel, "news", "Queues at the bakery", created_at=now - 40)
    verified = build_label(verifier, other, "disputed", "Not seen", created_at=now - 10)
    publish(node.url, [definition, alert, own_word, other, verified])

    page.goto(f"{node.http_url}#/keys")  # the reader follows one verifier, who disputes the other post
    page.fill("[name=verifier]", verifier.public_key_hex)
    page.click("text=Add")
    expect(page.locator(".verifiers li")).to_have_count(1)
    page.goto(f"{node.http_url}#/c/{kinds.CHANNEL}:{impostor.public_key_hex}:frunzenski")
    expect(page.locator(f'.post[data-id="{other.id}"] .badge')).to_have_text(["disputed by 1"])
    expect(page.locator(f'.post[data-id="{alert.id}"]')).to_be_visible()
    expect(page.locator(f'.post[data-id="{alert.id}"] .badge')).to_have_count(0)
