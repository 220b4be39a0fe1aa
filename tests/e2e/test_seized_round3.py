"""What a forensic examiner reads back from the raw disk after a wipe (red team, round 4).

Deleting a file frees its blocks and leaves their bytes where they were: a tool that reads the raw disk (or an
image of it) finds them long after. So each test runs the node on a real ext4 file system, made with
``mkfs.ext4`` in a file and loop-mounted, wipes it, unmounts it, and searches every byte of the image file, the
deleted blocks included:

- an encrypted node whose ``config.toml`` names a relay and a node name of the owner's choosing, with a channel,
  posts and a ``serve`` left running that wipes itself (``[safety] wipe_after_days``): the encrypted stores are noise
  once the key slots are erased, and config.toml, which is not encrypted, was left in free blocks;
- a plain node made encrypted (``samizdat encrypt``): the plain databases were renamed over and their blocks kept
  every post, channel name and relay;
- a node without a passphrase (a hub) wiped with ``samizdat wipe --now``: every file was left in free blocks.

What stays out of reach of the code, and so of these tests: the write-ahead logs SQLite deleted under versions
that did not zero them first (the plain nodes here are made elsewhere and copied onto the disk, as their history
is not the commands' to undo; test_seized_plain_wal.py makes and uses its plain nodes on the disk); flash storage
and copy-on-write file systems, which may keep old blocks whatever is overwritten (docs/safety.md, "Red team,
round 4").

Root is needed to mount; the tools are e2fsprogs and mount (scripts/apt/forensic.txt). Every mount is undone, even
when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import ServeProcess
from samizdat.services.deadman import TEST_DAY_VARIABLE
from samizdat.testing import passphrase_env

if TYPE_CHECKING:
    from conftest import Cli

CHANNEL = "Kastrychnitski night watch"
POSTS = [f"Riot police buses parked behind the tractor works, column {n}" for n in range(3)]
NODE_NAME = "Partyzanski flat 7731"
RELAY = "ws://127.0.0.1:9/kastrychnitski-7731"  # a closed port on loopback: nothing leaves the machine
MIRROR = "ws://127.0.0.1:9/nightwatch-mirror-7731"
DISK_MB = 64


class Disk:
    """An ext4 file system in a file, loop-mounted at :attr:`mount`; :meth:`raw` unmounts it and gives its bytes."""

    def __init__(self, image: Path, mount: Path) -> None:
        self.image, self.mount = image, mount
        self.mounted = False

    def unmount(self) -> None:
        if not self.mounted:
            return
        for _ in range(20):  # a process just ended may hold it for a moment
            done = subprocess.run(["umount", str(self.mount)], capture_output=True, timeout=30, check=False)
            if done.returncode == 0:
                self.mounted = False
                return
            time.sleep(0.25)
        subprocess.run(["umount", "-l", str(self.mount)], capture_output=True, timeout=30, check=False)
        self.mounted = False
        pytest.fail(f"{self.mount} could not be unmounted")

    def raw(self) -> bytes:
        """Every byte of the disk, free blocks included, after it is unmounted (everything written, nothing cached)."""
        self.unmount()
        return self.image.read_bytes()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    if os.geteuid() != 0:
        pytest.skip("needs root, to mount an ext4 image")
    mkfs = shutil.which("mkfs.ext4") or shutil.which("mkfs.ext4", path="/usr/sbin:/sbin")
    if mkfs is None or shutil.which("mount") is None:
        pytest.skip("mkfs.ext4 and mount are not installed (Debian: e2fsprogs, mount)")
    image, mount = tmp_path / "disk.img", tmp_path / "mnt"
    mount.mkdir()
    with image.open("wb") as f:
        f.truncate(DISK_MB << 20)
    subprocess.run([mkfs, "-q", "-F", str(image)], check=True, capture_output=True, timeout=60)
    found = Disk(image, mount)
    done = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot loop-mount an ext4 image here: {done.stderr.strip()}")
    found.mounted = True
    try:
        yield found
    finally:
        with contextlib.suppress(BaseException):
            found.unmount()


@pytest.fixture
def on_disk(disk: Disk, monkeypatch: pytest.MonkeyPatch) -> Disk:
    """The commands' home folder and temporary folder on the disk too, so what they leave there is searched."""
    passphrase_env()  # the tests' passphrase file, made before $TMPDIR moves (it is ours, not the node's)
    for name in ("user", "tmp"):
        (disk.mount / name).mkdir()
    monkeypatch.setenv("HOME", str(disk.mount / "user"))
    monkeypatch.setenv("TMPDIR", str(disk.mount / "tmp"))
    return disk


