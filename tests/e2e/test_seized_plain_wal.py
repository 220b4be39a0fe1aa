"""The write-ahead logs of a node without a passphrase, read back from the raw disk (red team, round 4).

SQLite writes every change of a database to its write-ahead log (``-wal``) first, and deletes that file when the
last connection to the database closes: after every command, and when ``samizdat serve`` stops. Deleting frees
its blocks and leaves their bytes, the plain post texts, the mirror's URL and the keys of a node without a
passphrase (a hub), for whoever images the disk. Here a plain node lives on a real ext4 file system (made in a
file and loop-mounted, as in test_seized_round3.py): it is made, given a channel with a mirror and posts by
commands, served and stopped, then the disk is searched byte by byte:

- without a wipe, the texts may be found only as often as the node's live files hold them (the rest of the disk,
  its free blocks, holds none);
- after ``samizdat wipe --now``, nowhere.

Root is needed to mount; the tools are e2fsprogs and mount (scripts/apt/forensic.txt).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_seized_round3 import POSTS, Disk, disk, fill, on_disk  # noqa: F401 - disk, on_disk: fixtures

from conftest import ServeProcess
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.store import sqlite as sqlite_store
from samizdat.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture
def seized(on_disk: Disk) -> Disk:  # noqa: F811 - the fixture of test_seized_round3
    """The loop-mounted disk, with the commands' home and temporary folders on it."""
    return on_disk


def used_plain_node(seized: Disk, cli_for: type[Cli], tmp_path: Path, *serve: str) -> tuple[Cli, list[str]]:
    """A node without a passphrase made on the disk, used by commands and by ``serve`` (given ``serve``'s options),
    stopped: what must not be found in its free blocks."""
    cli = cli_for(seized.mount / "user" / ".samizdat")
    cli.ok("init", "--no-passphrase")
    secrets = fill(cli)
    node = ServeProcess(cli.home, tmp_path / "serve.log", *serve)  # its log is the test's, off the disk
    try:
        node.wait_ready()
        cli.ok("post", "nightwatch", "Second column turning onto Partyzanski")
    finally:
        node.stop()
    assert sorted(post["text"] for post in cli.json("feed", "nightwatch"))[:3] == sorted(POSTS)
    return cli, secrets


def counts(data: bytes, needles: list[str]) -> dict[str, int]:
    low = data.lower()
    return {n: sum(low.count(n.lower().encode(codec)) for codec in ("utf-8", "utf-16-le")) for n in needles}


@pytest.mark.parametrize("serve", [(), ("--workers", "2")], ids=["one-process", "two-workers"])
def test_a_plain_nodes_commands_and_serve_leave_no_deleted_write_ahead_log_on_the_disk(
    seized: Disk, cli_for: type[Cli], tmp_path: Path, serve: tuple[str, ...]
) -> None:
    cli, secrets = used_plain_node(seized, cli_for, tmp_path, *serve)
    live = b"".join(path.read_bytes() for path in sorted(cli.home.rglob("*")) if path.is_file())
    assert counts(live, POSTS[:1])[POSTS[0]] > 0  # plain indeed
    in_files = counts(live, secrets)
    on_the_disk = counts(seized.raw(), secrets)
    leftovers = {n: on_the_disk[n] - in_files[n] for n in secrets if on_the_disk[n] > in_files[n]}
    assert leftovers == {}, f"found in free blocks (times): {leftovers}"


def test_a_wiped_plain_node_leaves_none_of_its_write_ahead_logs_on_the_disk(
    seized: Disk, cli_for: type[Cli], tmp_path: Path
) -> None:
    cli, secrets = used_plain_node(seized, cli_for, tmp_path)
    result = cli.ok("wipe", "--now")
    assert not cli.home.exists()
    found = {n: c for n, c in counts(seized.raw(), secrets).items() if c}
    assert found == {}, f"found after the wipe (times): {found}\n{result.out}"


def test_a_plain_node_used_on_the_disk_then_encrypted_leaves_no_plain_copy(
    seized: Disk, cli_for: type[Cli], tmp_path: Path
) -> None:
    """``samizdat encrypt`` zeroes the plain files it replaces; what it could not reach were the logs SQLite had
    deleted before (test_seized_round3.py copies its plain node onto the disk for that reason)."""
    cli, secrets = used_plain_node(seized, cli_for, tmp_path)
    cli.ok("encrypt")
    assert sorted(post["text"] for post in cli.json("feed", "nightwatch"))[:3] == sorted(POSTS)
    found = {n: c for n, c in counts(seized.raw(), secrets).items() if c}
    assert found == {}, f"found after `samizdat encrypt` (times): {found}"


MARKER = "Okrestina detention list"


def test_a_busy_plain_store_frees_no_block_of_its_write_ahead_log_while_it_runs(
    seized: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub's store under steady writes: its WAL grew past the size at which the checkpointer truncated it
    (WAL_TRUNCATE_BYTES, made small here so that a few hundred posts reach it), and every truncation freed blocks
    full of posts. Now the WAL is restarted and kept, and zeroed when the store closes."""
    monkeypatch.setattr(sqlite_store, "WAL_TRUNCATE_BYTES", 128 * 1024)
    path = seized.mount / "events.sqlite"
    author = SecretKey.generate()

    async def run() -> None:
        store = await SqliteStore.open(path)
        try:
            for batch in range(6):
                posts = [
                    sign_event(author, 1, f"{MARKER} {batch}-{n}: " + "names and cells " * 40, created_at=1_700_000_000)
                    for n in range(150)
                ]
                await store.add_many(posts)
                await asyncio.sleep(1.5)  # the checkpointer's turn (once a second)
        finally:
            await store.close()

    asyncio.run(run())
    live = b"".join(p.read_bytes() for p in seized.mount.glob("events.sqlite*"))
    in_files, on_the_disk = counts(live, [MARKER])[MARKER], counts(seized.raw(), [MARKER])[MARKER]
    assert in_files >= 900
    assert on_the_disk - in_files == 0, f"{on_the_disk - in_files} copies of posts in free blocks"


def test_a_command_beside_a_running_serve_leaves_the_log_to_the_serve(cli_for: type[Cli], tmp_path: Path) -> None:
    """Zeroing the log takes the write lock for as long as writing the whole log takes (seconds for tens of MB on
    an SD card), which would hold the serve's writers up: a command run beside a serve leaves it to the serve,
    which zeroes it when it stops."""
    cli = cli_for(tmp_path / "home")
    cli.ok("init", "--no-passphrase")
    cli.ok("channel", "create", "nightwatch", "--name", "Night watch")
    node = ServeProcess(cli.home, tmp_path / "serve.log")
    wal = cli.home / "events.sqlite-wal"
    try:
        node.wait_ready()
        cli.ok("post", "nightwatch", "Second column turning onto Partyzanski")
        assert any(wal.read_bytes()[:32]), "the command zeroed the serve's log"
    finally:
        node.stop()
    assert not wal.exists()
    assert [post["text"] for post in cli.json("feed", "nightwatch")] == ["Second column turning onto Partyzanski"]
