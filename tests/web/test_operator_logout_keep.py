"""``samizdat web logout ID --undo`` when the login's changes include the owner's own (red team, round 13's open
item): the owner appointed an honest co-admin from the phone before it was seized; the police then appointed their
own key with its session. Before, ``--undo`` took back both: the honest admin was removed from time 0, none of its
posts counting, until appointed again. Now the owner says what to leave, by key (``--keep``) or by when the phone
was lost (``--since``); a plain ``--undo`` still takes back everything the login gave, and the police's key goes
whatever the owner chooses to keep (a real ``samizdat serve``, its ``/op`` WebSocket, real ``samizdat`` commands)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from test_operator_admins import ask, logged_in, node  # noqa: F401  (node: the fixture)
from test_operator_logout_admins import published_definition
from web_helpers import ServeProcess

from samizdat.core import nip19
from samizdat.core.keys import SecretKey
from samizdat.services import keyring, operator_codes
from samizdat.testing import TEST_PASSPHRASE
from samizdat.web import operator, operator_changes


def appoint_both(setup: dict[str, Any], serve: ServeProcess) -> tuple[str, str, str]:
    """The honest admin appointed from the phone, then the police's key with the same session; (honest, police,
    the code's id)."""
    cli, yard = setup["cli"], setup["yard"]
    honest, police = SecretKey.generate().public_key_hex, SecretKey.generate().public_key_hex
    with logged_in(serve, cli) as ws:
        assert "error" not in ask(ws, {"channel": yard, "add": honest, "role": "admin"}, 1)
        assert "error" not in ask(ws, {"channel": yard, "add": police, "role": "admin"}, 2)
    [code] = cli.json("web", "codes")
    return honest, police, code["id"]


def test_keep_leaves_the_honest_admin_and_takes_back_the_police_key(
    node: tuple[dict[str, Any], ServeProcess],  # noqa: F811
) -> None:
    setup, serve = node
    cli, yard = setup["cli"], setup["yard"]
    honest, police, code = appoint_both(setup, serve)
    out = cli.ok("web", "logout", code, "--undo", "--keep", nip19.npub_encode(honest)).out
    definition = published_definition(serve, yard)
    assert definition.admins.get(honest) == "admin"  # the owner's own appointment stands
    assert police not in definition.admins
    assert definition.revoked.get(police) == 0  # none of the police key's posts counts, backdated or not
    assert out.count("Put back: ") == 1, out
    assert "NOT put back (kept (--keep))" in out
    assert f"by hand: samizdat channel admins {yard} --remove {nip19.npub_encode(honest)} --since 0" in out
    assert "appointed" in cli.ok("channel", "admins", "yard").out  # the kept entry stays on record


def test_since_leaves_what_the_owner_did_before_the_phone_was_lost(
    node: tuple[dict[str, Any], ServeProcess],  # noqa: F811
) -> None:
    setup, serve = node
    cli, yard = setup["cli"], setup["yard"]
    honest, police, code = appoint_both(setup, serve)
    # The honest appointment was made two hours before the phone was lost: its entry's minute says so (this test
    # cannot wait two hours; it unlocks the node as `serve` does and moves the entry's minute back).
    home = cli.home
    operator_codes.use(home, keyring.unlock_keys(home, TEST_PASSPHRASE).node)
    try:
        with operator._locked(home):
            [record] = operator.list_records(home)
            assert record.changes is not None
            moved = tuple(replace(c, at=c.at - 7200) if c.key == honest else c for c in record.changes)
            rewritten = None
            for change in moved:
                rewritten = operator_changes.with_change(home, rewritten, record.id, change)
            assert rewritten is not None
            operator._write(home, operator.list_codes(home), [rewritten])
    finally:
        operator_codes.forget(home)
    lost = int(time.time()) - 3600
    # Without --undo: revoked, and the list says which of the login's changes --undo --since would leave.
    told = cli.ok("web", "logout", code, "--since", str(lost)).out
    assert told.count("(--undo with these choices leaves it: made before ") == 1, told
    assert f"--remove {nip19.npub_encode(honest)} --since 0" in told.split("(--undo with these choices")[1]
    out = cli.ok("web", "logout", code, "--undo", "--since", str(lost)).out
    definition = published_definition(serve, yard)
    assert definition.admins.get(honest) == "admin"
    assert police not in definition.admins
    assert definition.revoked.get(police) == 0
    assert out.count("Put back: ") == 1, out
    assert "NOT put back (made before " in out
    assert nip19.npub_encode(honest) in out.split("NOT put back (made before ")[1]


def test_a_mistyped_choice_is_refused_before_anything_is_revoked(
    node: tuple[dict[str, Any], ServeProcess],  # noqa: F811
) -> None:
    setup, serve = node
    cli, yard = setup["cli"], setup["yard"]
    honest, police, code = appoint_both(setup, serve)
    for args, said in [
        (["--undo", "--keep", "npub1nonsense"], "--keep 'npub1nonsense':"),
        (["--undo", "--since", "+2h"], "is in the future"),
        (["--keep", "0" * 64], "--keep '" + "0" * 64 + "': this hex string is not a valid public key"),
    ]:
        failed = cli.fails("web", "logout", code, *args)
        assert said in failed.err, failed
        assert len(failed.error_lines) == 1, failed.err
    assert [c["id"] for c in cli.json("web", "codes")] == [code]  # still there: nothing was revoked
    assert published_definition(serve, yard).admins.get(police) == "admin"  # nor undone
    # A plain --undo takes back both, as before: the police's key never survives it.
    cli.ok("web", "logout", code, "--undo")
    definition = published_definition(serve, yard)
    assert honest not in definition.admins
    assert police not in definition.admins
