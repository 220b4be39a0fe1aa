"""The SQLite library of the stores: SQLCipher 4, keyed when the node is encrypted.

Every database connection of the stores comes from :func:`connect`, so one library (``sqlcipher3``, SQLite with
SQLCipher's page encryption built in) serves plain and encrypted nodes alike: without a key it is plain SQLite and
reads the files older versions wrote with Python's own ``sqlite3``; with one, every page of the database and of its
WAL is encrypted (AES-256-CBC, HMAC-SHA512 per page, SQLCipher 4's defaults) and nothing is readable without the
key. The stores set ``temp_store = MEMORY``, so no temporary file is written either (SQLCipher would encrypt those
too).

Stores import ``sqlite3`` from here, not the standard library's: the exception classes are the library's own, and
an ``except sqlite3.Error`` must catch what the connection raises. For the type checker it is the standard
module, whose API sqlcipher3 copies.

The key is a raw 256-bit key (``PRAGMA key = "x'...'"``), derived from the node's data key
(:mod:`samizdat.core.sealing`): SQLCipher's own passphrase function (PBKDF2) is skipped, as the passphrase has
already gone through Argon2id in the key slots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3
else:
    from sqlcipher3 import dbapi2 as sqlite3

__all__ = ["connect", "describe", "sqlite3"]

# Primary SQLite result codes (low byte of sqlite_errorcode) and what they mean to a person.
_REASONS = {
    3: "permission was denied",
    5: "the database is locked by another process",
    6: "the database is locked by another process",
    7: "the system ran out of memory",
    8: "the database file or its folder is read-only",
    10: "the disk reported an input/output error",
    11: "the database file is damaged",
    13: "the disk is full",
    14: "the database file cannot be opened (its folder is missing or not accessible)",
    26: "the file is not a database or is damaged",
}


def describe(exc: sqlite3.Error) -> str:
    """What went wrong, as the end of a sentence a person can act on."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _REASONS:
        return _REASONS[code & 0xFF]
    return str(exc).rstrip(".") or type(exc).__name__


#: Check that a key opens the file: reading the schema decrypts the first page (a wrong key or a damaged first
#: page raises SQLITE_NOTADB, "file is not a database").
_CHECK = "SELECT count(*) FROM sqlite_master"


def connect(target: str, key: bytes | None, **options: Any) -> sqlite3.Connection:
    """A connection to ``target`` (a path, or a URI with ``uri=True``), keyed with ``key`` if given.

    Raises ``sqlite3.Error`` (this module's) when it cannot be opened or the key does not open it.
    """
    conn: sqlite3.Connection = sqlite3.connect(target, **options)
    try:
        if key is not None:
            if len(key) != 32:
                raise ValueError("a database key has 32 bytes")
            # SQLCipher's own log goes to standard error (an "hmac check failed" per damaged page): the error
            # raised says it once, in our words.
            conn.execute("PRAGMA cipher_log_level = NONE")
            conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            conn.execute(_CHECK).fetchone()
    except BaseException:
        conn.close()
        raise
    return conn
