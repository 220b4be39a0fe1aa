"""The duress passphrase as a person under pressure uses it: set with `samizdat passphrase duress --follow`, then
typed at an ordinary command's prompt. Afterwards the real passphrase opens nothing, nothing of the real node is
left in its directory, the decoy is a working node (it serves, follows and syncs), and the directory has the same
files as a fresh node's and as a node's that only has a duress passphrase set.

The duress passphrase here is the tests' passphrase (samizdat.testing), so the usual fixtures (``cli``,
``serve``) open the decoy; the real node has a passphrase of its own."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from websockets.sync.client import connect

from conftest import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    CliResult,
    cli_env,
    command,
    stop_process,
)
from samizdat.testing import TEST_PASSPHRASE, poll_until

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

REAL = "the real passphrase, typed every morning"
SECRETS = ("Printing house on Lenina", "the leaflets are ready at nine", "printing-house")


def typed(cli: Cli, lines: list[str], *args: str) -> CliResult:
    return cli.typed(lines, *args)


def ok(result: CliResult) -> CliResult:
    assert result.code == 0, result.err
    return result


def public_channel(owner: Cli, mirror: str = "") -> str:
    """A public channel of another person (its naddr), with a post in it."""
    owner.ok("init")
    extra = ("--mirror", mirror) if mirror else ()
    naddr = str(owner.json("channel", "create", "weather", "--name", "Weather in Minsk", *extra)["naddr"])
    owner.ok("post", "weather", "Sunny, 14 degrees")
    return naddr


def a_real_node(cli: Cli, follow: str) -> str:
    """A node with its own passphrase, a channel, posts and a follow, whose duress passphrase is the tests' one
    and whose decoy follows ``follow``; its npub."""
    warned = ok(typed(cli, [REAL], "init", "--json"))
    npub = str(json.loads(warned.out)["npub"])
    ok(typed(cli, [REAL], "channel", "create", SECRETS[2], "--name", SECRETS[0]))
    ok(typed(cli, [REAL], "post", SECRETS[2], SECRETS[1]))
    ok(typed(cli, [REAL], "follow", follow))
    done = json.loads(
        ok(
            typed(cli, [REAL, TEST_PASSPHRASE, TEST_PASSPHRASE], "passphrase", "duress", "--follow", follow, "--json")
        ).out
    )
    assert done["duress"] is True
    assert len(done["decoy_follows"]) == 1
    return npub


def every_byte(home: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(home.rglob("*")) if path.is_file())


def test_after_a_duress_unlock_the_real_node_is_gone(cli: Cli, make_cli: Callable[[str], Cli]) -> None:
    naddr = public_channel(make_cli("owner"))
    real_npub = a_real_node(cli, naddr)
    ordinary = ok(typed(cli, [REAL], "keys", "show", "--json"))

    opened = cli.ok("keys", "show", "--json")  # the duress passphrase, at an ordinary command's prompt

    assert opened.err == ordinary.err == ""  # nothing says what happened
    assert opened.json()["npub"] != real_npub
    channels = cli.json("channel", "list")
    assert [c["relation"] for c in channels] == ["followed"]  # the decoy's public channel, nothing of the real node
    assert SECRETS[0] not in json.dumps(channels)
    wrong = typed(cli, [REAL], "feed")
    assert wrong.code == 1
    assert "wrong passphrase" in wrong.err
    data = every_byte(cli.home).lower()
    for text in (*SECRETS, real_npub, naddr):
        assert text.lower().encode() not in data
    assert cli.json("keys", "show")["npub"] == opened.json()["npub"]  # the decoy is the node now


def test_the_decoy_serves_follows_and_syncs(
    cli: Cli, make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess]
) -> None:
    owner = make_cli("owner")
    owner.ok("init")
    mirror = serve(owner.home)
    naddr = public_channel(owner, mirror.url)
    a_real_node(cli, naddr)
    cli.ok("status")  # the duress unlock

    node = serve(cli.home)
    with connect(node.url, open_timeout=10) as ws:
        ws.send(json.dumps(["REQ", "any", {"kinds": [1], "limit": 5}]))
        assert json.loads(ws.recv(timeout=10)) == ["EOSE", "any"]

    cli.json("sync", mirror.url, "--channel", naddr, "--direction", "down")  # (serve may have synced it first)
    assert [item["text"] for item in cli.json("feed", naddr)] == ["Sunny, 14 degrees"]
    second = public_channel(make_cli("other"), mirror.url)
    cli.ok("follow", second)
    cli.json("sync", mirror.url, "--channel", second, "--direction", "down")
    assert [item["text"] for item in cli.json("feed", second)] == ["Sunny, 14 degrees"]
    assert {c["relation"] for c in cli.json("channel", "list")} == {"followed"}
    assert len(cli.json("channel", "list")) == 2


def file_set(home: Path) -> dict[str, int]:
    """Every file's path in ``home`` and its size class: the next power of two of its size."""
    return {str(p.relative_to(home)): p.stat().st_size.bit_length() for p in sorted(home.rglob("*")) if p.is_file()}


def test_fresh_with_duress_set_and_after_a_duress_unlock_the_files_are_the_same(
    make_cli: Callable[[str], Cli],
) -> None:
    naddr = public_channel(make_cli("owner"))
    fresh = make_cli("fresh")
    fresh.ok("init")
    fresh.ok("status")
    with_duress, opened = make_cli("with-duress"), make_cli("opened")
    for node in (with_duress, opened):
        a_real_node(node, naddr)
        ok(typed(node, [REAL], "web", "login"))  # an operator code: a file of the real node's
    opened.ok("status")

    expected = file_set(fresh.home)
    real_only = {"web-operators", "web-operators.lock"}  # login codes of the real node, gone with it
    set_only = file_set(with_duress.home)
    assert set(set_only) == {*expected, *real_only}
    assert {name: size for name, size in set_only.items() if name not in real_only} == expected
    assert file_set(opened.home) == expected


def test_a_running_real_serve_is_stopped_by_a_duress_unlock(cli: Cli, make_cli: Callable[[str], Cli]) -> None:
    naddr = public_channel(make_cli("owner"))
    a_real_node(cli, naddr)
    file = cli.home.parent / "real-passphrase"
    file.write_text(REAL + "\n")
    log = (cli.home.parent / "real-serve.log").open("wb")
    real = subprocess.Popen(
        command(cli.home, "serve", "--port", "0"), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env={**cli_env(), "SAMIZDAT_PASSPHRASE_FILE": str(file)},
    )  # fmt: skip
    try:
        poll_until(lambda: (cli.home / "serve.json").exists(), timeout=START_TIMEOUT, what="the real node serving")

        opened = cli.ok("status", "--json")  # the duress passphrase, while the real node runs

        assert real.wait(STOP_TIMEOUT) == 0  # it was told to stop, and did: its keys are gone from memory
        assert opened.json()["serving"] is None
        assert "wrong passphrase" in typed(cli, [REAL], "keys", "show").err
    finally:
        stop_process(real)
        log.close()
