"""Red team, round 15 (docs/safety.md), through the phone: the police, holding the arrested admin's key, retract
the editor's honest warning, dated before the arrest, and delete that retraction at once (both reach the node
together: its readers never saw the warning retracted). Round 14's record of it was listed checked, so the owner's
removal with the phone's defaults signed the retraction of the warning with the owner's key; and a withdrawn
amendment of a post the admin had honestly corrected turned the kept correction into the post's retraction. What
the key withdrew is now listed unchecked (kept only when the owner checks it), what readers see now stays checked.
Fails on the code before (the warning was retracted)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_operator_admins import _post, owner_phone, preview_removal, statuses, store, turned_yard
from web_helpers import ServeProcess

from samizdat.core import kinds
from samizdat.core.event import sign_event


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, Any], ServeProcess]]:
    setup = turned_yard(tmp_path / "home")
    yard, turned, editor, arrest = setup["yard"], setup["turned"], setup["editor"], setup["arrest"]
    warning = _post(editor, yard, "alert", "Police at the bridge, avoid", arrest - 3000, ["location", "Bridge"],
                    ["expiration", str(arrest + 86400)])  # fmt: skip
    clinic = _post(editor, yard, "safe-place", "Clinic", arrest - 3000, ["location", "Lenina 40, flat 3"])
    moved = _post(turned, yard, "correction", "", arrest - 2900, ["location", "Yard of Gorky 2"],
                  ["e", clinic.id, "", "correction", editor.public_key_hex])  # fmt: skip
    # After the arrest, the police's retractions with the admin's key, backdated, deleted as soon as published.
    unseen = [_post(turned, yard, "retraction", "All clear", arrest - 600, ["e", p.id, "", "retraction",
                                                                             editor.public_key_hex])
              for p in (warning, clinic)]  # fmt: skip
    gone = sign_event(turned, kinds.DELETION, "", [["e", u.id] for u in unseen], created_at=arrest - 60)
    store(setup["cli"].home, [warning, clinic, moved, *unseen, gone])
    serve = ServeProcess(setup["cli"].home, tmp_path / "serve.log")
    try:
        serve.wait_ready()
        yield {**setup, "warning": warning, "clinic": clinic}, serve
    finally:
        serve.stop()


def test_the_phone_leaves_what_the_key_withdrew_unchecked(
    served: tuple[dict[str, Any], ServeProcess], browser: Any
) -> None:
    pytest.importorskip("playwright")
    from playwright.sync_api import expect

    setup, serve = served
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    fake, warning, clinic = setup["fake"].id, setup["warning"].id, setup["clinic"].id
    assert statuses(cli, warning, clinic) == {warning: "valid", clinic: "valid"}
    with owner_phone(browser, serve, cli, yard) as (page, asked):
        row = preview_removal(page, turned, setup["arrest"])
        listed = row.locator(f'.admin-kept-item[data-target="{warning}"]')
        expect(listed.locator(".admin-kept-withdrawn")).to_contain_text("withdrawn by the key on")
        expect(listed.locator(".admin-keep")).not_to_be_checked()
        # The admin's honest correction stays checked; the retraction the key withdrew has its own box, unchecked.
        boxes = row.locator(f'.admin-kept-item[data-target="{clinic}"] .admin-keep')
        expect(boxes).to_have_count(2)
        expect(boxes.nth(0)).to_be_checked()
        expect(boxes.nth(1)).not_to_be_checked()
        expect(row.locator(f'.admin-kept-item[data-target="{fake}"] .admin-keep')).to_be_checked()
        row.locator(".admin-remove-go").click()  # the owner keeps the defaults
        expect(page.locator("#admins-note")).to_have_text(re.compile(r"^Removed "))
    # What readers saw is kept (the fake retracted, the clinic corrected); the warning is not retracted.
    assert statuses(cli, fake, warning, clinic) == {fake: "retracted", warning: "valid", clinic: "valid"}
    [shown] = [i for i in cli.json("feed", "yard", "--limit", "200") if i["id"] == clinic]
    assert "Gorky" in str(shown)
