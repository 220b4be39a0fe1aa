"""SQLite writes no temporary file of an encrypted node: SQLite's temporary files (a sort or an index build larger
than its cache, a temporary table, VACUUM) are not encrypted by SQLCipher or SQLite3 Multiple Ciphers, and go to
$SQLITE_TMPDIR, $TMPDIR or /tmp, outside the encrypted data directory. Every encrypted connection keeps them in
memory, whatever the library was built to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from samizdat.store import dbapi
from samizdat.testing import CreatedFiles

KEY = bytes(range(32))

#: In a process of its own, since SQLite reads $SQLITE_TMPDIR once: a connection of ``argv[2]`` (aegis, sqlcipher,
#: or plain-file: Python's sqlite3 told to use files), a table larger than a tiny cache, then what spills: a sort,
#: a temporary table, a VACUUM.
SPILL = """
import os, sys
from samizdat.store import dbapi
path, kind = sys.argv[1], sys.argv[2]
if kind == "plain-file":
    conn = dbapi.connect(path, None, isolation_level=None)
    conn.execute("PRAGMA temp_store = FILE")
else:
    conn = dbapi.connect(path, bytes(range(32)), legacy=kind == "sqlcipher", isolation_level=None)
conn.execute("PRAGMA cache_size = 5")
conn.execute("CREATE TABLE posts (text TEXT)")
conn.execute("BEGIN")
rows = [(os.urandom(60).hex() + " Checkpoint at the ring road",) for _ in range(20000)]
conn.executemany("INSERT INTO posts VALUES (?)", rows)
conn.execute("COMMIT")
assert len(conn.execute("SELECT text FROM posts ORDER BY text").fetchall()) == 20000
conn.execute("CREATE TEMP TABLE copy AS SELECT * FROM posts")
conn.execute("VACUUM")
conn.close()
"""


def spill(tmp_path: Path, kind: str) -> list[str]:
    """The names created in an empty $TMPDIR while ``kind``'s connection sorts, copies and vacuums."""
    tmp = tmp_path / f"tmp-{kind}"
    tmp.mkdir()
    watch = CreatedFiles(tmp)
    try:
        env = {**os.environ, "TMPDIR": str(tmp), "SQLITE_TMPDIR": str(tmp)}
        subprocess.run(
            [sys.executable, "-c", SPILL, str(tmp_path / f"{kind}.sqlite"), kind], env=env, check=True, timeout=120
        )
        return watch.names()
    finally:
        watch.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
def test_an_encrypted_connection_writes_no_temporary_file(tmp_path: Path) -> None:
    assert spill(tmp_path, "plain-file") != []  # what the watch would see: SQLite's temporary files, made and gone
    assert spill(tmp_path, "aegis") == []
    assert spill(tmp_path, "sqlcipher") == []


@pytest.mark.parametrize("legacy", [False, True], ids=["aegis", "sqlcipher"])
def test_every_encrypted_connection_keeps_temporary_data_in_memory(tmp_path: Path, legacy: bool) -> None:
    """Not left to the library's build (both happen to default to memory now; a distribution's build may not)."""
    conn = dbapi.connect(str(tmp_path / "events.sqlite"), KEY, legacy=legacy, isolation_level=None)
    try:
        assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
    finally:
        conn.close()
