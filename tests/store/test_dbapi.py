"""SQLCipher under the stores: an encrypted store and local state hold nothing readable, in the database or its
WAL, and open only with their key; plain files from Python's own sqlite3 still open; damage is one sentence."""

from __future__ import annotations

import sqlite3 as stdlib_sqlite3
from pathlib import Path

import pytest
from store_helpers import Author

from samizdat.core.filters import Filter
from samizdat.errors import StoreError
from samizdat.store import dbapi
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore

KEY = bytes(range(32))
SECRET = "Kalvaryjskaja 21, the back door"


def files_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.parent.glob(path.name + "*")}


async def test_an_encrypted_store_and_its_wal_hold_nothing_readable(tmp_path: Path) -> None:
    alice = Author()
    path = tmp_path / "events.sqlite"
    store = await SqliteStore.open(path, key=KEY)
    try:
        await store.add_many([alice.sign(1, f"{SECRET} #{i}") for i in range(300)])
        # While open: the WAL holds the commits that are not checkpointed yet.
        during = files_of(path)
        assert any(name.endswith("-wal") and data for name, data in during.items())
        found = await store.query([Filter()])
        assert len(found) == 300
    finally:
        await store.close()
    after = files_of(path)
    for snapshot in (during, after):
        for name, data in snapshot.items():
            assert SECRET.encode() not in data, name
            assert bytes.fromhex(alice.pubkey) not in data, name
            assert alice.pubkey.encode() not in data, name
    assert not after[path.name].startswith(b"SQLite format 3")  # the header is encrypted too

    with pytest.raises(StoreError, match="not a database or is damaged"):
        await SqliteStore.open(path)  # no key
    with pytest.raises(StoreError, match="not a database or is damaged"):
        await SqliteStore.open(path, key=bytes(32))  # another key
    reopened = await SqliteStore.open(path, key=KEY)
    try:
        assert len(await reopened.query([Filter()])) == 300
    finally:
        await reopened.close()


def test_no_temporary_file_is_written(tmp_path: Path) -> None:
    conn = dbapi.connect(str(tmp_path / "t.sqlite"), KEY, isolation_level=None)
    try:
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [(f"{SECRET} {i}",) for i in range(5000)])
        # A sort too large for its cache and a temporary table: both stay in memory.
        conn.execute("PRAGMA cache_size = 10")
        conn.execute("CREATE TEMP TABLE copy AS SELECT v FROM t ORDER BY v DESC")
        assert conn.execute("SELECT count(*) FROM copy").fetchone()[0] == 5000
        assert sorted(p.name for p in tmp_path.iterdir()) == ["t.sqlite"]
    finally:
        conn.close()


def test_an_encrypted_local_state_opens_only_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite"
    local = LocalState(path, key=KEY)
    local.follow("30333:" + "ab" * 32 + ":yard", ["wss://mirror.secret.example"], 1.0)
    local.close()
    for name, data in files_of(path).items():
        assert b"mirror.secret.example" not in data, name
    with pytest.raises(StoreError, match=r"cannot open the node state .*not a database or is damaged"):
        LocalState(path)
    again = LocalState(path, key=KEY)
    try:
        assert list(again.follows()) == ["30333:" + "ab" * 32 + ":yard"]
    finally:
        again.close()


async def test_a_plain_store_made_by_pythons_sqlite3_still_opens(tmp_path: Path) -> None:
    alice = Author()
    path = tmp_path / "events.sqlite"
    store = await SqliteStore.open(path)
    await store.add(alice.sign(1, "from before"))
    await store.close()
    conn = stdlib_sqlite3.connect(path)  # the file is plain SQLite, as every older node's
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    conn.close()
    reopened = await SqliteStore.open(path)
    try:
        assert [e.content for e in await reopened.query([Filter()])] == ["from before"]
    finally:
        await reopened.close()


async def test_a_truncated_encrypted_store_is_one_sentence_and_left_as_it_is(tmp_path: Path) -> None:
    alice = Author()
    path = tmp_path / "events.sqlite"
    store = await SqliteStore.open(path, key=KEY)
    await store.add_many([alice.sign(1, "x" * 2000 + str(i)) for i in range(200)])
    await store.close()
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    before = files_of(path)

    async def read_all() -> None:
        broken = await SqliteStore.open(path, key=KEY)
        try:
            await broken.query([Filter(limit=5000)])
        finally:
            await broken.close()

    with pytest.raises(StoreError, match="damaged"):
        await read_all()
    assert files_of(path)[path.name] == before[path.name]


def test_the_file_format_is_sqlcipher_4_with_hmac_sha256(tmp_path: Path) -> None:
    from sqlcipher3 import dbapi2 as sqlcipher

    path = tmp_path / "x.sqlite"
    conn = dbapi.connect(str(path), KEY, isolation_level=None)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES ('readable with the key')")
    conn.close()
    # As SQLCipher's own tools open it: the key, then the one setting that differs from SQLCipher 4's defaults.
    raw = sqlcipher.connect(str(path))
    try:
        raw.execute(f"PRAGMA key = \"x'{KEY.hex()}'\"")
        raw.execute("PRAGMA cipher_hmac_algorithm = HMAC_SHA256")
        assert raw.execute("SELECT v FROM t").fetchall() == [("readable with the key",)]
    finally:
        raw.close()
    defaults = sqlcipher.connect(str(path))
    try:
        defaults.execute("PRAGMA cipher_log_level = NONE")
        defaults.execute(f"PRAGMA key = \"x'{KEY.hex()}'\"")
        with pytest.raises(sqlcipher.DatabaseError):
            defaults.execute("SELECT v FROM t").fetchall()
    finally:
        defaults.close()


def test_encrypted_connections_run_without_memory_security(tmp_path: Path) -> None:
    # Zeroing every allocation halves the encrypted store's speed and cannot wipe the copies Python keeps (see
    # store/dbapi.py): a newer SQLCipher that turned it on by default would need a decision, not a silent slowdown.
    conn = dbapi.connect(str(tmp_path / "t.sqlite"), KEY, isolation_level=None)
    try:
        assert conn.execute("PRAGMA cipher_memory_security").fetchone()[0] == "0"
    finally:
        conn.close()


def test_encrypted_connections_overwrite_what_they_delete(tmp_path: Path) -> None:
    # This SQLCipher build leaves deleted rows in free pages (Python's own SQLite does not): someone made to unlock
    # the node would read evicted or retracted events there. The page contents cannot be read back through this
    # build (no sqlite_dbpage), so the setting itself is what is checked.
    conn = dbapi.connect(str(tmp_path / "t.sqlite"), KEY, isolation_level=None)
    try:
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    finally:
        conn.close()
