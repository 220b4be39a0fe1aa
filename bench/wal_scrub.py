"""What zeroing a plain store's write-ahead log costs when its last connection closes (store/dbapi.py, scrub_wal).

    .venv/bin/python bench/wal_scrub.py                      # WALs of 4, 32, 64 and 190 MiB, 3 rounds, in bench/out
    .venv/bin/python bench/wal_scrub.py --mib 8 --rounds 1 --dir /mnt/sdcard

Each round and size: a plain database in WAL mode (Python's sqlite3, as a node without a passphrase) gets
``--mib`` MiB of random rows with automatic checkpoints off, so that its WAL holds them all when it closes, as a
store's does after a burst of writes; then its connection is closed, timed: once as now (a RESTART checkpoint,
the WAL zeroed and synced, then the close, which deletes it) and once as before (the close alone: checkpoint
and delete). The two alternate, so that other load on the machine falls on both alike. Then the same with the WAL
copied into the database before the close (untimed), as a store's is when ``serve`` stops (its checkpointer runs
every second): the close then has only the zeroing to do. Prints one line per case: the median close in seconds,
before and now.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from samizdat.store import dbapi

ROW = 4000


def close_time(folder: Path, mib: int, *, scrub: bool, checkpointed: bool) -> float:
    path = folder / "store.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = dbapi.connect(str(path), None, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("PRAGMA journal_size_limit = -1")
    conn.execute("CREATE TABLE t (x BLOB)")
    rows = (mib << 20) // ROW
    for start in range(0, rows, 1000):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?)", ((os.urandom(ROW),) for _ in range(min(1000, rows - start))))
        conn.execute("COMMIT")
    if checkpointed:  # as a store's WAL at the stop of serve, whose checkpointer copies it every second
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    began = time.perf_counter()
    if scrub:
        conn.close()  # dbapi's plain connection: zeroes the WAL, then closes
    else:
        super(type(conn), conn).close()  # Python's own close, as before
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, nargs="+", default=[4, 32, 64, 190])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="wal-scrub-", dir=args.dir))
    try:
        for checkpointed in (False, True):
            state = "already in the database" if checkpointed else "not yet in the database"
            for mib in args.mib:
                before, now = [], []
                for _ in range(args.rounds):
                    before.append(close_time(folder, mib, scrub=False, checkpointed=checkpointed))
                    now.append(close_time(folder, mib, scrub=True, checkpointed=checkpointed))
                old, new = statistics.median(before), statistics.median(now)
                print(f"WAL {mib:4d} MiB, {state}: close before {old:.3f} s, now {new:.3f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
