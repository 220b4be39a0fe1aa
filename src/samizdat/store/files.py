"""Small file operations the stores, the key slots and the migration share: syncs, and overwriting a secret.

Each raises OSError; callers that may go on without one (a sync of a directory on a file system that refuses it)
say so where they call.
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
