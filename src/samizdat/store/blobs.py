"""The photo store: blobs in ``<home>/blobs/``, encrypted under the node's data key, with an index.

Theory of operation
-------------------

A blob is named by its SHA-256 everywhere outside this module. On an encrypted node it has no file of its own: its
bytes are a row of the index (``blobs/index.sqlite``, an encrypted database like the event store, under a key
derived from the node's blob key, :attr:`samizdat.core.sealing.NodeKeys.blobs`, itself from the data key). A file
per photo, even encrypted and under a keyed name, told an examiner two things the encryption was there to hide
(red team, round 7b: docs/safety.md): its size, the photo's size plus 36 bytes, which every post's ``imeta`` tag
makes public, so the sizes matched against the relays' posts said which photos (hence which channels' posts) the
device held; and its birth time, to the second the ``created_at`` of the post that the author's device made with
it, so the device was the author of those posts. In the database a photo is pages among the other pages, every
page encrypted and authenticated, and the file's dates are those of its last write only. Deleted rows are
overwritten (``secure_delete``, :mod:`samizdat.store.dbapi`).

An encrypted node's files of before (``SMZBLOB1``: ``magic (8) | nonce (12) | ChaCha20-Poly1305(file key, blob,
aad = magic | sha256)``, named ``HMAC-SHA256(name key, sha256)``) are read and moved into the index, then
deleted, the first time the store is opened by this version (:meth:`BlobStore._take_files`). Their blocks held
ciphertext only.

The index says what is stored: hash, size, type, whether the blob is a thumbnail, when it arrived, and which keys
uploaded it (BUD-12 lists blobs per key, and one blob may be uploaded by several keys). It lives in ``blobs/``
rather than in ``local.sqlite`` so that the blobs and what describes them are moved, counted and wiped together,
and ``events.sqlite`` stays a pure set of signed events.

A node made with ``--no-passphrase`` has no data key: its blobs are then plain files named by their hash, and the
index is a plain SQLite file, like the rest of such a node. When such a node is encrypted later (``samizdat
encrypt``), the first open with the key converts the store: every plain file is written into the encrypted index,
and the plain files and the plain index are overwritten and deleted.

A plain node's writes are atomic: a temporary file in the same directory, synced, renamed over the final name,
and the directory synced; then the index row. A crash between the two leaves a file without a row, which
:meth:`BlobStore.put` simply rewrites next time; a row without a file cannot happen (the row is written second,
and removed first). An encrypted node writes the bytes, then the row, each a transaction of the index.
Every method raises :class:`~samizdat.errors.StoreError` with one sentence when the disk or the index fails.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from samizdat.core.sealing import subkey
from samizdat.errors import StoreError
from samizdat.store import files
from samizdat.store.dbapi import connect, describe, sqlite3

DIRECTORY = "blobs"
INDEX = "index.sqlite"
KEYCHECK = "keycheck"  #: a few bytes encrypted under the file key: tells "another key's store" from "damaged"
MAGIC = b"SMZBLOB1"  #: the key check's file, and an encrypted node's blob files of before
NONCE_SIZE = 12
INLINE_META = "inline"  #: the index's mark that it holds every blob's bytes (the files of before taken in)
FILE_LABEL = b"samizdat/v1 blob files"
NAME_LABEL = b"samizdat/v1 blob names"
INDEX_LABEL = b"samizdat/v1 blob index"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    type TEXT NOT NULL,
    thumb INTEGER NOT NULL DEFAULT 0,   -- 1: a thumbnail (kept longest when the carry quota is full)
    stored_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS owners (
    sha256 TEXT NOT NULL,
    pubkey TEXT NOT NULL,               -- a key that uploaded it (BUD-02), or the author of a post that carried it
    uploaded INTEGER NOT NULL,
    PRIMARY KEY (sha256, pubkey)
);
CREATE INDEX IF NOT EXISTS owners_pubkey ON owners (pubkey, uploaded);
CREATE TABLE IF NOT EXISTS refs (
    sha256 TEXT NOT NULL,
    event_id TEXT NOT NULL,             -- a stored post whose imeta tags name the blob
    PRIMARY KEY (sha256, event_id)
);
CREATE INDEX IF NOT EXISTS refs_event ON refs (event_id);
CREATE TABLE IF NOT EXISTS misses (
    sha256 TEXT PRIMARY KEY,            -- a referenced blob no source had yet
    tries INTEGER NOT NULL,
    next_attempt REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
#: An encrypted store's blobs themselves (a plain node's are files).
_DATA = "CREATE TABLE IF NOT EXISTS data (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL);"


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """One stored blob as the index knows it; ``uploaded`` is when ``owner`` gave it (or when it arrived)."""

    sha256: str
    size: int
    type: str
    thumb: bool
    uploaded: int
    owner: str = ""


class Blobs(Protocol):
    """What the services ask of a photo store: :class:`BlobStore` (files in the data directory) or
    :class:`~samizdat.store.pgblobs.PgBlobStore` (rows in PostgreSQL, when the events are there). Every method
    may raise :class:`~samizdat.errors.StoreError` with one sentence."""

    def close(self) -> None: ...

    def has(self, sha256: str) -> bool: ...

    def entry(self, sha256: str) -> BlobEntry | None: ...

    def get(self, sha256: str) -> bytes | None:
        """The blob's bytes, or None when it is not stored or its bytes do not hash to ``sha256``."""
        ...

    def listing(self, owner: str, *, since: int | None = None, until: int | None = None) -> list[BlobEntry]: ...

    def entries(self) -> list[BlobEntry]: ...

    def owners(self, sha256: str) -> set[str]: ...

    def referenced_by(self, sha256: str) -> set[str]: ...

    def add_refs(self, event_id: str, hashes: Iterable[str]) -> None: ...

    def drop_refs(self, event_id: str) -> set[str]: ...

    def missing(self, now: float, limit: int) -> list[tuple[str, str]]: ...

    def missed(self, sha256: str, now: float, delay: float) -> None: ...

    def meta(self, name: str, default: str = "") -> str: ...

    def set_meta(self, name: str, value: str) -> None: ...

    def total_bytes(self) -> int: ...

    def put(self, sha256: str, data: bytes, mime: str, *, thumb: bool, now: int, owner: str | None = None) -> bool: ...

    def mark_thumb(self, sha256: str) -> None: ...

    def disown(self, sha256: str, owner: str) -> bool: ...

    def delete(self, sha256: str) -> bool: ...


