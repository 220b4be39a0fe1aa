"""The owner, with only a phone, removes an arrested admin from the channel's screen (real ``samizdat serve``,
Debian's Chromium, the operator login): the page says what follows before anything is sent, the node removes the
key from the arrest on and signs again the retraction the admin made while honest, and then a reader's
``samizdat feed`` and the phone no longer count the police's post made with the key, and still show the editor's
fake safe place withdrawn. Before, the web app had no way to remove an admin (docs/safety.md, round 8, "Left")."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from test_operator_admins import node, owner_phone, statuses  # noqa: F401 - node: the fixture, shared
from web_helpers import PHONE, ServeProcess

from samizdat.core import nip19

pytest.importorskip("playwright")
from playwright.sync_api import expect


def test_the_owner_removes_an_arrested_admin_from_the_phone(
    node: tuple[dict[str, Any], ServeProcess],  # noqa: F811 - the fixture imported above
    browser: Any,
) -> None:
    setup, serve = node
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    fake, police = setup["fake"].id, setup["police"].id
    with owner_phone(browser, serve, cli, yard) as (page, asked):
        expect(page.locator(f'.post[data-id="{police}"]')).to_contain_text("Everyone to the square now")
        page.locator("#admins summary").click()
        row = page.locator(f'#admins li[data-key="{turned}"]')
        expect(row).to_contain_text("admin")
        row.locator(".admin-remove").click()
        row.locator(".since-time").fill(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(setup["arrest"])))
        expect(row.locator(".since-at")).to_be_checked()
        row.locator(".admin-remove-go").click()
        # The honest retraction of the editor's fake is another's post's: listed, checked, kept (round 12).
        expect(row.locator(f'.admin-kept-item[data-target="{fake}"] .admin-keep')).to_be_checked()
        assert asked == []
        row.locator(".admin-remove-go").click()
        expect(page.locator("#admins-note")).to_have_text(
            re.compile(
                r"^Removed [0-9a-f]{8}…[0-9a-f]{4}; retractions and corrections it made before, kept with the "
                r"owner’s signature: 1\.$"
            )  # fmt: skip
        )
        [question] = asked
        assert "Their posts dated from" in question
        assert "stop counting for every reader" in question
        assert "Their earlier retractions and corrections are kept" in question
        # The phone: the police's post from the arrest on is gone, the fake stays withdrawn by the owner's signature.
        expect(page.locator(f'.post[data-id="{police}"]')).to_have_count(0)
        expect(page.locator(f'.post[data-id="{fake}"]')).to_have_class(re.compile(r"\bretracted\b"))
        expect(page.locator(f'.post[data-id="{fake}"]')).to_contain_text("A police trap")
        expect(page.locator(f'#admins li[data-key="{turned}"]')).to_contain_text("removed: posts from")
    # Another phone, not logged in: the same posts, and no admins to remove.
    reader = browser.new_context(locale="en-US", **PHONE)
    try:
        page = reader.new_page()
        page.goto(f"{serve.http_url}#/c/{yard}")
        expect(page.locator(f'.post[data-id="{fake}"]')).to_have_class(re.compile(r"\bretracted\b"))
        expect(page.locator(f'.post[data-id="{police}"]')).to_have_count(0)
        expect(page.locator("#admins")).to_have_count(0)
    finally:
        reader.close()
    # A reader's `samizdat feed`: the same.
    assert statuses(cli, fake, police) == {fake: "retracted", police: "hidden"}
    revoked = cli.json("channel", "show", "yard")["revoked"]
    since = setup["arrest"] - setup["arrest"] % 60  # the phone's time field has minutes
    assert revoked == [{"npub": nip19.npub_encode(turned), "since": since}]
