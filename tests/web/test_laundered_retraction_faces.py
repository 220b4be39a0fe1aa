"""Red team, round 12, the laundered retraction, through the faces a person uses (real ``samizdat`` commands, a real
``samizdat serve``, its ``/op`` WebSocket, Debian's Chromium): the police, with an arrested admin's key, retract
an editor's genuine warning and date it before the arrest; the owner removes the admin from the arrest on. Before,
the removal signed the police's retraction again as the owner's (the warning stayed retracted for every reader).
Now the command line refuses to keep others' posts' amendments unseen and lists them (``--review``; ``--keep`` names
each one kept), ``/op``
answers a preview, and the phone lists them with a checkbox each: the one the owner leaves out is not kept, and
readers see the warning again, while the admin's honest retraction of the fake safe place stays
(tests/services/test_redteam_round12_laundered.py: the service)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_operator_admins import (
    _post,
    ask,
    definition,
    logged_in,
    owner_phone,
    preview_removal,
    statuses,
    store,
    turned_yard,
)
from web_helpers import ServeProcess

from samizdat.core import nip19

WARNING = "Police at Lenina, avoid"


def laundered(home: Path) -> dict[str, Any]:
    """turned_yard's node, and: the editor's genuine warning, and the police's retraction of it with the admin's
    key, made after the arrest and dated ten minutes before it."""
    setup = turned_yard(home)
    yard, editor, turned = setup["yard"], setup["editor"], setup["turned"]
    now = int(time.time())
    warning = _post(editor, yard, "alert", WARNING, now - 3600, ["location", "Lenina 5"],
                    ["expiration", str(now + 86400)])  # fmt: skip
    silenced = _post(turned, yard, "retraction", "All clear now", setup["arrest"] - 600,
                     ["e", warning.id, "", "retraction", editor.public_key_hex])  # fmt: skip
    store(home, [warning, silenced])
    return {**setup, "warning": warning, "silenced": silenced}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, Any], ServeProcess]]:
    setup = laundered(tmp_path / "home")
    serve = ServeProcess(setup["cli"].home, tmp_path / "serve.log")
    try:
        serve.wait_ready()
        yield setup, serve
    finally:
        serve.stop()


def test_the_command_line_lists_the_polices_retraction_and_drops_it(tmp_path: Path) -> None:
    setup = laundered(tmp_path / "home")
    cli = setup["cli"]
    turned, editor = (
        nip19.npub_encode(setup["turned"].public_key_hex),
        nip19.npub_encode(setup["editor"].public_key_hex),
    )
    fake, warning, silenced = setup["fake"].id, setup["warning"].id, setup["silenced"].id
    removal = ("channel", "admins", "yard", "--remove", turned, "--since", str(setup["arrest"]))
    assert statuses(cli, fake, warning) == {fake: "retracted", warning: "retracted"}
    # Without a choice: one sentence saying what to add, and nothing changes.
    refused = cli.fails(*removal)
    assert "2 retraction(s) or correction(s) it made of others' posts" in refused.err
    assert "see them with --review, then add --keep ID for each one to keep (repeatable), --keep-all or " in refused.err
    assert definition(cli)[1] == []
    # The review: the warning and the police's reason, marked as another's post; nothing changes.
    text = cli.ok(*removal, "--review").out
    assert WARNING in text
    assert "All clear now" in text
    assert warning[:16] in text
    assert text.count("ANOTHER'S POST") == 2
    assert f"--keep {silenced[:16]}" in text
    listed = {i["target"]: i for i in cli.json(*removal, "--review")}
    assert set(listed) == {fake, warning}
    assert (listed[warning]["amendments"], listed[warning]["author"]) == ([silenced], editor)
    [honest] = listed[fake]["amendments"]
    assert definition(cli)[1] == []
    # Bad choices: one sentence each, nothing changes.
    assert "not one of the posts or amendments" in cli.fails(*removal, "--drop", "ab" * 32).err
    assert "8 or more characters" in cli.fails(*removal, "--drop", warning[:4]).err
    assert "give one of --keep ID, --keep-all and --keep-none" in cli.fails(*removal, "--keep", honest,
                                                                            "--keep-all").err  # fmt: skip
    assert "is a post's id" in cli.fails(*removal, "--keep", fake[:12]).err
    assert "not one of the amendments of others' posts" in cli.fails(*removal, "--keep", "ab" * 32).err
    assert "go with --remove" in cli.fails("channel", "admins", "yard", "--review").err
    assert "--keep-none" in cli.fails(*removal, "--drop", silenced).err  # --drop alone chooses nothing of others'
    assert definition(cli)[1] == []
    # Only the honest retraction kept (by 12 characters of its id): the warning is back, the fake stays withdrawn.
    done = cli.ok(*removal, "--keep", honest[:12])
    assert "Kept 1 retraction(s) or correction(s)" in done.out
    assert statuses(cli, fake, warning) == {fake: "retracted", warning: "valid"}


def test_op_previews_the_removal_and_drops_what_the_owner_left_out(
    served: tuple[dict[str, Any], ServeProcess],
) -> None:
    setup, serve = served
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    fake, warning = setup["fake"].id, setup["warning"].id
    removal = {"channel": yard, "remove": turned, "since": setup["arrest"]}
    before = definition(cli)
    with logged_in(serve, cli) as ws:
        preview = ask(ws, {**removal, "preview": True}, 1)
        assert "admins" in preview, preview
        review = {i["target"]: i for i in preview["admins"]["review"]}
        assert set(review) == {fake, warning}
        assert (review[warning]["text"], review[warning]["reason"], review[warning]["role"]) == (
            WARNING, "All clear now", "editor")  # fmt: skip
        assert preview["admins"]["since"] == setup["arrest"]
        assert definition(cli) == before  # the preview changed nothing
        refused = ask(ws, removal, 2)
        assert "look at them and choose which to keep" in refused.get("error", ""), refused
        assert definition(cli) == before
        # The page kept only the fake's retraction (as if the police's had come after the preview): that is all it
        # keeps of others' posts; the police's is not kept unseen (the phone unchecking it: the browser test).
        done = ask(ws, {**removal, "drop": [], "shown": review[fake]["amendments"]}, 3)
    assert done["admins"]["kept"] == 1, done
    assert statuses(cli, fake, warning) == {fake: "retracted", warning: "valid"}


def test_hostile_previews_and_drops_get_one_sentence_and_change_nothing(
    served: tuple[dict[str, Any], ServeProcess],
) -> None:
    setup, serve = served
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    removal = {"channel": yard, "remove": turned, "since": setup["arrest"]}
    fake = setup["fake"].id
    before = definition(cli)
    cases: list[tuple[object, str]] = [
        ({**removal, "preview": "yes"}, "preview must be true or false"),
        ({**removal, "preview": 1}, "preview must be true or false"),
        ({**removal, "drop": setup["warning"].id}, "drop must be a list of at most 500 ids"),
        ({**removal, "drop": [setup["warning"].id.upper()]}, "drop must be a list"),
        ({**removal, "drop": ["ab"]}, "drop must be a list"),
        ({**removal, "drop": [7]}, "drop must be a list"),
        ({**removal, "drop": [{"id": setup["warning"].id}]}, "drop must be a list"),
        ({**removal, "drop": ["ab" * 32] * 501}, "drop must be a list of at most 500 ids"),
        ({**removal, "drop": ["ab" * 32]}, "not one of the retractions or corrections this removal would keep"),
        ({**removal, "drop": [setup["police"].id]}, "not one of the retractions or corrections"),
        ({**removal, "preview": True, "drop": []}, "a preview keeps nothing"),
        ({"channel": yard, "preview": True}, "preview and drop go only with a key to remove"),
        ({"channel": yard, "add": turned, "drop": []}, "preview and drop go only with a key to remove"),
        ({**removal, "shown": [fake]}, "shown goes only with drop"),
        ({**removal, "drop": [], "shown": fake}, "shown must be a list of at most 500 ids"),
        ({**removal, "drop": [], "shown": [fake[:10]]}, "shown must be a list"),
        (removal, "look at them and choose which to keep"),
    ]
    with logged_in(serve, cli) as ws:
        for number, (request, error) in enumerate(cases, 1):
            answer = ask(ws, request, number)
            assert error in answer.get("error", ""), (request, answer)
            assert "\n" not in answer["error"]
        assert ask(ws, {"channel": yard}, 99)["admins"]["revoked"] == {}  # the connection still answers
    assert definition(cli) == before
    warning = setup["warning"].id
    assert statuses(cli, fake, warning) == {fake: "retracted", warning: "retracted"}


def test_the_owner_unchecks_the_polices_retraction_on_the_phone(
    served: tuple[dict[str, Any], ServeProcess], browser: Any
) -> None:
    pytest.importorskip("playwright")
    from playwright.sync_api import expect

    setup, serve = served
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    fake, warning = setup["fake"].id, setup["warning"].id
    with owner_phone(browser, serve, cli, yard) as (page, asked):
        expect(page.locator(f'.post[data-id="{warning}"]')).to_have_class(re.compile(r"\bretracted\b"))
        row = preview_removal(page, turned, setup["arrest"])
        # Before anything is signed: the two retractions of the editor's posts, each checked (kept).
        police = row.locator(f'.admin-kept-item[data-target="{warning}"]')
        expect(police).to_contain_text(WARNING)
        expect(police).to_contain_text("All clear now")
        expect(police).to_contain_text("retracted")
        expect(row.locator(".admin-keep")).to_have_count(2)
        expect(police.locator(".admin-keep")).to_be_checked()
        assert asked == []  # nothing asked, nothing sent but the preview
        assert definition(cli)[1] == []
        police.locator(".admin-keep").uncheck()
        row.locator(".admin-remove-go").click()
        expect(page.locator("#admins-note")).to_have_text(re.compile(r"^Removed [0-9a-f]{8}…[0-9a-f]{4}; .*: 1\.$"))
        [question] = asked
        assert "1 left out as you chose" in question
        # The phone: the warning is back, the fake stays withdrawn by the owner's signature.
        expect(page.locator(f'.post[data-id="{warning}"]')).not_to_have_class(re.compile(r"\bretracted\b"))
        expect(page.locator(f'.post[data-id="{warning}"]')).to_contain_text(WARNING)
        expect(page.locator(f'.post[data-id="{fake}"]')).to_have_class(re.compile(r"\bretracted\b"))
        # The editor amended nobody's post: nothing to choose, one tap and the confirmation, as before.
        row = page.locator(f'#admins li[data-key="{setup["editor"].public_key_hex}"]')
        row.locator(".admin-remove").click()
        row.locator(".admin-remove-go").click()
        expect(page.locator("#admins-note")).to_have_text(re.compile(r"^Removed [0-9a-f]{8}…[0-9a-f]{4}; .*: 0\.$"))
        assert len(asked) == 2
    assert statuses(cli, fake, warning) == {fake: "retracted", warning: "valid"}
