"""store/files.py: what a wipe overwrites before it deletes, told from the files themselves.

An encrypted node's databases (and their WAL) and sealed files are noise once the key slots are erased, and are
left as they are; everything else (config.toml, serve.json, the operator codes, an unknown file, and every file of a
plain node) is zeroed in place. The raw-disk test of the same is tests/e2e/test_seized_round3.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from samizdat.store import files

SECRET = b"Riot police buses parked behind the tractor works"


def plain_database(path: Path) -> sqlite3.Connection:
    """A plain SQLite database in WAL mode holding SECRET, left open so that its WAL still holds it."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE posts (text BLOB)")
    conn.execute("INSERT INTO posts VALUES (?)", (SECRET,))
    conn.commit()
    return conn


def encrypted_looking(path: Path) -> None:
    """A file laid out as an encrypted database is: no SQLite header, noise after it."""
    path.write_bytes(b"\x21\xe4\x09\x82" + bytes(range(12)) + SECRET)


def test_what_a_wipe_overwrites_on_an_encrypted_node(tmp_path: Path) -> None:
    encrypted_looking(tmp_path / "events.sqlite")
    (tmp_path / "events.sqlite-wal").write_bytes(b"frames " + SECRET)  # what the database is, its WAL is
    (tmp_path / "identity.sealed").write_bytes(b"SMZID\x00\x00\x01" + SECRET)
    (tmp_path / "config.toml").write_bytes(b'write_relays = ["wss://' + SECRET + b'"]')
    (tmp_path / "web-operators").write_bytes(SECRET)
    conn = plain_database(tmp_path / "plain.sqlite")  # a plain database left in an encrypted node: zeroed too
    try:
        assert files.scrub_tree(tmp_path, encrypted=True) == []
        kept = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    finally:
        conn.close()
    for name in ("events.sqlite", "events.sqlite-wal", "identity.sealed"):
        assert SECRET in kept[name], name
    for name in ("config.toml", "web-operators", "plain.sqlite", "plain.sqlite-wal"):
        assert kept[name] == bytes(len(kept[name])), name
        assert kept[name], name  # zeroed in place, not truncated: the same blocks are written


def test_on_a_plain_node_every_file_is_overwritten(tmp_path: Path) -> None:
    encrypted_looking(tmp_path / "events.sqlite")  # a plain node has no such thing: whatever it holds goes
    (tmp_path / "photo").write_bytes(SECRET * 100_000)  # larger than one chunk of zeros
    assert files.scrub_tree(tmp_path, encrypted=False) == []
    for path in tmp_path.iterdir():
        assert path.read_bytes() == bytes(path.stat().st_size), path.name


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(SECRET)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").symlink_to(outside)
    assert files.scrub_tree(home, encrypted=False) == []
    assert outside.read_bytes() == SECRET
