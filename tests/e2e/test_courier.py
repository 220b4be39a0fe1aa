"""The courier stopped at a checkpoint: what a stick holding an exported bundle gives away, and what it still carries.

Real ``samizdat`` commands on real files. A node takes 400 signed posts (from a plain bundle made here), exports
them ``--seal``ed; an examiner looks at the bytes; another node imports them with the right passphrase, the wrong
one, and half the file.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from samizdat.core.bundle import MAGIC, BundleWriter
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.testing import TEST_PASSPHRASE

if TYPE_CHECKING:
    from conftest import Cli

POSTS = 400
STICK_PASSPHRASE = "rain over the square at noon"


def _plain_bundle(path: Path) -> set[str]:
    """A plain bundle of POSTS signed posts (hex content: it hardly compresses, so the file has many blocks)."""
    key = SecretKey.generate()
    now = int(time.time()) - 3600
    writer = BundleWriter(created_at=now, bundle_id=os.urandom(16))
    data, ids = bytearray(), set()
    for i in range(POSTS):
        event = sign_event(key, 1, f"Square, {i}: " + os.urandom(300).hex(), created_at=now + i)
        ids.add(event.id)
        data += writer.add(event) or b""
    data += writer.finish()
    data[:64] = writer.header(total_parts=1)
    path.write_bytes(bytes(data))
    return ids


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, cli_for: Callable[[Path], Cli]) -> Path:
    """A node holding the posts, and the sealed file it exported to a stick (a folder of its own)."""
    root = tmp_path_factory.mktemp("courier")
    node = cli_for(root / "home")
    node.ok("init")
    plain = root / "plain.smz"
    _plain_bundle(plain)
    node.ok("import", str(plain))
    stick = root / "stick"
    stick.mkdir()
    out = stick / "holiday.jpg.bin"
    done = node.typed([TEST_PASSPHRASE, STICK_PASSPHRASE], "export", "--seal", "-o", str(out))
    assert done.code == 0, done.err
    assert sorted(p.name for p in stick.iterdir()) == [out.name]  # no .tmp left behind
    return out


def test_a_sealed_stick_shows_nothing_but_random_bytes(sealed: Path) -> None:
    data = sealed.read_bytes()
    assert len(data) % 4096 == 0  # a padded size, nothing of the count of posts
    assert not data.startswith(MAGIC)
    # Strings of 6 bytes or more: a 3-byte one ("SMZ") turns up by chance in 1 sealed file of 85 this size.
    for readable in (MAGIC, b'"pubkey"', b"Square"):
        assert readable not in data
    assert len(zlib.compress(data, 9)) > len(data) * 0.99  # nothing deflate could find
    counts = Counter(data)
    expected = len(data) / 256
    chi2 = sum((counts.get(b, 0) - expected) ** 2 / expected for b in range(256))
    assert chi2 < 255 + 8 * math.sqrt(2 * 255)  # uniform bytes: mean 255, sd 22.6


def test_the_right_passphrase_imports_every_post_the_wrong_one_nothing(
    sealed: Path, tmp_path: Path, cli_for: Callable[[Path], Cli]
) -> None:
    other = cli_for(tmp_path / "other")
    other.ok("init")
    wrong = other.typed([TEST_PASSPHRASE, "rain over the square at nine"], "import", str(sealed))
    assert wrong.code != 0
    lines = wrong.error_lines
    assert len(lines) == 1, wrong.err
    assert "passphrase does not open" in lines[0]
    assert "0 new" in wrong.out
    right = other.typed([TEST_PASSPHRASE, STICK_PASSPHRASE], "import", str(sealed), "--json")
    assert right.code == 0, right.err
    assert right.json()["new"] == POSTS  # the wrong passphrase had imported none of them


def test_a_truncated_sealed_file_gives_its_intact_part(
    sealed: Path, tmp_path: Path, cli_for: Callable[[Path], Cli]
) -> None:
    half = tmp_path / "half.bin"
    data = sealed.read_bytes()
    half.write_bytes(data[: len(data) // 2 + 1000])  # cut in the middle of a chunk, too
    other = cli_for(tmp_path / "other")
    other.ok("init")
    done = other.typed([TEST_PASSPHRASE, STICK_PASSPHRASE], "import", str(half))
    assert done.code != 0
    assert len(done.error_lines) == 1, done.err
    assert "damaged" in done.error_lines[0]
    new = int(done.out.split("Imported: ")[1].split(" new")[0])
    assert POSTS // 4 < new < POSTS


def test_sealed_parts_fit_a_messenger_and_import_in_any_order(
    sealed: Path, tmp_path: Path, cli_for: Callable[[Path], Cli]
) -> None:
    node = cli_for(sealed.parent.parent / "home")
    out = tmp_path / "a.bin"
    done = node.typed([TEST_PASSPHRASE, STICK_PASSPHRASE], "export", "--seal", "--max-size", "40KB", "-o", str(out))
    assert done.code == 0, done.err
    parts = sorted(tmp_path.glob("a*.bin"))
    assert len(parts) > 2
    assert all(p.stat().st_size <= 40_000 and p.stat().st_size % 4096 == 0 for p in parts)
    other = cli_for(tmp_path / "other")
    other.ok("init")
    took = other.typed([TEST_PASSPHRASE, STICK_PASSPHRASE], "import", *map(str, reversed(parts)), "--json")
    assert took.code == 0, took.err
    assert took.json()["new"] == POSTS


def test_a_plain_export_does_not_say_when_it_was_made(tmp_path: Path, cli_for: Callable[[Path], Cli]) -> None:
    node = cli_for(tmp_path / "home")
    node.ok("init")
    plain = tmp_path / "in.smz"
    _plain_bundle(plain)
    node.ok("import", str(plain))
    out = tmp_path / "out.smz"
    node.ok("export", "-o", str(out))
    assert out.read_bytes()[52:60] == bytes(8)  # the header's "created at": unknown
