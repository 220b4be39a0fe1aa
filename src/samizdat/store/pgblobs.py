"""The photo store in PostgreSQL: what :class:`~samizdat.store.blobs.BlobStore` keeps in ``<home>/blobs/``, in
the database that holds the events, so that every relay process on every machine serves every photo.

Theory of operation
-------------------

When the events live in PostgreSQL (``[store] url``), several nodes on several machines share them; a photo kept in
one node's data directory would be served by that machine only, and a post whose photos 404 on the next machine is
half a post. So the photos move with the events: the index (``blobs``, ``blob_owners``, ``blob_refs``,
``blob_misses``, ``blob_meta``, the tables of ``blobs/index.sqlite``; migration ``0002_blobs.sql``) and the bytes,
one ``bytea`` value in each blob's own row.

**Why ``bytea`` and not large objects.** A blob is at most 2 MB (:data:`samizdat.services.blobs.MAX_BLOB_BYTES`)
and is always read whole (its hash is checked before it is served), so nothing needs the seek and partial writes
that large objects offer. PostgreSQL already stores a large ``bytea`` out of line in TOAST chunks of about 2 KB,
reads them only when the column is selected, and removes them with the row; large objects live outside the row,
so every delete must also ``lo_unlink`` (a missed one leaks the bytes until ``vacuumlo``), they have their own
permissions (``lo_compat_privileges``), and ``pg_dump`` of a table leaves them out. One row per blob also keeps
the index and the bytes in one transaction: a blob is stored with its row or not at all, whichever process
crashes.

**Not encrypted.** Every machine that serves the relay has its own data directory and its own data key, so bytes
encrypted under one node's key could be served by no other. The photos are in clear in the database, as the
events are (docs/scaling.md: the database server's own disk encryption applies); they are photos the relay
serves to anyone. Deleting a row leaves its bytes in free space until the server reuses it (``VACUUM``); a node
that may be seized keeps its photos in its own encrypted files, not here.

**Shared, not per node.** Uploaders, references and the retry schedule of missing photos are the relay's, like the
events: an upload through one machine is listed (BUD-12) and can be deleted through another, and the photos of a
retracted post are removed by whichever node reads the retraction first. ``blob_meta`` is shared too, so the
insertion number up to which posts were read for their photos (services/blob_travel.py) is the relay's.

**Calls.** The methods are synchronous, like the file store's (the web app calls them in threads); each runs on a
connection of its own to the primary in autocommit, a method that writes several rows in one transaction. Calls
from threads hold at most :data:`CONNECTIONS` connections, made when first needed and reused; a call that finds
them all busy waits up to :data:`WAIT_SECONDS` for one and is then refused (``StoreError``: busy). A call from an
event loop's thread (the photos' travel, services/blob_travel.py, calls the store on the loop) never waits for
them: it has one more connection (a loop makes one call at a time). Every statement has
:data:`STATEMENT_SECONDS` (``statement_timeout``) and waits at most :data:`LOCK_SECONDS` for a row another
transaction holds (``lock_timeout``).

**Per address.** One address holds at most :data:`PER_ADDRESS` of those connections at once (three of four), the
address being :data:`~samizdat.store.base.CALLER` (the relay sets it around each HTTP request: Blossom's photo
requests; calls without one, the node's own, count as one address). A connection that comes free goes to the
waiting address that holds the fewest, the earliest among equals. Before (red-team finding, round 10), one
address's four uploads that waited on rows (or four slow downloads) held every connection, and a phone's photo
from another address waited up to :data:`WAIT_SECONDS`, then was refused as busy; now it gets the fourth at once,
and when several addresses hold them all, the next one that comes free.

Before (red-team finding), every call ran on one connection under one lock: one slow call held every photo
request behind it, and an upload of a photo that another process was storing at the same moment (its row not yet
committed) held them for as long as that process took, and the relay's event loop too (every client of it) when
the photos' travel called the store meanwhile. A small photo took 27 ms at the median and up to 205 ms while four
threads uploaded and fetched 2 MB photos (0.5 ms alone).

A connection that broke while idle (the server restarted) is replaced once. Every method raises
:class:`~samizdat.errors.StoreError` with one sentence when the server fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from samizdat.errors import StoreError
from samizdat.store.base import CALLER
from samizdat.store.blobs import BlobEntry, miss_wait
from samizdat.store.pgconn import CONNECT_TIMEOUT, close_quietly, describe, migrate, redact
from samizdat.store.pgqueries import Conn

T = TypeVar("T")

#: Connections the photo store's calls from threads hold at most, one each (requests beyond them wait); calls from an
#: event loop's thread have one more of their own.
CONNECTIONS = 4
#: Connections of :data:`CONNECTIONS` one address holds at most at once (see the module doc).
PER_ADDRESS = 3
#: Seconds a call waits for a free connection before it is refused (StoreError: busy).
WAIT_SECONDS = 10.0
#: Seconds any statement may run (``statement_timeout``): a photo is at most 2 MB, read or written in milliseconds.
STATEMENT_SECONDS = 30.0
#: Seconds a statement waits for a row another transaction holds (``lock_timeout``): another process storing or
#: deleting the same photo commits within milliseconds; one that does not is not waited for.
LOCK_SECONDS = 5.0

_ENTRY = "SELECT sha256, size, type, thumb, stored_at FROM blobs"


def _on_a_loop() -> bool:
    """Whether this thread is running an asyncio event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _entry(row: tuple[Any, ...]) -> BlobEntry:
    """A row of (sha256, size, type, thumb, when[, owner]) as the index's entry."""
    sha256, size, mime, thumb, when, *owner = row
    return BlobEntry(str(sha256), int(size), str(mime), bool(thumb), int(when), str(owner[0]) if owner else "")


