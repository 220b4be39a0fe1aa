"""Turning a plain data directory into an encrypted one (``samizdat encrypt``), safe against a kill at any point.

Theory of operation
-------------------

Everything new is built in a staging directory inside the data directory, ``<home>/encrypting/``, beside the plain
files, which stay the live stores until the copy is proven whole:

1. :func:`begin`: the staging directory and its journal (``encrypting/journal``, state ``copying``), fsynced;
2. the caller writes the new key slots and the sealed identity into the staging directory;
3. :func:`hold` takes a write lock on each plain database (``BEGIN IMMEDIATE``), kept until the commit, so that a
   command started before cannot write what the copy would miss (it waits, then fails with "locked");
4. :func:`export`: ``VACUUM INTO`` copies each database into a new file encrypted under its
   key (``encrypting/events.sqlite``, ``encrypting/local.sqlite``), fsynced;
5. :func:`digest` of both sides, which must be equal: the schema and its version, and per table the count and an
   order-free hash of every row (the sum of the rows' SHA-256, so that a copy whose rows got new rowids still
   compares); for the event store also the count and a SHA-256 over every event id, in order;
6. :func:`commit`: the journal becomes ``verified`` (a temporary file fsynced, renamed, the directory fsynced).
   This is the single point of no return;
7. :func:`scrub_plain`, while the write locks are still held: each plain database and its side files are
   overwritten with zeros in place and synced (a rename or an unlink alone frees their blocks with the posts, the
   channels, the follows and the relays still in them, for any forensic tool to read back from the disk; and
   SQLite deletes a plain WAL when its last connection closes, so the WAL is zeroed before that);
8. :func:`roll_forward`: each staged file is renamed over its plain twin (the plain ``-wal`` and ``-shm`` files
   deleted first, so that the encrypting library never reads a plain WAL into an encrypted database; after a
   kill, the plain files are scrubbed again first), ``keys.slots`` last;
   then the plain identity key is overwritten and deleted, and the ``unencrypted`` marker; then the staging
   directory goes.

:func:`recover` needs no passphrase: a staging directory whose journal does not say ``verified`` is deleted (the
plain files were only read, so the home is as it was), one that does is rolled forward (every step of which may be
done twice). So at every instant one set of stores is live: the plain one before the commit, the encrypted one
after; never both, never neither. Only the caller's lock (services/encryption.py) keeps two processes from
recovering at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from samizdat.config import ENCRYPTING, IDENTITY_PLAIN, IDENTITY_SEALED, KEY_SLOTS, PLAIN_MARKER
from samizdat.errors import StoreError
from samizdat.store import aegis, files
from samizdat.store.dbapi import connect, connect_plain, describe, sqlite3

JOURNAL = "journal"
DATABASES = ("events.sqlite", "local.sqlite")
#: What a committed migration moves into the home, in this order: the key slots last, so that a home that has them
#: has everything else (``samizdat.config.home_kind`` calls a home with key slots encrypted).
MOVED = (*DATABASES, IDENTITY_SEALED, KEY_SLOTS)
_SIDE_FILES = ("-wal", "-shm", "-journal")

Step = Callable[[str], None]


def _no_step(name: str) -> None:
    pass


@dataclass(frozen=True)
class Digest:
    """What a database holds, to compare a copy with its original."""

    version: int  # PRAGMA user_version: the schema's migration number
    schema: str  # SHA-256 over the tables', indexes' and triggers' SQL
    tables: dict[str, tuple[int, str]]  # table -> (rows, order-free hash of the rows)
    ids: tuple[int, str] | None  # events.sqlite: (events, SHA-256 over every event id in order)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "schema": self.schema,
            "tables": {name: list(value) for name, value in self.tables.items()},
            "ids": list(self.ids) if self.ids else None,
        }


def staging(home: Path) -> Path:
    return home / ENCRYPTING


def pending(home: Path) -> bool:
    """Whether an interrupted (or running) migration left its staging directory in ``home``."""
    return staging(home).exists()


# --- files ------------------------------------------------------------------------------------------------------


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _write_journal(home: Path, state: dict[str, Any]) -> None:
    directory = staging(home)
    temporary = directory / (JOURNAL + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(state))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / JOURNAL)
    files.sync_dir(directory)


def read_journal(home: Path) -> dict[str, Any]:
    """The journal of a pending migration; ``{}`` when it is missing or half written (the state before it)."""
    try:
        state = orjson.loads((staging(home) / JOURNAL).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return state if isinstance(state, dict) else {}


def begin(home: Path) -> Path:
    """Make the staging directory (mode 0700) with its journal at ``copying``; return the directory.
    Raises StoreError if one is there already (:func:`recover` it first) or cannot be made."""
    directory = staging(home)
    try:
        directory.mkdir(mode=0o700)
        files.sync_dir(home)
        _write_journal(home, {"state": "copying"})
    except OSError as exc:
        raise StoreError(f"cannot make {directory}: {exc.strerror or exc}") from exc
    return directory


def commit(home: Path, summary: dict[str, Any]) -> None:
    """The point of no return: the staged files are verified and complete; from here the migration is finished,
    never undone. ``summary`` is kept in the journal for the report of a run that finishes it. Raises StoreError."""
    try:
        for name in os.listdir(staging(home)):
            files.sync_file(staging(home) / name)
        _write_journal(home, {"state": "verified", "summary": summary})
    except OSError as exc:
        raise StoreError(f"cannot write {staging(home) / JOURNAL}: {exc.strerror or exc}") from exc


def roll_back(home: Path) -> None:
    """Delete the staging directory of a migration that did not reach :func:`commit` (the plain home stays as it
    was). The journal goes last, so that a kill meanwhile leaves a staging directory that is rolled back again.
    Raises StoreError."""
    directory = staging(home)
    if read_journal(home).get("state") == "verified":
        raise StoreError(f"{directory} holds a verified copy: it is finished, never rolled back")
    try:
        for entry in directory.iterdir():
            if entry.name != JOURNAL:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        _unlink(directory / JOURNAL)
        directory.rmdir()
        files.sync_dir(home)
    except OSError as exc:
        raise StoreError(f"cannot delete {directory}: {exc.strerror or exc}") from exc


def scrub_plain(home: Path) -> None:
    """Overwrite the plain databases of ``home`` and their side files with zeros, in place, synced: only after
    :func:`commit` (they are useless from then on), and best while :func:`hold` still holds them (the WAL, which
    SQLite deletes when the last connection closes, is then zeros). Raises StoreError."""
    if read_journal(home).get("state") != "verified":
        raise StoreError(f"{staging(home)} is not verified: the plain files are still the live ones")
    try:
        for name in DATABASES:
            if (staging(home) / name).exists():  # not moved in yet: the file at its name is still the plain one
                for suffix in ("", *_SIDE_FILES):
                    files.overwrite(home / (name + suffix))
    except OSError as exc:
        raise StoreError(f"cannot overwrite the plain files of {home}: {exc.strerror or exc}") from exc


def roll_forward(home: Path, step: Step = _no_step, *, scrubbed: bool = False) -> None:
    """Finish a committed migration: move the staged files in, delete the plain ones (overwritten first, unless
    ``scrubbed`` says :func:`scrub_plain` did it), then the staging directory. Every step may be done again after
    a kill. ``step(name)`` is called after each. Raises StoreError."""
    if not scrubbed:
        scrub_plain(home)
    directory = staging(home)
    try:
        for name in MOVED:
            staged = directory / name
            if not staged.exists():
                continue  # moved already (or there was no such plain database: it is made at the first open)
            for suffix in _SIDE_FILES:
                _unlink(home / (name + suffix))
            os.replace(staged, home / name)
            files.sync_dir(home)
            step(f"moved-{name.split('.')[0]}")
        files.overwrite_secret(home / IDENTITY_PLAIN)
        _unlink(home / IDENTITY_PLAIN)
        _unlink(home / PLAIN_MARKER)
        files.sync_dir(home)
        step("plain-removed")
        for entry in directory.iterdir():
            if entry.name != JOURNAL:
                entry.unlink()
        _unlink(directory / JOURNAL)
        directory.rmdir()
        files.sync_dir(home)
    except OSError as exc:
        reason = exc.strerror or exc
        raise StoreError(f"cannot finish encrypting {home}: {reason}; run `samizdat encrypt` again") from exc


def recover(home: Path) -> tuple[Literal["finished", "rolled back"], dict[str, Any]]:
    """Finish or undo an interrupted migration (call only under the caller's lock): ``("finished", summary)`` if it
    had been verified, else ``("rolled back", {})``. Raises StoreError."""
    state = read_journal(home)
    if state.get("state") == "verified":
        roll_forward(home)
        summary = state.get("summary")
        return "finished", summary if isinstance(summary, dict) else {}
    roll_back(home)
    return "rolled back", {}


# --- databases --------------------------------------------------------------------------------------------------


def hold(path: Path) -> sqlite3.Connection:
    """A connection holding the write lock of the plain database ``path`` until it is closed; it reads the state
    the copy is made of. Raises StoreError when another process keeps it locked."""
    try:
        conn = connect_plain(str(path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as exc:
        raise StoreError(f"cannot lock {path}: {describe(exc)}; stop every other samizdat command first") from exc
    return conn


def release(conn: sqlite3.Connection) -> None:
    """Let go of a :func:`hold` (nothing was written under it)."""
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
    with contextlib.suppress(sqlite3.Error):  # after scrub_plain the file is zeros: nothing is left to close well
        conn.close()


def export(plain: Path, target: Path, key: bytes) -> None:
    """Copy the plain database ``plain`` into the new file ``target``, encrypted under ``key`` (``VACUUM INTO``
    an AEGIS-encrypted file: schema, rows, sequences and the schema version), in WAL mode as the stores keep their
    files, and sync it to disk. Raises StoreError."""
    try:
        aegis.export_plain(plain, target, key)
        conn = connect(str(target), key, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        finally:
            conn.close()
        files.sync_file(target)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot copy {plain}: {describe(exc)}") from exc
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc


def open_copy(path: Path, key: bytes) -> sqlite3.Connection:
    """A fresh read-only connection to an encrypted copy, to digest it as the next open will find it."""
    try:
        return connect(f"{path.absolute().as_uri()}?mode=ro", key, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the encrypted copy {path}: {describe(exc)}") from exc


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def digest(conn: sqlite3.Connection) -> Digest:
    """The :class:`Digest` of the database behind ``conn`` (the main one), read by the encrypting library on both
    sides, so that both decode their values alike. Raises StoreError."""
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        schema = sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall())
        tables: dict[str, tuple[int, str]] = {}
        for kind, name, _table, sql in schema:
            if kind != "table" or (sql or "").upper().startswith("CREATE VIRTUAL"):
                continue  # a virtual table's rows are those of its shadow tables, which are hashed
            rows, total = 0, 0
            for row in conn.execute(f"SELECT * FROM {_quoted(name)}"):
                total += int.from_bytes(hashlib.sha256(repr(row).encode()).digest(), "big")
                rows += 1
            tables[name] = (rows, format(total % 2**256, "064x"))
        ids = None
        if "events" in tables:
            hasher, count = hashlib.sha256(), 0
            for (event_id,) in conn.execute("SELECT id FROM events ORDER BY id"):
                hasher.update(event_id)
                count += 1
            ids = (count, hasher.hexdigest())
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the database to verify it: {describe(exc)}") from exc
    return Digest(version, hashlib.sha256(repr(schema).encode()).hexdigest(), tables, ids)


def differences(plain: Digest, copy: Digest) -> list[str]:
    """What differs between a database and its copy, as phrases (empty: the same)."""
    found = []
    if plain.version != copy.version:
        found.append(f"schema version {plain.version} became {copy.version}")
    if plain.schema != copy.schema:
        found.append("the schema differs")
    for name in sorted(set(plain.tables) | set(copy.tables)):
        was, now = plain.tables.get(name), copy.tables.get(name)
        if was != now:
            found.append(f"table {name}: {was[0] if was else 'no'} rows, {now[0] if now else 'none'} copied or changed")
    if plain.ids != copy.ids:
        found.append("the event ids differ")
    return found
