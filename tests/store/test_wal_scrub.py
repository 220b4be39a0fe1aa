"""A plain database's write-ahead log is zeroed before its connection closes (store/dbapi.py, ``scrub_wal``), and
that never costs a commit: not while another process keeps the database open and writes after the zeroing (then
dies without closing), not while another connection still reads a snapshot that needs the log. The disk side (what
the zeroing keeps out of free blocks) is tests/e2e/test_seized_plain_wal.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from samizdat.store import dbapi

SECRET = "Kalvaryjskaja 21, the back door"

#: Another process that opens the database, says "ready", waits for a line, writes, says "wrote" and dies
#: without closing anything (as a ``kill -9`` of ``serve`` would).
OTHER = """
import os, sys
from samizdat.store import dbapi
conn = dbapi.connect(sys.argv[1], None, isolation_level=None)
conn.execute("SELECT count(*) FROM t").fetchone()
print("ready", flush=True)
sys.stdin.readline()
for n in range(50):
    conn.execute("INSERT INTO t VALUES (?)", (f"after {n}",))
print("wrote", flush=True)
os._exit(0)
"""


def made(path: Path, rows: int) -> dbapi.sqlite3.Connection:
    conn = dbapi.connect(str(path), None, isolation_level=None, timeout=0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # the frames stay in the log until the close
    conn.execute("CREATE TABLE t (x TEXT)")
    for n in range(rows):
        conn.execute("INSERT INTO t VALUES (?)", (f"{SECRET} #{n}",))
    return conn


def rows_of(path: Path) -> tuple[str, int, int]:
    conn = dbapi.connect(str(path), None)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        secret = conn.execute("SELECT count(*) FROM t WHERE x LIKE 'Kalv%'").fetchone()[0]
        after = conn.execute("SELECT count(*) FROM t WHERE x LIKE 'after %'").fetchone()[0]
    finally:
        conn.close()
    return check, secret, after


def test_the_last_close_leaves_no_plain_byte_in_the_log_it_deletes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    wal = Path(f"{path}-wal")
    conn = made(path, 200)
    with wal.open("rb") as kept:  # keeps the deleted file's blocks readable: what the disk's free blocks would hold
        assert SECRET.encode() in kept.read()
        conn.close()
        assert not wal.exists()  # SQLite deleted it, as before
        kept.seek(0)
        left = kept.read()
    assert len(left) > 200 * len(SECRET)
    assert not any(left)
    assert rows_of(path) == ("ok", 200, 0)


def test_zeroing_while_another_process_writes_after_it_and_dies_loses_no_commit(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    wal = Path(f"{path}-wal")
    conn = made(path, 200)
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert other.stdout is not None
    assert other.stdin is not None
    try:
        assert other.stdout.readline().strip() == "ready"
        conn.close()  # not the last connection: SQLite keeps the log, which is zeroed all the same
        assert wal.exists()
        assert not any(wal.read_bytes())
        other.stdin.write("go\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "wrote"
        other.wait(30)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait(30)
        other.stdin.close()
        other.stdout.close()
    assert any(wal.read_bytes()[:32])  # the other process wrote the log's header anew before its frames
    assert rows_of(path) == ("ok", 200, 50)  # opened again after the crash: every commit is there


def test_a_log_another_connection_still_reads_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    wal = Path(f"{path}-wal")
    writer = made(path, 100)
    reader = dbapi.connect(str(path), None, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 100  # a snapshot read from the log
        for n in range(100, 150):
            writer.execute("INSERT INTO t VALUES (?)", (f"{SECRET} #{n}",))
        assert dbapi.scrub_wal(writer) is False  # the reader still needs frames of the log
        writer.close()
        assert SECRET.encode() in wal.read_bytes()
        assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 100
        reader.execute("ROLLBACK")
        assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 150
    finally:
        reader.close()  # the last one: zeroes the log, then SQLite deletes it
    assert not wal.exists()
    assert rows_of(path) == ("ok", 150, 0)