def found_in(raw: bytes, needles: list[str]) -> list[str]:
    """The needles found in ``raw``, in UTF-8 or UTF-16, in any case."""
    low = raw.lower()
    return [n for n in needles if any(n.lower().encode(codec) in low for codec in ("utf-8", "utf-16-le"))]


def fill(cli: Cli) -> list[str]:
    """A channel with a mirror and posts; return what must not be found after the wipe (with the node's keys)."""
    cli.ok("channel", "create", "nightwatch", "--name", CHANNEL, "--mirror", MIRROR)
    for text in POSTS:
        cli.ok("post", "nightwatch", text)
    shown = cli.json("keys", "show")
    return [CHANNEL, *POSTS, MIRROR, shown["npub"], shown["pubkey"]]


def plain_node_copied_onto(disk: Disk, cli_for: type[Cli], tmp_path: Path) -> tuple[Cli, list[str]]:
    """A node without a passphrase, made off the disk and copied onto it (``cp -a``): the disk holds its files as
    they are, not the write-ahead logs its commands deleted on the way."""
    elsewhere = cli_for(tmp_path / "made-here")
    elsewhere.ok("init", "--no-passphrase")
    secrets = fill(elsewhere)
    home = disk.mount / "node"
    subprocess.run(["cp", "-a", str(elsewhere.home), str(home)], check=True, timeout=60)
    os.sync()  # on the disk, as a node's files are after a while: a file deleted before then never got there
    assert found_in(home.joinpath("events.sqlite").read_bytes(), POSTS[:1])  # plain indeed
    return cli_for(home), secrets


def test_a_node_that_wiped_itself_after_n_days_leaves_nothing_of_its_config_on_the_disk(
    on_disk: Disk, cli_for: type[Cli], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = cli_for(on_disk.mount / "user" / ".samizdat")
    cli.ok("init")
    config = cli.home / "config.toml"
    text = config.read_text()
    # What an owner writes into config.toml by hand (docs/operating.md, "What stays plain" asks them not to)
    text = text.replace('name = "samizdat node"', f'name = "{NODE_NAME}"')
    text = text.replace("write_relays = []", f'write_relays = ["{RELAY}"]')
    config.write_text(text + "\n[safety]\nwipe_after_days = 1\n")
    secrets = fill(cli)
    os.sync()  # on the disk, as a node's files are after a while: a file deleted before then never got there
    monkeypatch.setenv(TEST_DAY_VARIABLE, "5")  # a "day" of 5 s, for this test only
    node = ServeProcess(cli.home, tmp_path / "serve.log")  # its log is the test's, off the disk
    try:
        node.process.wait(120)  # serve's own unlock counts; 5 s later nobody has shown up again
    except subprocess.TimeoutExpired:
        pytest.fail("serve did not wipe itself within 120 s")
    finally:
        node.stop()
    assert "wiped: the key slots were erased" in node.log_path.read_text(errors="replace")
    assert not cli.home.exists()
    assert found_in(on_disk.raw(), [NODE_NAME, RELAY, *secrets]) == []


def test_a_plain_node_made_encrypted_leaves_no_plain_copy_on_the_disk(
    on_disk: Disk, cli_for: type[Cli], tmp_path: Path
) -> None:
    cli, secrets = plain_node_copied_onto(on_disk, cli_for, tmp_path)
    result = cli.ok("encrypt")
    assert "kept 4 events" in result.out  # the channel and its three posts
    assert sorted(post["text"] for post in cli.json("feed", "nightwatch")) == sorted(POSTS)
    assert found_in(on_disk.raw(), secrets) == []


def test_a_wiped_node_without_a_passphrase_leaves_none_of_its_files_on_the_disk(
    on_disk: Disk, cli_for: type[Cli], tmp_path: Path
) -> None:
    cli, secrets = plain_node_copied_onto(on_disk, cli_for, tmp_path)
    cli.ok("wipe", "--now")
    assert not cli.home.exists()
    assert found_in(on_disk.raw(), secrets) == []
