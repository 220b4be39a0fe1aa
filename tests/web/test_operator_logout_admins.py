"""A key appointed from a stolen operator login no longer outlives ``samizdat web logout`` (red team, round 12;
web/operator_changes.py). A real ``samizdat serve`` on an encrypted node, a real ``/op`` WebSocket on loopback: the
session appoints its own key (and removes the channel's honest editor); ``web codes`` counts the changes,
``channel admins`` says which login appointed the key, ``web logout ID`` says what the login changed and the
command that undoes each, and ``--undo`` puts the definition back, in what the node's relay now serves. The record
is sealed: nothing of it is in the data directory for whoever images it without the passphrase."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from test_operator_admins import ask, logged_in, node, statuses  # noqa: F401  (node: the fixture)
from web_helpers import ServeProcess, e2e, publish
from websockets.sync.client import connect

from samizdat.core import kinds, nip19
from samizdat.core.channel import parse_channel
from samizdat.core.event import parse_event, sign_event
from samizdat.core.keys import SecretKey


def published_definition(serve: ServeProcess, address: str) -> Any:
    """The channel's definition as the node's relay serves it to any client (REQ), parsed."""
    _, owner, identifier = address.split(":", 2)
    with connect(serve.url, open_timeout=10) as ws:
        ws.send(json.dumps(["REQ", "d", {"kinds": [30333], "authors": [owner], "#d": [identifier]}]))
        events = []
        while (message := json.loads(ws.recv(timeout=10)))[0] == "EVENT":
            events.append(parse_event(message[2]))
    assert events, "the relay serves no definition"
    return parse_channel(max(events, key=lambda e: (e.created_at, e.id)))


def without_passphrase() -> dict[str, str]:
    env = e2e.cli_env()
    env.pop("SAMIZDAT_PASSPHRASE_FILE", None)
    return env


def data_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def test_logout_says_what_a_stolen_login_appointed_and_undo_takes_it_back(
    node: tuple[dict[str, Any], ServeProcess],  # noqa: F811
) -> None:
    setup, serve = node
    cli, yard = setup["cli"], setup["yard"]
    editor = setup["editor"].public_key_hex
    planted = SecretKey.generate()  # the police's own key
    mine, npub = planted.public_key_hex, nip19.npub_encode(planted.public_key_hex)
    with logged_in(serve, cli) as ws:
        appointed = ask(ws, {"channel": yard, "add": npub, "role": "admin"}, 1)
        assert appointed["admins"]["admins"][mine] == "admin", appointed
        assert "was" not in appointed["admins"]  # the browser gets the answer it always got
        assert "error" not in ask(ws, {"channel": yard, "remove": editor}, 2)
    [code] = cli.json("web", "codes")
    assert published_definition(serve, yard).admins.get(mine) == "admin"
    # A post of the planted key dated a month back, before its appointment: it counts while the key is an admin.
    backdated = sign_event(planted, kinds.POST, "Everyone to the square", [["a", yard, ""], ["type", "news"]],
                           created_at=int(time.time()) - 30 * 86400)  # fmt: skip
    publish(serve.url, [backdated])
    assert statuses(cli, backdated.id)[backdated.id] == "valid"

    # The owner looks: `web codes` counts the login's changes, `channel admins` says who appointed the key.
    assert code["admin_changes"] == 2
    assert f"{code['id']}  " in cli.ok("web", "codes").out
    said = cli.ok("channel", "admins", "yard").out
    assert f"{npub}: appointed " in said
    assert f"by operator login {code['id']}" in said
    # The data directory of this encrypted node holds nothing of the record in the clear.
    assert mine.encode() not in data_bytes(cli.home)
    assert npub.encode() not in data_bytes(cli.home)

    # Without the passphrase (no terminal, no passphrase file): revoked all the same, and told how many.
    locked = subprocess.run(e2e.command(cli.home, "web", "logout", code["id"]), capture_output=True, text=True,
                            env=without_passphrase(), stdin=subprocess.DEVNULL, timeout=60, check=False)  # fmt: skip
    assert locked.returncode == 0, locked.stderr
    assert f"Revoked operator code {code['id']}." in locked.stdout
    assert "changed the admins of your channels 2 times; they are sealed" in locked.stdout
    assert npub not in locked.stdout
    assert cli.json("web", "codes") == []
    out = cli.ok("web", "logout", code["id"]).out  # with it: what, and how to undo each
    assert f"Operator code {code['id']} was already revoked." in out
    assert f"samizdat channel admins {yard} --remove {npub} --since 0" in out
    assert f"samizdat channel admins {yard} --add {nip19.npub_encode(editor)} --role editor" in out
    assert published_definition(serve, yard).admins.get(mine) == "admin"  # logging out alone changes nothing
    assert "(revoked" in cli.ok("web", "codes").out

    undone = cli.ok("web", "logout", code["id"], "--undo").out
    assert undone.count("Put back: ") == 1, undone
    definition = published_definition(serve, yard)
    assert mine not in definition.admins
    assert definition.revoked.get(mine) == 0  # none of its posts counts, backdated or not
    # The removal is left, with its command: the owner's own, from that phone, looks the same (round 13).
    assert editor not in definition.admins
    assert f"by hand: samizdat channel admins {yard} --add {nip19.npub_encode(editor)} --role editor" in undone
    assert statuses(cli, backdated.id)[backdated.id] != "valid"
    assert "appointed" not in cli.ok("channel", "admins", "yard").out
    cli.ok("channel", "admins", "yard", "--add", nip19.npub_encode(editor), "--role", "editor")
    assert cli.ok("web", "logout", code["id"], "--undo").out.count("Already as before: ") == 1
    assert "no operator code" in cli.fails("web", "logout", code["id"], "--undo").err  # its record went with it
