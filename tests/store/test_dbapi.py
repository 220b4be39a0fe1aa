"""The encrypting library under the stores (AEGIS-256; SQLCipher for files made before): an encrypted store
and local state hold nothing readable, in the database or its WAL, and open only with their
key; stores SQLCipher encrypted before still open; plain files from Python's own sqlite3 still open; damage is one
sentence."""

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


def test_the_file_format_is_aegis_256(tmp_path: Path) -> None:
    import apsw

    from samizdat.store import aegis

    path = tmp_path / "x.sqlite"
    conn = dbapi.connect(str(path), KEY, isolation_level=None)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES ('readable with the key')")
    conn.close()
    # As SQLite3 Multiple Ciphers' own tools open it: the settings, then the key.
    raw = apsw.Connection(str(path))
    try:
        assert raw.execute("PRAGMA cipher").fetchall() == [("chacha20",)]  # its default, not ours
        for name, value in aegis.SETTINGS.items():
            raw.execute(f"PRAGMA {name} = '{value}'")
        raw.execute(f"PRAGMA hexkey = '{KEY.hex()}'")
        assert raw.execute("SELECT v FROM t").fetchall() == [("readable with the key",)]
    finally:
        raw.close()
    defaults = apsw.Connection(str(path))
    try:
        defaults.execute(f"PRAGMA hexkey = '{KEY.hex()}'")
        with pytest.raises(apsw.NotADBError):
            defaults.execute("SELECT v FROM t").fetchall()
    finally:
        defaults.close()


def sqlcipher_file(path: Path, plain: Path) -> None:
    """``plain`` copied into ``path`` as nodes made before AEGIS encrypted it: SQLCipher 4 with HMAC-SHA256."""
    from sqlcipher3 import dbapi2 as sqlcipher

    conn = sqlcipher.connect(str(path), isolation_level=None)
    try:
        conn.execute(f"PRAGMA key = \"x'{KEY.hex()}'\"")
        conn.execute("PRAGMA cipher_hmac_algorithm = HMAC_SHA256")
        conn.execute("ATTACH DATABASE ? AS plain KEY ''", (str(plain),))
        version = int(conn.execute("PRAGMA plain.user_version").fetchone()[0])
        conn.execute("SELECT sqlcipher_export('main', 'plain')")
        conn.execute(f"PRAGMA main.user_version = {version}")
        conn.execute("DETACH DATABASE plain")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


async def test_a_store_encrypted_with_sqlcipher_before_still_opens_and_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Author()
    plain = tmp_path / "plain.sqlite"
    store = await SqliteStore.open(plain)
    try:
        await store.add_many([alice.sign(1, f"{SECRET} {i}", created_at=1_700_000_000 + i) for i in range(20)])
    finally:
        await store.close()
    path = tmp_path / "events.sqlite"
    sqlcipher_file(path, plain)
    assert SECRET.encode() not in path.read_bytes()
    # The other library never opens it, not even to try: closing its own descriptor of the file would drop the
    # POSIX locks SQLCipher's connections hold on it (store/dbapi.py).
    from samizdat.store import aegis

    tried: list[str] = []
    real_connect = aegis.connect
    monkeypatch.setattr(aegis, "connect", lambda target, *a, **o: tried.append(target) or real_connect(target, *a, **o))

    store = await SqliteStore.open(path, key=KEY)
    try:
        assert await store.count([Filter()]) == 20
        await store.add(alice.sign(1, f"{SECRET} new", created_at=1_700_000_100))
        assert await store.count([Filter()]) == 21
    finally:
        await store.close()
    assert not [target for target in tried if "events.sqlite" in target]
    # Still SQLCipher's format (a file is served by the library of its format), still nothing readable.
    from sqlcipher3 import dbapi2 as sqlcipher

    raw = sqlcipher.connect(str(path))
    try:
        raw.execute(f"PRAGMA key = \"x'{KEY.hex()}'\"")
        raw.execute("PRAGMA cipher_hmac_algorithm = HMAC_SHA256")
        assert raw.execute("SELECT count(*) FROM events").fetchone()[0] == 21
    finally:
        raw.close()
    assert all(SECRET.encode() not in data for data in files_of(path).values())


def test_a_wrong_key_is_not_a_database_in_either_format(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    conn = dbapi.connect(str(path), KEY, isolation_level=None)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(dbapi.sqlite3.DatabaseError) as caught:
        dbapi.connect(str(path), bytes(32), isolation_level=None)
    assert dbapi.describe(caught.value) == "the file is not a database or is damaged"
    assert path.read_bytes() == before


def test_legacy_sqlcipher_connections_run_without_memory_security(tmp_path: Path) -> None:
    # Zeroing every allocation halves an encrypted store's speed and cannot wipe the copies Python keeps (see
    # store/dbapi.py): a newer SQLCipher that turned it on by default would need a decision, not a silent slowdown.
    plain = tmp_path / "plain.sqlite"
    stdlib_sqlite3.connect(plain).close()
    path = tmp_path / "t.sqlite"
    sqlcipher_file(path, plain)
    conn = dbapi.connect(str(path), KEY, isolation_level=None)
    try:
        assert conn.execute("PRAGMA cipher_memory_security").fetchone()[0] == "0"
    finally:
        conn.close()


def test_encrypted_connections_overwrite_what_they_delete(tmp_path: Path) -> None:
    # Someone made to unlock the node would otherwise read evicted or retracted events in free pages. The page
    # contents cannot be read back through the encrypting library (no sqlite_dbpage), so the setting itself is
    # what is checked.
    conn = dbapi.connect(str(tmp_path / "t.sqlite"), KEY, isolation_level=None)
    try:
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    finally:
        conn.close()


@pytest.mark.parametrize("damage", ["a bit flipped", "two pages swapped"])
def test_a_changed_page_is_an_error_not_other_data(tmp_path: Path, damage: str) -> None:
    # The cipher authenticates every page: someone who can write to the disk cannot alter what the node reads.
    path = tmp_path / "x.sqlite"
    conn = dbapi.connect(str(path), KEY, isolation_level=None)
    conn.execute("CREATE TABLE t (v BLOB)")
    conn.execute("INSERT INTO t SELECT randomblob(3000) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) >= 5 * page
    if damage == "a bit flipped":
        data[3 * page + 100] ^= 1
    else:
        data[3 * page : 4 * page], data[4 * page : 5 * page] = data[4 * page : 5 * page], data[3 * page : 4 * page]
    path.write_bytes(data)
    conn = dbapi.connect(str(path), KEY, isolation_level=None)
    try:
        with pytest.raises(dbapi.sqlite3.DatabaseError):
            conn.execute("SELECT sum(length(v)) FROM t").fetchall()
    finally:
        conn.close()