#: The longest a retry of a missing blob waits (see :meth:`BlobStore.missed`).
MISS_WAIT_MAX = 86400.0


def miss_wait(tries: int, delay: float) -> float:
    """Seconds before the next try of a blob no source had, after ``tries`` misses: ``delay``, doubling each time."""
    return min(delay * 2.0 ** min(tries - 1, 10), MISS_WAIT_MAX)


_TABLES = ("blobs", "owners", "refs", "misses", "meta")


PLAIN_INDEX = "plain-index.sqlite"  #: a plain index being converted (kept until its rows are in the new one)


def _plain_index_rows(directory: Path) -> dict[str, list[tuple[object, ...]]] | None:
    """The rows of a plain (unencrypted) index in ``directory``, moved aside to :data:`PLAIN_INDEX` (removed by
    :meth:`BlobStore._adopt_plain` once converted); None when there is none."""
    index = directory / INDEX
    try:
        with index.open("rb") as handle:
            plain = handle.read(16) == b"SQLite format 3\x00"
    except FileNotFoundError:
        plain = False
    if plain:
        for suffix in ("", "-wal", "-shm"):
            if (directory / (INDEX + suffix)).exists():
                os.replace(directory / (INDEX + suffix), directory / (PLAIN_INDEX + suffix))
    if not (directory / PLAIN_INDEX).exists():
        return None
    conn = connect(str(directory / PLAIN_INDEX), None)
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in _TABLES if t in names}
    finally:
        conn.close()