class _Shares:
    """``slots`` connections shared out between addresses: at most ``per_address`` each, and a connection that comes
    free goes to the waiting address holding the fewest (the earliest among equals). Thread-safe."""

    def __init__(self, slots: int, per_address: int) -> None:
        self.slots = slots
        self.per_address = max(1, min(per_address, slots))
        self._cond = threading.Condition()
        self._busy = 0
        self._held: Counter[Hashable] = Counter()  # address -> connections it holds (none: not in it)
        self._waiting: dict[int, Hashable] = {}  # ticket -> address, in arrival order
        self._tickets = itertools.count()

    def _next(self, ticket: int, address: Hashable) -> bool:
        """Whether ``ticket`` (of ``address``) takes the next free connection."""
        if self._busy >= self.slots or self._held[address] >= self.per_address:
            return False
        best = min(
            ((self._held[a], t) for t, a in self._waiting.items() if self._held[a] < self.per_address),
            default=None,
        )
        return best == (self._held[address], ticket)

    def acquire(self, address: Hashable, timeout: float) -> bool:
        """Take a connection for ``address`` within ``timeout`` seconds; False if none came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            ticket = next(self._tickets)
            self._waiting[ticket] = address
            try:
                while not self._next(ticket, address):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                self._busy += 1
                self._held[address] += 1
                return True
            finally:
                del self._waiting[ticket]
                self._cond.notify_all()  # the next in line may be another waiter now

    def release(self, address: Hashable) -> None:
        with self._cond:
            self._busy -= 1
            self._held[address] -= 1
            if self._held[address] <= 0:
                del self._held[address]
            self._cond.notify_all()


class PgBlobStore:
    """The :class:`~samizdat.store.blobs.Blobs` of a node whose events are in PostgreSQL, in the same database."""

    def __init__(self, url: str) -> None:
        """Open the photo store in the database ``url`` (migrating it as :class:`PostgresStore` does). Raises
        StoreError when the server cannot be reached or refuses the login."""
        self._url = url
        self._where = redact(url)
        self._lock = threading.Lock()  # guards _idle, _all and _closed
        self._shares = _Shares(CONNECTIONS, PER_ADDRESS)
        self._idle: list[Conn] = []  # the last used first: the others may time out on the server's side
        self._all: set[Conn] = set()
        self._closed = False
        conn = self._connect(migrating=True)
        with self._lock:
            self._idle.append(conn)

    def _connect(self, *, migrating: bool = False) -> Conn:
        """A new connection with the photo store's time limits; the first one also migrates the database (as the
        event store does when it opens), without them."""
        limits = f"-c statement_timeout={int(STATEMENT_SECONDS * 1000)} -c lock_timeout={int(LOCK_SECONDS * 1000)}"
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                                   application_name="samizdat-blobs", options=limits)  # fmt: skip
        except psycopg.Error as exc:
            raise StoreError(f"Cannot open the photo store at {self._where}: {describe(exc)}.") from exc
        if migrating:
            try:
                conn.execute("SET statement_timeout = 0; SET lock_timeout = 0")  # another process may be migrating
                migrate(conn)
                conn.execute("RESET statement_timeout; RESET lock_timeout")
            except StoreError as exc:
                conn.close()
                raise StoreError(f"Cannot open the photo store at {self._where}: {exc}.") from exc
            except psycopg.Error as exc:
                conn.close()
                raise StoreError(f"Cannot open the photo store at {self._where}: {describe(exc)}.") from exc
        with self._lock:
            self._all.add(conn)
        return conn

    def close(self) -> None:
        """Close the connections (one in use is closed when its call ends). Idempotent; later calls raise
        StoreError."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)

    def _discard(self, conn: Conn) -> None:
        with self._lock:
            self._all.discard(conn)
        close_quietly(conn)

    def _take(self) -> Conn:
        with self._lock:
            if self._closed:
                raise StoreError("The photo store is closed.")
            conn = self._idle.pop() if self._idle else None
        return self._connect() if conn is None or conn.closed else conn

    def _give_back(self, conn: Conn) -> None:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            with self._lock:
                if not self._closed:
                    self._idle.append(conn)
                    return
        self._discard(conn)

    def _run(self, fn: Callable[[Conn], T]) -> T:
        """``fn(connection)`` on a connection of its own; once more on a new connection if the one taken broke
        while idle. Raises StoreError when none is free within :data:`WAIT_SECONDS`, or the server fails.

        A call from a thread running an event loop (the photos' travel, services/blob_travel.py) does not wait for
        a free connection: it would hold every client of the loop meanwhile, and a loop makes one call at a time,
        so it takes one more connection of its own."""
        if self._closed:
            raise StoreError("The photo store is closed.")
        shares = None if _on_a_loop() else self._shares
        address = CALLER.get()
        if shares is not None and not shares.acquire(address, WAIT_SECONDS):
            raise StoreError(f"The photo store at {self._where} is busy; try again later.")
        try:
            for attempt in (1, 2):
                conn = self._take()
                try:
                    return fn(conn)
                except (pg_errors.QueryCanceled, pg_errors.LockNotAvailable) as exc:  # OperationalErrors, not broken
                    why = exc.diag.message_primary or "a time limit"
                    raise StoreError(f"The photo store at {self._where} is busy ({why}); try again later.") from exc
                except psycopg.OperationalError as exc:
                    self._discard(conn)
                    if attempt == 2:
                        raise StoreError(f"The photo store at {self._where} failed: {describe(exc)}.") from exc
                except psycopg.Error as exc:
                    raise StoreError(f"The photo store at {self._where} failed: {describe(exc)}.") from exc
                finally:
                    if not conn.closed:
                        self._give_back(conn)
        finally:
            if shares is not None:
                shares.release(address)
        raise AssertionError("unreachable")

    def _rows(self, sql: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        return self._run(lambda conn: conn.execute(sql.encode(), tuple(params)).fetchall())

    # -- reading -----------------------------------------------------------------------------------------------

    def has(self, sha256: str) -> bool:
        return bool(self._rows("SELECT 1 FROM blobs WHERE sha256 = %s", (sha256,)))

    def entry(self, sha256: str) -> BlobEntry | None:
        rows = self._rows(f"{_ENTRY} WHERE sha256 = %s", (sha256,))
        return _entry(rows[0]) if rows else None

    def get(self, sha256: str) -> bytes | None:
        """The blob's bytes, or None when it is not stored (or its bytes do not hash to ``sha256``: never served)."""

        def read(conn: Conn) -> bytes | None:
            row = conn.execute(b"SELECT data FROM blobs WHERE sha256 = %s", (sha256,), binary=True).fetchone()
            return None if row is None else bytes(row[0])

        data = self._run(read)
        return data if data is not None and hashlib.sha256(data).hexdigest() == sha256 else None

    def listing(self, owner: str, *, since: int | None = None, until: int | None = None) -> list[BlobEntry]:
        """The blobs ``owner`` uploaded, newest first (BUD-12), optionally between ``since`` and ``until``."""
        rows = self._rows(
            "SELECT b.sha256, b.size, b.type, b.thumb, o.uploaded, o.pubkey FROM blob_owners o JOIN blobs b "
            "USING (sha256) WHERE o.pubkey = %s AND o.uploaded >= %s AND o.uploaded <= %s "
            "ORDER BY o.uploaded DESC, b.sha256",
            (owner, since if since is not None else 0, until if until is not None else 1 << 62),
        )
        return [_entry(row) for row in rows]

    def entries(self) -> list[BlobEntry]:
        """Every stored blob, oldest first."""
        return [_entry(row) for row in self._rows(f"{_ENTRY} ORDER BY stored_at, sha256")]

    def owners(self, sha256: str) -> set[str]:
        return {str(row[0]) for row in self._rows("SELECT pubkey FROM blob_owners WHERE sha256 = %s", (sha256,))}

    def referenced_by(self, sha256: str) -> set[str]:
        """The ids of the stored posts that reference the blob."""
        return {str(row[0]) for row in self._rows("SELECT event_id FROM blob_refs WHERE sha256 = %s", (sha256,))}

    def missing(self, now: float, limit: int) -> list[tuple[str, str]]:
        """(sha256, event id) of referenced blobs not stored here and due for another try, oldest reference first."""
        rows = self._rows(
            "SELECT r.sha256, min(r.event_id) FROM blob_refs r LEFT JOIN blobs b USING (sha256) "
            "LEFT JOIN blob_misses m USING (sha256) WHERE b.sha256 IS NULL AND coalesce(m.next_attempt, 0) <= %s "
            "GROUP BY r.sha256 ORDER BY min(r.n) LIMIT %s",
            (now, limit),
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    def meta(self, name: str, default: str = "") -> str:
        rows = self._rows("SELECT value FROM blob_meta WHERE name = %s", (name,))
        return str(rows[0][0]) if rows else default

    def total_bytes(self) -> int:
        return int(self._rows("SELECT coalesce(sum(size), 0)::bigint FROM blobs")[0][0])

    # -- writing -----------------------------------------------------------------------------------------------

    def put(self, sha256: str, data: bytes, mime: str, *, thumb: bool, now: int, owner: str | None = None) -> bool:
        """Store ``data`` (whose SHA-256 the caller has checked is ``sha256``); record ``owner`` as one of its
        uploaders. Returns False when the blob was already stored (its bytes are not sent again)."""

        def write(conn: Conn) -> bool:
            with conn.transaction():
                had = conn.execute(b"SELECT 1 FROM blobs WHERE sha256 = %s", (sha256,)).fetchone() is not None
                fresh = False
                if not had:  # another process may store it meanwhile: then this insert does nothing
                    fresh = conn.execute(
                        b"INSERT INTO blobs (sha256, size, type, thumb, stored_at, data) "
                        b"VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING",
                        (sha256, len(data), mime, thumb, now, data),
                    ).rowcount == 1  # fmt: skip
                if not fresh and thumb:
                    conn.execute(b"UPDATE blobs SET thumb = true WHERE sha256 = %s", (sha256,))
                conn.execute(b"DELETE FROM blob_misses WHERE sha256 = %s", (sha256,))
                if owner:
                    conn.execute(
                        b"INSERT INTO blob_owners (sha256, pubkey, uploaded) VALUES (%s, %s, %s) "
                        b"ON CONFLICT DO NOTHING",
                        (sha256, owner, now),
                    )
            return fresh

        return self._run(write)

    def mark_thumb(self, sha256: str) -> None:
        self._rows("UPDATE blobs SET thumb = true WHERE sha256 = %s RETURNING 1", (sha256,))

    def disown(self, sha256: str, owner: str) -> bool:
        """Forget that ``owner`` uploaded the blob; True when they had."""
        sql = "DELETE FROM blob_owners WHERE sha256 = %s AND pubkey = %s RETURNING 1"
        return bool(self._rows(sql, (sha256, owner)))

    def delete(self, sha256: str) -> bool:
        """Remove the blob, its row and its owners (one transaction); True when it was stored."""

        def remove(conn: Conn) -> bool:
            with conn.transaction():
                conn.execute(b"DELETE FROM blob_owners WHERE sha256 = %s", (sha256,))
                return conn.execute(b"DELETE FROM blobs WHERE sha256 = %s", (sha256,)).rowcount > 0

        return self._run(remove)

    def add_refs(self, event_id: str, hashes: Iterable[str]) -> None:
        rows = [(sha256, event_id) for sha256 in hashes]
        if not rows:
            return

        def add(conn: Conn) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(
                    b"INSERT INTO blob_refs (sha256, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", rows
                )

        self._run(add)

    def drop_refs(self, event_id: str) -> set[str]:
        """Forget the references of post ``event_id``; return the hashes no other post references now."""

        def drop(conn: Conn) -> set[str]:
            with conn.transaction():
                dropped = conn.execute(
                    b"DELETE FROM blob_refs WHERE event_id = %s RETURNING sha256", (event_id,)
                ).fetchall()
                hashes = sorted({str(row[0]) for row in dropped})
                still = conn.execute(
                    b"SELECT DISTINCT sha256 FROM blob_refs WHERE sha256 = ANY(%s)", (hashes,)
                ).fetchall()
            return set(hashes) - {str(row[0]) for row in still}

        return self._run(drop)

    def missed(self, sha256: str, now: float, delay: float) -> None:
        """Record that no source had blob ``sha256``: try again after ``delay`` seconds, doubling each time."""

        def note(conn: Conn) -> None:
            with conn.transaction():
                row = conn.execute(
                    b"INSERT INTO blob_misses (sha256, tries, next_attempt) VALUES (%s, 1, 0) ON CONFLICT (sha256) "
                    b"DO UPDATE SET tries = blob_misses.tries + 1 RETURNING tries",
                    (sha256,),
                ).fetchone()
                tries = int(row[0]) if row else 1
                conn.execute(b"UPDATE blob_misses SET next_attempt = %s WHERE sha256 = %s",
                             (now + miss_wait(tries, delay), sha256))  # fmt: skip

        self._run(note)

    def set_meta(self, name: str, value: str) -> None:
        self._rows(
            "INSERT INTO blob_meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = "
            "excluded.value RETURNING 1",
            (name, value),
        )
