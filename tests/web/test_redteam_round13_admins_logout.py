"""Red team, round 13 (docs/safety.md): ``samizdat web logout --undo`` after the owner's phone is seized. The
owner, from the phone, removes an arrested admin in a hurry, as docs/web.md says to; later the phone is taken
unlocked, and the police appoint their own key with its session. The owner revokes the login and undoes what it
did. Before, the login's record held both changes alike, and ``--undo`` put both back: the police's key went,
and the arrested admin's key, which the police hold, was an admin again. Now ``--undo`` only takes back what the
login gave; a removal it made is left, said, with the command that would put it back (a real ``samizdat serve``,
its ``/op`` WebSocket, real ``samizdat`` commands)."""

from __future__ import annotations

import subprocess
from typing import Any

from test_operator_admins import ask, logged_in, node  # noqa: F401  (node: the fixture)
from test_operator_logout_admins import published_definition
from web_helpers import ServeProcess

from samizdat.core import nip19
from samizdat.core.keys import SecretKey


def test_undo_does_not_give_the_police_back_the_admin_the_owner_removed(
    node: tuple[dict[str, Any], ServeProcess],  # noqa: F811
) -> None:
    setup, serve = node
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    planted = SecretKey.generate().public_key_hex  # the police's own key
    with logged_in(serve, cli) as ws:
        # The owner, on the phone, removes the arrested admin (keeping its honest retraction, after a look) ...
        preview = ask(ws, {"channel": yard, "remove": turned, "since": setup["arrest"], "preview": True}, 1)
        shown = [a for item in preview["admins"]["review"] for a in item["amendments"]]
        removed = ask(ws, {"channel": yard, "remove": turned, "since": setup["arrest"], "drop": [], "shown": shown}, 2)
        assert removed["admins"]["revoked"][turned] == setup["arrest"], removed
        # ... and later, the phone seized unlocked, the police appoint their own key with the same session.
        assert "error" not in ask(ws, {"channel": yard, "add": planted, "role": "admin"}, 3)
    [code] = cli.json("web", "codes")
    undone = cli.ok("web", "logout", code["id"], "--undo").out
    definition = published_definition(serve, yard)
    assert planted not in definition.admins  # what the police's session gave is taken back
    assert definition.revoked.get(planted) == 0
    assert turned not in definition.admins  # what the owner took from the arrested admin's key stays taken
    assert definition.revoked.get(turned) == setup["arrest"]
    assert undone.count("Put back: ") == 1, undone
    assert "NOT put back (putting it back would make more of the key's posts count again" in undone
    assert f"by hand: samizdat channel admins {yard} --add {nip19.npub_encode(turned)} --role admin" in undone
    # The record keeps what was left, marked as a change to undo by hand only.
    told = cli.ok("web", "logout", code["id"]).out
    assert f"undo (by hand only: --undo leaves it): samizdat channel admins {yard} --add" in told


def test_a_change_the_node_cannot_note_is_not_made(
    node: tuple[dict[str, Any], ServeProcess],  # noqa: F811
) -> None:
    """The login's record is written whole, as a new file renamed over the codes file: when that cannot be written
    (a full disk, here a data directory no file can be added to), the change was made all the same and went
    unrecorded, for no ``web logout`` to show. Now the key's entry is written first, and the change refused."""
    setup, serve = node
    cli, yard = setup["cli"], setup["yard"]
    planted = SecretKey.generate().public_key_hex
    with logged_in(serve, cli) as ws:
        subprocess.run(["chattr", "+i", str(cli.home)], check=True)
        try:
            refused = ask(ws, {"channel": yard, "add": planted, "role": "admin"}, 1)
        finally:
            subprocess.run(["chattr", "-i", str(cli.home)], check=True)
        assert "could not note this change" in refused.get("error", ""), refused
    assert planted not in published_definition(serve, yard).admins
    assert planted not in cli.json("channel", "show", "yard")["admins"]