class BlobStore:
    def __init__(self, directory: Path, key: bytes | None) -> None:
        """Open (creating as needed) the blob store in ``directory``, encrypted under ``key`` (the node's blob key)
        or plain without one. Raises StoreError when the directory or its index cannot be opened."""
        self.directory = directory
        self.encrypted = key is not None
        self._aead = ChaCha20Poly1305(subkey(key, FILE_LABEL)) if key else None
        self._names = subkey(key, NAME_LABEL) if key else b""
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            plain_rows = _plain_index_rows(directory) if key else None
            index_key = subkey(key, INDEX_LABEL) if key else None
            try:
                self._db = connect(str(directory / INDEX), index_key, isolation_level=None, check_same_thread=False)
            except sqlite3.DatabaseError:
                if key is None or not self._erased():
                    raise
                self._db = connect(str(directory / INDEX), index_key, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA temp_store = MEMORY")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA + (_DATA if key else ""))
            if plain_rows is not None:
                self._adopt_plain(plain_rows)
            if key is not None and self._key_opens() is None:
                self._write_keycheck()
            if key is not None and self.meta(INLINE_META) != "1":
                self._take_files()
        except OSError as exc:
            raise StoreError(f"cannot open the blob store {directory}: {exc.strerror or exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the blob index in {directory}: {describe(exc)}") from exc

    def close(self) -> None:
        self._db.close()

    def _erased(self) -> bool:
        """After a duress unlock the node's data key is another one, and this directory holds the store of the
        erased key: nothing in it can be read any more. Then empty it and return True, so that the node opens with
        an empty photo store, like a fresh node. When :data:`KEYCHECK` still opens under this key, the index is
        only damaged: False (the caller raises, and nothing is deleted)."""
        if self._key_opens() is True:
            return False
        for path in [p for p in self.directory.iterdir() if p.is_file()]:
            path.unlink(missing_ok=True)  # no overwrite: crypto-erased already, and a duress unlock must stay quick
        files.sync_dir(self.directory)
        return True

    def _key_opens(self) -> bool | None:
        """Whether :data:`KEYCHECK` opens under this store's key (None: there is none yet)."""
        try:
            raw = (self.directory / KEYCHECK).read_bytes()
        except FileNotFoundError:
            return None
        assert self._aead is not None
        nonce = raw[len(MAGIC) : len(MAGIC) + NONCE_SIZE]
        try:
            self._aead.decrypt(nonce, raw[len(MAGIC) + NONCE_SIZE :], MAGIC + KEYCHECK.encode())
        except (InvalidTag, ValueError):
            return False
        return True

    def _write_keycheck(self) -> None:
        assert self._aead is not None
        nonce = os.urandom(NONCE_SIZE)
        path = self.directory / KEYCHECK
        path.write_bytes(MAGIC + nonce + self._aead.encrypt(nonce, b"samizdat blobs", MAGIC + KEYCHECK.encode()))
        files.sync_file(path)

    def _adopt_plain(self, rows: dict[str, list[tuple[object, ...]]]) -> None:
        """Encrypt the blobs of a store that was plain (the node was encrypted since), then forget the plain
        copies: see the module's docstring."""
        for table, values in rows.items():
            for row in values:
                marks = ", ".join("?" * len(row))
                self._db.execute(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", row)
        hashes = [row[0] for row in self._db.execute("SELECT sha256 FROM blobs").fetchall()]
        for sha256 in hashes:
            plain = self.directory / sha256
            if plain.is_file() and not self.path(sha256).exists():
                self._write(sha256, plain.read_bytes())
        for sha256 in hashes:  # only now: a crash before this leaves plain copies to convert next time
            files.overwrite_secret(self.directory / sha256)
            (self.directory / sha256).unlink(missing_ok=True)
        for suffix in ("", "-wal", "-shm"):
            leftover = self.directory / (PLAIN_INDEX + suffix)
            files.overwrite_secret(leftover)
            leftover.unlink(missing_ok=True)
        files.sync_dir(self.directory)

    def _take_files(self) -> None:
        """Move the blobs of an encrypted store of before, a file each, into the index, delete the files, and mark
        the store so (once: later opens skip it). The files held ciphertext only: they are not overwritten."""
        for (sha256,) in self._db.execute("SELECT sha256 FROM blobs").fetchall():
            data = self._read_file(sha256)
            if data is not None:
                self._db.execute("INSERT OR REPLACE INTO data (sha256, bytes) VALUES (?, ?)", (sha256, data))
            self.path(sha256).unlink(missing_ok=True)
        for leftover in self.directory.glob(".tmp-*"):
            leftover.unlink(missing_ok=True)
        files.sync_dir(self.directory)
        self.set_meta(INLINE_META, "1")

    def _run(self, sql: str, params: Iterable[object] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise StoreError(f"the blob index could not be updated: {describe(exc)}") from exc

    def path(self, sha256: str) -> Path:
        """Where blob ``sha256``'s file is (or would be)."""
        if not self.encrypted:
            return self.directory / sha256
        return self.directory / hmac.new(self._names, bytes.fromhex(sha256), hashlib.sha256).hexdigest()

    # -- reading -----------------------------------------------------------------------------------------------

    def has(self, sha256: str) -> bool:
        return self._run("SELECT 1 FROM blobs WHERE sha256 = ?", (sha256,)).fetchone() is not None

    def entry(self, sha256: str) -> BlobEntry | None:
        row = self._run("SELECT sha256, size, type, thumb, stored_at FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else BlobEntry(row[0], row[1], row[2], bool(row[3]), row[4])

    def get(self, sha256: str) -> bytes | None:
        """The blob's bytes, or None when it is not stored, or its file is missing or was altered (the bytes
        must hash to ``sha256``: a damaged file is never served)."""
        if not self.has(sha256):
            return None
        if self.encrypted:
            row = self._run("SELECT bytes FROM data WHERE sha256 = ?", (sha256,)).fetchone()
            raw = None if row is None else bytes(row[0])
        else:
            raw = self._read_file(sha256)
        return raw if raw is not None and hashlib.sha256(raw).hexdigest() == sha256 else None

    def _read_file(self, sha256: str) -> bytes | None:
        """The bytes of blob ``sha256``'s file (a plain node's, or an encrypted node's of before, opened), or None
        when there is none or it does not open."""
        try:
            raw = self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read a blob: {exc.strerror or exc}") from exc
        if self._aead is None:
            return raw
        magic = raw[: len(MAGIC)]
        if magic != MAGIC or len(raw) < len(MAGIC) + NONCE_SIZE:
            return None
        nonce = raw[len(MAGIC) : len(MAGIC) + NONCE_SIZE]
        try:
            raw = self._aead.decrypt(nonce, raw[len(MAGIC) + NONCE_SIZE :], magic + sha256.encode())
        except InvalidTag:
            return None
        return raw

    def listing(self, owner: str, *, since: int | None = None, until: int | None = None) -> list[BlobEntry]:
        """The blobs ``owner`` uploaded, newest first (BUD-12), optionally between ``since`` and ``until``."""
        rows = self._run(
            "SELECT b.sha256, b.size, b.type, b.thumb, o.uploaded, o.pubkey FROM owners o JOIN blobs b USING (sha256) "
            "WHERE o.pubkey = ? AND o.uploaded >= ? AND o.uploaded <= ? ORDER BY o.uploaded DESC, b.sha256",
            (owner, since if since is not None else 0, until if until is not None else 1 << 62),
        ).fetchall()
        return [BlobEntry(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]

    def entries(self) -> list[BlobEntry]:
        """Every stored blob, oldest first."""
        rows = self._run("SELECT sha256, size, type, thumb, stored_at FROM blobs ORDER BY stored_at, sha256")
        return [BlobEntry(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows.fetchall()]

    def owners(self, sha256: str) -> set[str]:
        return {row[0] for row in self._run("SELECT pubkey FROM owners WHERE sha256 = ?", (sha256,))}

    def referenced_by(self, sha256: str) -> set[str]:
        """The ids of the stored posts that reference the blob."""
        return {row[0] for row in self._run("SELECT event_id FROM refs WHERE sha256 = ?", (sha256,))}

    def add_refs(self, event_id: str, hashes: Iterable[str]) -> None:
        for sha256 in hashes:
            self._run("INSERT OR IGNORE INTO refs (sha256, event_id) VALUES (?, ?)", (sha256, event_id))

    def drop_refs(self, event_id: str) -> set[str]:
        """Forget the references of post ``event_id``; return the hashes no other post references now."""
        hashes = {row[0] for row in self._run("SELECT sha256 FROM refs WHERE event_id = ?", (event_id,))}
        self._run("DELETE FROM refs WHERE event_id = ?", (event_id,))
        return {h for h in hashes if not self.referenced_by(h)}

    def missing(self, now: float, limit: int) -> list[tuple[str, str]]:
        """(sha256, event id) of referenced blobs not stored here and due for another try, oldest post first."""
        rows = self._run(
            "SELECT r.sha256, min(r.event_id) FROM refs r LEFT JOIN blobs b USING (sha256) "
            "LEFT JOIN misses m USING (sha256) WHERE b.sha256 IS NULL AND coalesce(m.next_attempt, 0) <= ? "
            "GROUP BY r.sha256 ORDER BY min(r.rowid) LIMIT ?",
            (now, limit),
        )
        return [(row[0], row[1]) for row in rows.fetchall()]

    def missed(self, sha256: str, now: float, delay: float) -> None:
        """Record that no source had blob ``sha256``: try again after ``delay`` seconds, doubling each time."""
        row = self._run("SELECT tries FROM misses WHERE sha256 = ?", (sha256,)).fetchone()
        tries = (row[0] if row else 0) + 1
        wait = miss_wait(tries, delay)
        self._run("INSERT OR REPLACE INTO misses (sha256, tries, next_attempt) VALUES (?, ?, ?)", (sha256, tries,
                  now + wait))  # fmt: skip

    def meta(self, name: str, default: str = "") -> str:
        row = self._run("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, name: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def total_bytes(self) -> int:
        return int(self._run("SELECT coalesce(sum(size), 0) FROM blobs").fetchone()[0])

    # -- writing -----------------------------------------------------------------------------------------------

    def put(self, sha256: str, data: bytes, mime: str, *, thumb: bool, now: int, owner: str | None = None) -> bool:
        """Store ``data`` (whose SHA-256 the caller has checked is ``sha256``); record ``owner`` as one of its
        uploaders. Returns False when the blob was already stored (its file is then left as it is)."""
        fresh = self.get(sha256) is None
        if fresh:
            self._write(sha256, data)
            self._run(
                "INSERT INTO blobs (sha256, size, type, thumb, stored_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, type = excluded.type",
                (sha256, len(data), mime, int(thumb), now),
            )
        elif thumb:
            self._run("UPDATE blobs SET thumb = 1 WHERE sha256 = ?", (sha256,))
        self._run("DELETE FROM misses WHERE sha256 = ?", (sha256,))
        if owner:
            self._run("INSERT OR IGNORE INTO owners (sha256, pubkey, uploaded) VALUES (?, ?, ?)", (sha256, owner, now))
        return fresh

    def mark_thumb(self, sha256: str) -> None:
        self._run("UPDATE blobs SET thumb = 1 WHERE sha256 = ?", (sha256,))

    def disown(self, sha256: str, owner: str) -> bool:
        """Forget that ``owner`` uploaded the blob; True when they had."""
        return self._run("DELETE FROM owners WHERE sha256 = ? AND pubkey = ?", (sha256, owner)).rowcount > 0

    def delete(self, sha256: str) -> bool:
        """Remove the blob, its row and its owners; True when it was stored. The file is overwritten first (a
        rename or unlink alone would leave the photo in free blocks of a plain node)."""
        had = self.has(sha256)
        self._run("DELETE FROM owners WHERE sha256 = ?", (sha256,))
        self._run("DELETE FROM blobs WHERE sha256 = ?", (sha256,))
        if self.encrypted:  # its row is overwritten (secure_delete)
            self._run("DELETE FROM data WHERE sha256 = ?", (sha256,))
            return had
        path = self.path(sha256)
        try:
            files.overwrite_secret(path)
            path.unlink(missing_ok=True)
            files.sync_dir(self.directory)
        except OSError as exc:
            raise StoreError(f"cannot delete a blob: {exc.strerror or exc}") from exc
        return had

    def _write(self, sha256: str, data: bytes) -> None:
        if self.encrypted:
            self._run("INSERT OR REPLACE INTO data (sha256, bytes) VALUES (?, ?)", (sha256, data))
            return
        final = self.path(sha256)
        temporary = self.directory / f".tmp-{secrets.token_hex(8)}"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, final)
            files.sync_dir(self.directory)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise StoreError(f"cannot write a blob: {exc.strerror or exc}") from exc
