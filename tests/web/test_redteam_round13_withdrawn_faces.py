"""Red team, round 13's open finding, through the faces (docs/safety.md): the police, with the arrested admin's
key, delete (NIP-09) the admin's honest retraction of the editor's fake safe place, dated before the arrest. The
store erased it, so no removal could offer it, and readers saw the fake again. Now the node keeps a record of it
(no reason) for the removal's review: ``samizdat channel admins --review`` prints it "WITHDRAWN BY THE KEY on
<date>", ``--keep ID`` keeps it (the owner's retraction of the fake, signed again); ``/op``'s preview lists it
and the phone shows it with its checkbox. Each fails on the code before (nothing was listed)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_operator_admins import ask, definition, logged_in, owner_phone, preview_removal, statuses, store, turned_yard
from web_helpers import ServeProcess

from samizdat.core import kinds, nip19
from samizdat.core.event import sign_event


def withdrawn_yard(home: Path) -> dict[str, Any]:
    """turned_yard's node, and the police's deletion request (the admin's key, dated a minute before the arrest)
    of the admin's honest retraction of the editor's fake safe place."""
    setup = turned_yard(home)
    cli, turned = setup["cli"], setup["turned"]
    removal = ("channel", "admins", "yard", "--remove", nip19.npub_encode(turned.public_key_hex),
               "--since", str(setup["arrest"]))  # fmt: skip
    [honest] = {i["target"]: i for i in cli.json(*removal, "--review")}[setup["fake"].id]["amendments"]
    gone = sign_event(turned, kinds.DELETION, "", [["e", honest]], created_at=setup["arrest"] - 60)
    store(home, [gone])
    return {**setup, "honest": honest, "gone": gone, "removal": removal}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, Any], ServeProcess]]:
    setup = withdrawn_yard(tmp_path / "home")
    serve = ServeProcess(setup["cli"].home, tmp_path / "serve.log")
    try:
        serve.wait_ready()
        yield setup, serve
    finally:
        serve.stop()


def test_the_command_line_shows_the_withdrawn_retraction_and_keeps_it(tmp_path: Path) -> None:
    setup = withdrawn_yard(tmp_path / "home")
    cli, removal, fake, honest = setup["cli"], setup["removal"], setup["fake"].id, setup["honest"]
    assert statuses(cli, fake) == {fake: "valid"}  # the police's deletion put the fake back for readers
    text = cli.ok(*removal, "--review").out
    assert f"WITHDRAWN BY THE KEY on {time.strftime('%Y-%m-%d %H:%M', time.gmtime(setup['arrest'] - 60))}" in text
    assert f"--keep {honest[:16]}" in text
    assert "A police trap" not in text  # its reason is not kept
    [item] = [i for i in cli.json(*removal, "--review") if i["target"] == fake]
    assert item["withdrawn"] == [{"id": honest, "type": "retraction", "created_at": item["created_at"],
                                  "deleted_at": setup["arrest"] - 60}]  # fmt: skip
    # Default-deny: without a choice, refused; the key stays an admin.
    assert "or withdrew" in cli.fails(*removal).err
    assert definition(cli)[1] == []
    done = cli.ok(*removal, "--keep", honest[:12])
    assert "Kept 1 retraction(s) or correction(s)" in done.out
    assert statuses(cli, fake) == {fake: "retracted"}
    [shown] = [i for i in cli.json("feed", "yard", "--limit", "200") if i["id"] == fake]
    assert shown["retraction"]["reason"] == "The channel retracts this post."


def test_op_previews_the_withdrawn_retraction_and_keeps_it(served: tuple[dict[str, Any], ServeProcess]) -> None:
    setup, serve = served
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    fake, honest = setup["fake"].id, setup["honest"]
    removal = {"channel": yard, "remove": turned, "since": setup["arrest"]}
    with logged_in(serve, cli) as ws:
        preview = ask(ws, {**removal, "preview": True}, 1)
        review = {i["target"]: i for i in preview["admins"]["review"]}
        assert review[fake]["amendments"] == [honest]
        assert review[fake]["withdrawn"][0]["deleted_at"] == setup["arrest"] - 60
        assert "look at them and choose which to keep" in ask(ws, removal, 2).get("error", "")
        done = ask(ws, {**removal, "drop": [], "shown": [honest]}, 3)
    assert done["admins"]["kept"] == 1, done
    assert statuses(cli, fake) == {fake: "retracted"}


def test_the_phone_lists_the_withdrawn_retraction_and_keeps_it(
    served: tuple[dict[str, Any], ServeProcess], browser: Any
) -> None:
    pytest.importorskip("playwright")
    from playwright.sync_api import expect

    setup, serve = served
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    fake = setup["fake"].id
    with owner_phone(browser, serve, cli, yard) as (page, asked):
        expect(page.locator(f'.post[data-id="{fake}"]')).not_to_have_class(re.compile(r"\bretracted\b"))
        row = preview_removal(page, turned, setup["arrest"])
        item = row.locator(f'.admin-kept-item[data-target="{fake}"]')
        expect(item).to_contain_text("Doctors here")
        expect(item.locator(".admin-kept-withdrawn")).to_contain_text("withdrawn by the key on")
        # Unchecked: what the key withdrew is kept only when the owner checks it (red team, round 15).
        expect(item.locator(".admin-keep")).not_to_be_checked()
        item.locator(".admin-keep").check()
        assert asked == []
        row.locator(".admin-remove-go").click()
        expect(page.locator("#admins-note")).to_have_text(re.compile(r"^Removed [0-9a-f]{8}…[0-9a-f]{4}; .*: 1\.$"))
        expect(page.locator(f'.post[data-id="{fake}"]')).to_have_class(re.compile(r"\bretracted\b"))
    assert statuses(cli, fake) == {fake: "retracted"}
