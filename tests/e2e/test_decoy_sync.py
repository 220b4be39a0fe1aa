"""A running real node keeps its decoy store in step, so that a duress unlock opens a store that looks used.

A channel's owner serves it on a relay of their own (loopback). The real node (the tests' passphrase) follows
nothing of it; its decoy follows it (``samizdat passphrase duress --follow``). While the real node serves, its
background sync brings the channel's posts into ``spare/``, under the decoy's keys, and none into the real store.
After ``samizdat lock``, the duress passphrase typed at ``samizdat feed`` shows the posts at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import CLI_TIMEOUT, CliResult
from samizdat.core.sealing import NodeKeys
from samizdat.services import keyring
from samizdat.store.dbapi import connect
from samizdat.testing import TEST_PASSPHRASE, poll_until

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

pytestmark = pytest.mark.slow

DURESS = "the passphrase given at the border"
SYNCED = 60.0  # the decoy's first background pass runs as serve starts; this bounds it on a busy machine
POSTS = ("Sunny, 14 degrees", "Rain from the west by evening")


def typed(cli: Cli, lines: list[str], *args: str) -> CliResult:
    return cli.typed(lines, *args)


def texts_in(directory: Path, keys: NodeKeys) -> set[str]:
    """The contents of the events in the store in ``directory``, read beside the node that has it open."""
    conn = connect(f"{(directory / 'events.sqlite').as_uri()}?mode=ro", keys.events, uri=True, timeout=10)
    try:
        return {json.loads(row[0])["content"] for row in conn.execute("SELECT raw FROM events")}
    finally:
        conn.close()


def test_the_decoy_store_is_kept_in_step_while_the_real_node_serves(
    cli: Cli, make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess]
) -> None:
    owner = make_cli("owner")
    owner.ok("init")
    mirror = serve(owner.home)
    naddr = str(
        owner.json("channel", "create", "weather", "--name", "Weather in Minsk", "--mirror", mirror.url)["naddr"]
    )
    for text in POSTS:
        owner.ok("post", "weather", text)

    cli.ok("init")
    cli.ok("channel", "create", "printing-house", "--name", "Printing house on Lenina")
    cli.ok("post", "printing-house", "the leaflets are ready at nine")
    done = typed(cli, [TEST_PASSPHRASE, DURESS, DURESS], "passphrase", "duress", "--follow", naddr, "--json")
    assert done.code == 0, done.err
    assert len(json.loads(done.out)["decoy_follows"]) == 1
    keys = keyring.unlock_keys(cli.home, TEST_PASSPHRASE)  # the test reads both stores beside the running node

    node = serve(cli.home)
    poll_until(lambda: set(POSTS) <= texts_in(cli.home / "spare", keys.decoy), timeout=SYNCED, what="the decoy in step")
    assert not set(POSTS) & texts_in(cli.home, keys.node)  # the real node follows nothing of it
    assert "Weather" not in json.dumps(cli.json("status"))  # the owner's status says nothing of the decoy's follows
    assert "Weather" not in node.output()

    cli.ok("lock")
    assert node.process.wait(CLI_TIMEOUT) == 0
    assert not set(POSTS) & texts_in(cli.home, keys.node)
    assert not list((cli.home / "spare").glob("*-wal"))  # the decoy's stores were closed with the node

    opened = typed(cli, [DURESS], "feed", naddr, "--json")  # forced to unlock: the duress passphrase
    assert opened.code == 0, opened.err
    assert {item["text"] for item in json.loads(opened.out)} == set(POSTS)
    assert "wrong passphrase" in cli("feed", naddr).err  # the real node is gone
