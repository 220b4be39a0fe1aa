"""Small file operations the stores, the key slots and the migration share: syncs, and overwriting a secret.

Each raises OSError; callers that may go on without one (a sync of a directory on a file system that refuses it)
say so where they call.

Why overwrite before deleting at all: unlinking a file frees its blocks and leaves their bytes where they were, and
a forensic tool reads them back from the raw disk (ext4, an image of it, a VM's disk file) long after. A file
overwritten in place and synced before it is unlinked leaves zeros there instead. Flash storage (SSD, SD card,
phone) and copy-on-write file systems (btrfs, ZFS, APFS) may still keep the old blocks: docs/safety.md says so.
"""

from __future__ import annotations

import os
from pathlib import Path


def sync_file(path: Path) -> None:
    """fsync the file ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(directory: Path) -> None:
    """fsync ``directory``, so that files made, renamed or deleted in it stay so after a power cut."""
    sync_file(directory)


#: Bytes written at a time by :func:`overwrite`: a large store is zeroed without holding it in memory.
CHUNK = 1 << 20


def overwrite(path: Path, *, sync: bool = True) -> bool:
    """Overwrite every byte of the file ``path`` with zeros, in place (the same blocks, not new ones), and fsync it
    unless ``sync`` is False (then the caller syncs, e.g. with one ``os.sync()`` for many files, before it unlinks
    them: a file unlinked before its writes reach the disk never writes them). A symlink or a missing file is left
    alone (False); True when it was overwritten."""
    if not path.is_file() or path.is_symlink():
        return False
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        zeros = bytes(min(size, CHUNK))
        offset = 0
        while offset < size:
            offset += os.pwrite(fd, zeros[: size - offset], offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return True


def overwrite_secret(path: Path) -> None:
    """Overwrite the small secret file ``path`` with random bytes and sync it, before it is deleted (what flash
    storage keeps of the old blocks is out of reach: docs/safety.md). A symlink or a missing file is left alone."""
    if not path.is_file() or path.is_symlink():
        return
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.pwrite(fd, os.urandom(max(os.fstat(fd).st_size, 64)), 0)
        os.fsync(fd)
    finally:
        os.close(fd)


# --- what a wipe overwrites -------------------------------------------------------------------------------------

SQLITE_HEADER = b"SQLite format 3\x00"  #: the first bytes of a plain SQLite database (an encrypted one has others)
#: Side files of a database: they are what their database is, plain or encrypted.
SQLITE_SIDES = ("-wal", "-shm", "-journal")
#: The first bytes of files sealed under keys that the key slots hold: the slots themselves (erased before the
#: wipe deletes anything), an encrypted node's photos and its identity (blobs.py, config.py).
SEALED_MAGICS = (b"SMZKEYS1", b"SMZBLOB1", b"SMZID\x00\x00\x01")


#: Up to this many files are fsynced one by one by :func:`scrub_tree`; more, and it syncs every file system once.
FSYNC_EACH = 64


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER))
    except OSError:
        return b""


def _encrypted_database(path: str) -> bool:
    """An encrypted database (AEGIS or SQLCipher): named ``*.sqlite``, with a header that is not SQLite's own."""
    head = _head(path)
    return path.endswith(".sqlite") and len(head) == len(SQLITE_HEADER) and head != SQLITE_HEADER


def readable_without_keys(path: str) -> bool:
    """Whether the file ``path`` of a data directory would be readable once its key slots are erased: anything
    but an encrypted database (with its WAL, shared-memory and journal files) and a file sealed under the node's
    keys. Unknown files count as readable: a wipe overwrites them."""
    for side in SQLITE_SIDES:
        if path.endswith(side) and os.path.exists(path[: -len(side)]):
            return not _encrypted_database(path[: -len(side)])
    if _encrypted_database(path):
        return False
    return not _head(path).startswith(SEALED_MAGICS)


def scrub_tree(top: Path, *, encrypted: bool) -> list[str]:
    """Overwrite with zeros the files under ``top`` that stay readable once the keys are gone (a plain node,
    ``encrypted`` False: every file; an encrypted one: those :func:`readable_without_keys`, i.e. config.toml,
    serve.json, the operator codes and anything else not sealed) and sync them to disk, so that deleting ``top``
    afterwards leaves none of their bytes in free blocks.

    Decided for every file before any is overwritten (a zeroed database would no longer tell its WAL's kind).
    Symlinks are not followed. Goes on past failures and returns them; never raises."""
    readable: list[str] = []
    for root, _dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(root, name)
            if not os.path.islink(path) and (not encrypted or readable_without_keys(path)):
                readable.append(path)
    each = len(readable) <= FSYNC_EACH  # an encrypted node's few small files; else one sync for all
    failures: list[str] = []
    for path in readable:
        try:
            overwrite(Path(path), sync=each)
        except OSError as exc:
            failures.append(f"{path}: {exc.strerror}")
    if not each:
        os.sync()  # a plain node's many photos: one fsync each would make the wipe slow
    return failures
