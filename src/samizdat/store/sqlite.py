"""The default store: one SQLite file in WAL mode, one writer thread, a few reader threads.

Theory of operation:

* **Writes** go through :class:`~samizdat.store.writer.Writer`: a thread that owns the only write connection,
  takes everything queued, commits it in one transaction and then wakes the callers. ``add`` returns after
  ``COMMIT``. Under load many adds share one commit, which is where the throughput comes from.
* **Reads** run on ``readers`` read-only connections (``mode=ro``), each used by one thread of a small pool (the
  connection used last goes first, its page cache warm), in parallel with the writer: WAL gives every read a
  consistent snapshot without blocking the writer. The SQL lives in :mod:`samizdat.store.queries`; this module
  only moves calls between the event loop and threads, and turns ``sqlite3`` errors into
  :class:`~samizdat.errors.StoreError` with one sentence a person can act on.
* **Negentropy** streams (created_at, id) in chunks from a connection of its own, holding one read snapshot for
  the whole stream, so stores of millions of events are never loaded into memory at once.
* **Paged queries** (:meth:`SqliteStore.query_pages`, the relay's answer to a REQ) read one bounded page per
  short read transaction (:class:`~samizdat.store.queries.Pager`), so a query with high limits never holds more
  than a page, and no snapshot stays open while a slow client reads.
* **Cancelling** the task that awaits a read stops the read itself: SQLite checks a flag every
  :data:`PROGRESS_STEPS` steps and abandons the statement, so a query, count or negentropy stream that nobody
  waits for any more (a client that went away) frees its reader thread within milliseconds instead of running to
  the end. The same check ends a read that works longer than :data:`~samizdat.store.base.READ_SECONDS` (the
  relay's time limit per page or COUNT), which then raises TimeoutError; waiting for a reader thread does not
  count.
* **Schema** changes are numbered SQL files in ``migrations/``; ``PRAGMA user_version`` records the last one
  applied. Opening a store applies the missing ones.

Durability: ``journal_mode=WAL`` with ``synchronous=NORMAL``. A commit writes the transaction to the WAL file
(into the operating system's cache) before ``add`` returns, so a crash or ``kill -9`` of our process right after
``add`` loses nothing, and the database is never corrupted. What NORMAL gives up is the last commits before a
*power cut or kernel crash* (the WAL is fsynced at checkpoints, not at every commit). We accept that: a node's
posts are copies that converge again by sync from other nodes and files, while an fsync per batch costs a lot on
the SD cards of the Raspberry Pi hubs this runs on (and wears them). ``synchronous=FULL`` would be a one-line
change in :data:`samizdat.store.WRITER_PRAGMAS`.

Use one SqliteStore per file (a second process writing the same file waits, then fails with "locked").
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import logging
import os
import queue
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from samizdat.core.carry import Judged, KeepRules, choose_evictions, followed_bound
from samizdat.core.filters import Filter
from samizdat.errors import LocalProtocolError, StoreError
from samizdat.store import carry, dbapi, fastadd, queries
from samizdat.store.base import READ_SECONDS, Withdrawn
from samizdat.store.dbapi import describe, sqlite3
from samizdat.store.reading import PURGE_CHUNK, SharedStore, ready_items
from samizdat.store.writer import LOCK_WAIT, Writer

T = TypeVar("T")

log = logging.getLogger("samizdat.store")

WRITER_PRAGMAS = (
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",  # no table uses them yet; on, so that a later migration can
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -32000",  # KiB: 32 MiB
    "PRAGMA mmap_size = 268435456",
    "PRAGMA temp_store = MEMORY",
    # Checkpoints normally run in their own thread (see _Checkpointer), off the writer's commits; this is only
    # the safety valve that bounds the WAL (~200 MiB) should that thread fall behind.
    "PRAGMA wal_autocheckpoint = 50000",
    "PRAGMA journal_size_limit = 67108864",  # truncate the WAL to 64 MiB after a checkpoint
)
#: After WRITER_PRAGMAS on a plain store (no key). Its WAL holds the plain pages, and the blocks SQLite frees when it
#: truncates the WAL or deletes it would keep them on the disk. So the WAL is never truncated while the store is
#: open: it is restarted from its beginning after checkpoints, and keeps the largest size it reached (a little over
#: WAL_TRUNCATE_BYTES usually; under a flood of writes the checkpoints fall behind and it grows, as it did before,
#: when it was truncated afterwards: tens of MB). It is overwritten with zeros before the last connection closes
#: (store/dbapi.py, scrub_wal), before SQLite deletes it.
PLAIN_WRITER_PRAGMAS = ("PRAGMA journal_size_limit = -1",)
READER_PRAGMAS = (
    "PRAGMA busy_timeout = 5000",
    "PRAGMA cache_size = -16000",
    "PRAGMA mmap_size = 268435456",
    "PRAGMA temp_store = MEMORY",
)
#: After READER_PRAGMAS on the pooled readers of an encrypted store. An encrypted file cannot be mapped into memory
#: (every page it reads is checked and decrypted first), so its readers serve repeated reads from their own cache
#: of decrypted pages, and 16 MiB holds too little of a store of a million events (query p99 twice as long).
#: Taken only as pages are read, and freed when the store closes. Not for the one-pass Negentropy streams, which
#: read every page once and would only hold on to more memory.
ENCRYPTED_READER_PRAGMAS = ("PRAGMA cache_size = -65536",)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts shipped in ``migrations/``, in order."""
    found = []
    for entry in (importlib.resources.files("samizdat.store") / "migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations newer than the database's ``user_version``, each in its own transaction.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Returns the new version. Raises StoreError (the
    end of a sentence) if the database was made by a newer Samizdat, sqlite3.Error if a migration fails (that
    migration is rolled back).
    """
    version = schema_version(conn)
    known = migrations()
    latest = known[-1][0] if known else 0
    if version > latest:
        raise StoreError(f"it was created by a newer version of Samizdat (schema {version}, this one knows {latest})")
    for number, script in known:
        if number <= version:
            continue
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{script}\n;PRAGMA user_version = {number};\nCOMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        version = number
    return version


def prepare_file(path: Path, key: bytes | None, *, legacy: bool = False) -> None:
    """Make ``path`` an empty, migrated event store (in WAL mode) and close it, without the store's threads: for
    setting up a node's files before it is first opened (see :func:`samizdat.store.dbapi.prepare_file`)."""
    dbapi.prepare_file(path, key, migrate, "the store", legacy=legacy)


#: (created_at, id) pairs fetched per round trip to a reader thread by negentropy_items.
NEGENTROPY_CHUNK = 10_000
#: SQLite virtual machine steps between two checks whether a read was cancelled (a few milliseconds of work at
#: most; each check is one Python call).
PROGRESS_STEPS = 10_000


class _Stop:
    """What a reader thread's progress handler checks: the caller was cancelled (:meth:`set`), or the read has
    worked longer than ``seconds`` (counted from :meth:`start`, when the thread begins it)."""

    __slots__ = ("flag", "seconds", "deadline")

    def __init__(self, seconds: float | None = None) -> None:
        self.flag = False
        self.seconds = seconds
        self.deadline = float("inf")

    def start(self) -> None:
        if self.seconds is not None:
            self.deadline = time.monotonic() + self.seconds

    def set(self) -> None:
        self.flag = True

    def is_set(self) -> bool:
        return self.flag or time.monotonic() > self.deadline

    @property
    def expired(self) -> bool:
        return not self.flag and time.monotonic() > self.deadline


@dataclass(frozen=True, slots=True)
class CarryReport:
    """What a carry-quota pass did: bytes still carried (None when the whole store fits the quota, so nothing
    was measured) and how many events it dropped."""

    used: int | None
    evicted: int
    store_bytes: int = 0  # the database's live pages before the pass


#: A WAL larger than this is checkpointed with TRUNCATE (see _Checkpointer).
WAL_TRUNCATE_BYTES = 32 * 1024 * 1024


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _Checkpointer:
    """Copies the WAL into the database file from a thread and connection of its own, every ``interval``
    seconds, so that the writer's commits never wait for a checkpoint (PASSIVE: it never blocks the writer or
    the readers; what it cannot copy yet it copies next time)."""

    def __init__(self, path: Path, key: bytes | None, interval: float = 1.0) -> None:
        self._path = path
        self._key = key
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="samizdat-store-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = dbapi.connect(str(self._path), self._key, isolation_level=None)
        except sqlite3.Error:  # the writer reports problems with the file; without us it checkpoints itself
            return
        try:
            conn.execute("PRAGMA busy_timeout = 1000")
            wal = Path(f"{self._path}-wal")
            while not self._stop.wait(self._interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    if _size(wal) > WAL_TRUNCATE_BYTES:
                        # Under constant writes a PASSIVE checkpoint never gets the WAL restarted, so the file only
                        # grows (a flood of 100 MB wrote a 190 MB WAL). TRUNCATE waits for the readers, holds the
                        # writer for a moment, and resets the file to zero bytes. A plain store's WAL is restarted
                        # but kept (PLAIN_WRITER_PRAGMAS): truncating would free blocks that keep its plain pages.
                        mode = "TRUNCATE" if self._key is not None else "RESTART"
                        conn.execute(f"PRAGMA wal_checkpoint({mode})")
                except sqlite3.Error as exc:
                    log.debug("checkpoint skipped: %s", exc)
        finally:
            conn.close()


class SqliteStore(SharedStore[sqlite3.Connection]):
    """The :class:`~samizdat.store.base.Store` on one SQLite file. Create with :meth:`open`, end with
    :meth:`close` (or use ``async with``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float],
        batch_max: int,
        readers: int,
        key: bytes | None = None,
    ) -> None:
        if readers < 1:
            raise ValueError("readers must be at least 1")
        self._path = Path(path).absolute()
        self._key = key  # SQLCipher's key for this file (None: a plain file), see store/dbapi.py
        self._clock = clock
        self._queries = queries
        self._carry_memo: dict[int, Judged] = {}  # the carry pass's judgements of posts, for the next pass
        # A plain store writes its batches of plain events without the GIL where the fast path is built
        # (store/fastadd.py); an encrypted one through its own SQLite, in Python.
        fast = self._open_fast if key is None and fastadd.enabled() else None
        self._writer = Writer(self._connect_writer, clock, batch_max, self._error, fast=fast)
        self._checkpointer = _Checkpointer(self._path, key)
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="samizdat-store-read")
        self._readers = readers
        # Last in, first out: one read after another goes to the same connection, whose cache is warm (on an
        # encrypted store a page missing from the cache is read again and decrypted).
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all_readers: set[sqlite3.Connection] = set()
        self._opened = False
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        batch_max: int = 1000,
        readers: int = 2,
        key: bytes | None = None,
    ) -> SqliteStore:
        """Open (creating or migrating as needed) the store in the file ``path``.

        ``clock`` gives the time in seconds for NIP-40 expiry; ``batch_max`` caps the events committed in one
        transaction; ``readers`` is the number of parallel read connections; ``key`` (32 bytes) encrypts the file
        (store/dbapi.py: a new file is created encrypted; an existing one must have been made with the same key).
        Raises StoreError when the file cannot be opened, is not a database, is damaged, read-only, locked, or
        from a newer Samizdat.
        """
        store = cls(path, clock=clock, batch_max=batch_max, readers=readers, key=key)
        try:
            await store._writer.start()
            loop = asyncio.get_running_loop()
            for _ in range(readers):
                conn = await loop.run_in_executor(store._executor, store._connect_reader)
                store._pool.put(conn)
        except sqlite3.Error as exc:
            await store.close()
            raise store._error(exc, "open") from exc
        except BaseException:
            await store.close()
            raise
        store._checkpointer.start()
        store._opened = True
        return store

    @property
    def path(self) -> Path:
        return self._path

    # --- connections ------------------------------------------------------------------------------------------

    def _error(self, exc: sqlite3.Error, action: str) -> StoreError:
        return StoreError(f"Cannot {action} the store at {self._path}: {describe(exc)}.")

    def _connect_writer(self) -> sqlite3.Connection:
        conn = dbapi.connect(str(self._path), self._key, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"Cannot open the store at {self._path}: its file system cannot hold a WAL journal.")
            for pragma in WRITER_PRAGMAS + (PLAIN_WRITER_PRAGMAS if self._key is None else ()):
                conn.execute(pragma)
            try:
                migrate(conn)
            except StoreError as exc:
                raise StoreError(f"Cannot open the store at {self._path}: {exc}.") from exc
            # From here BEGIN IMMEDIATE waits for another process's write lock in writer._begin (polling), not in
            # SQLite's busy handler, which sleeps up to 100 ms at a time (serve --workers: samizdat/workers.py).
            conn.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_fast(self) -> fastadd.FastAdd:
        """The writer's fast connection (store/fastadd.py), with the writer's settings; polls for the lock."""
        pragmas = (*WRITER_PRAGMAS, *PLAIN_WRITER_PRAGMAS, "PRAGMA busy_timeout = 0")
        return fastadd.FastAdd(str(self._path), pragmas, LOCK_WAIT)

    def _connect_reader(self, pooled: bool = True) -> sqlite3.Connection:
        uri = self._path.as_uri() + "?mode=ro"
        conn = dbapi.connect(uri, self._key, uri=True, isolation_level=None, check_same_thread=False)
        bigger = ENCRYPTED_READER_PRAGMAS if pooled and self._key is not None else ()
        try:
            for pragma in READER_PRAGMAS + bigger:
                conn.execute(pragma)
        except BaseException:
            conn.close()
            raise
        self._all_readers.add(conn)
        return conn

    async def _thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a reader thread, mapping sqlite3 errors to StoreError."""
        if self._closed:
            raise StoreError("The store is closed.")
        if not self._opened:
            raise LocalProtocolError("the store is not open yet (open stores with SqliteStore.open)")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._mapped, fn)

    def _mapped(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except sqlite3.Error as exc:
            raise self._error(exc, "read from") from exc

    async def _interruptible(self, fn: Callable[[], T], stop: threading.Event | _Stop) -> T:
        """``fn`` in a reader thread, on a connection whose progress handler checks ``stop``; if the caller is
        cancelled, set ``stop`` and wait until ``fn`` has let go of the connection (so it can be closed)."""
        job = asyncio.ensure_future(self._thread(fn))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            stop.set()
            await asyncio.wait([job])
            if not job.cancelled():
                job.exception()  # interrupted: nobody wants the error
            raise

    async def _read(self, fn: Callable[[sqlite3.Connection], T], *, primary: bool = False) -> T:
        """Run ``fn(connection)`` on a pooled read connection, inside one read transaction (one snapshot).

        If the awaiting task is cancelled, the read is interrupted (see the theory of operation). While
        :data:`~samizdat.store.base.READ_SECONDS` is set, a read that works longer than that is interrupted too and
        raises TimeoutError. ``primary`` changes nothing: one file has no replicas."""
        stop = _Stop(READ_SECONDS.get())

        def run() -> T:
            conn = self._pool.get()
            stop.start()
            conn.set_progress_handler(stop.is_set, PROGRESS_STEPS)
            try:
                conn.execute("BEGIN")
                try:
                    return fn(conn)
                except sqlite3.OperationalError:
                    if stop.expired:
                        raise TimeoutError(f"the read took more than {stop.seconds} s") from None
                    raise
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
            finally:
                conn.set_progress_handler(None, 0)
                self._pool.put(conn)

        try:
            return await self._thread(run)
        except asyncio.CancelledError:
            stop.set()
            raise

    # --- the Store interface (the rest in store/reading.py) -----------------------------------------------------------

    async def negentropy_items(self, filters: Sequence[Filter]) -> AsyncGenerator[tuple[int, bytes], None]:
        """(created_at, 32-byte id) of every unexpired matching event, ascending, streamed from one snapshot.

        No filters, or ``[Filter()]``, means every event. Limits are ignored. A caller that stops early should
        ``aclose()`` the generator (or use ``contextlib.aclosing``) so that its snapshot is released at once; an
        open snapshot keeps the WAL from being checkpointed past it. With
        :data:`~samizdat.store.base.READ_SECONDS` set (the relay's NIP-77 builds: ``build_seconds``), the stream
        ends that many seconds after it began, its statement interrupted, and raises TimeoutError. Raises
        StoreError.
        """
        now, filters = self._now(), list(filters)
        conn = await self._thread(functools.partial(self._connect_reader, pooled=False))
        # Set when the caller is cancelled, or past the deadline: SQLite then abandons the statement.
        stop = _Stop(READ_SECONDS.get())
        stop.start()
        conn.set_progress_handler(stop.is_set, PROGRESS_STEPS)

        async def step(fn: Callable[[], T]) -> T:
            if stop.expired:
                raise TimeoutError(f"the read took more than {stop.seconds} s")
            try:
                return await self._interruptible(fn, stop)
            except StoreError:
                if stop.expired:
                    raise TimeoutError(f"the read took more than {stop.seconds} s") from None
                raise

        try:
            cursor = await step(lambda: queries.negentropy_cursor(conn, filters, now))
            if cursor is None:
                return
            pending: list[tuple[int, bytes]] = []
            while True:
                rows: list[tuple[int, bytes]] = await step(lambda: cursor.fetchmany(NEGENTROPY_CHUNK))
                if not rows:
                    break
                pending.extend(rows)  # by created_at only: equal timestamps go out in id order
                ready, pending = ready_items(pending)
                for item in ready:
                    yield item
            pending.sort()
            for item in pending:
                yield item
        finally:
            # After close() began, close() owns the connection: it closes it once no thread can be using it.
            if not self._closed:
                self._all_readers.discard(conn)
                await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)

    async def enforce_carry_quota(self, rules: KeepRules, quota: int) -> CarryReport:
        """Drop the lowest-ranked carried events (see :mod:`samizdat.core.carry`) until what this node carries for
        others weighs at most ``quota`` bytes (:data:`carry.TAG_WEIGHT`). Events ``rules`` keep are never
        touched, but for a followed channel's authors' events past their bound (core/carry.py
        ``followed_excess``). Raises StoreError."""
        store_bytes = await self._read(carry.stored_bytes)
        if store_bytes <= quota:
            return CarryReport(used=None, evicted=0, store_bytes=store_bytes)

        def rank(conn: sqlite3.Connection) -> tuple[carry.Carried, list[int]]:
            # Ranking tens of thousands of candidates takes a while: in the reader thread, never on the event loop.
            found = carry.carried(conn, rules, self._now(), self._carry_memo, followed_bound(quota))
            return found, choose_evictions(found.candidates, found.used, quota)

        found, doomed = await self._read(rank)
        valid = carry.valid_seqs(found.candidates, doomed)  # their slots' floors are forgotten last
        followed = frozenset(found.excess)  # followed channels' authors past their bound (core/carry.py)
        doomed = [*doomed, *found.excess]
        evicted = 0
        for start in range(0, len(doomed), PURGE_CHUNK):
            chunk = doomed[start : start + PURGE_CHUNK]
            evict = functools.partial(
                carry.evict, seqs=chunk, now=self._now(), keep=carry.evicted_limit(quota), valid=valid,
                followed=followed,
            )  # fmt: skip
            evicted += await self._writer.call(evict)
        gone = set(doomed)
        freed = sum(size for _, size, seq in found.candidates if seq in gone)
        return CarryReport(used=found.used - freed, evicted=evicted, store_bytes=store_bytes)

    async def carried_bytes(self, rules: KeepRules) -> int:
        """What this node carries for others weighs, in bytes (one pass over the events). Raises StoreError."""
        return (await self._read(lambda conn: carry.carried(conn, rules, self._now()))).used

    async def evicted_among(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` were dropped to keep the carry quota (peer sync does not fetch them again)."""
        return await self._read(lambda conn: carry.evicted_among(conn, ids))

    async def forget_evicted(self, address: str) -> int:
        """Forget the drops of channel ``address``, so that sync fetches its posts again once it is followed."""
        return await self._writer.call(lambda conn: carry.forget_evicted(conn, address))

    async def prune_evicted(self, rules: KeepRules) -> int:
        """Forget drops that are too old or of channels ``rules`` keep (see :mod:`samizdat.store.carry`)."""
        return await self._writer.call(lambda conn: carry.prune_evicted(conn, self._now(), rules.channels))

    async def withdrawn(self, author: str) -> list[Withdrawn]:
        """See :meth:`samizdat.store.base.Store.withdrawn` (for the owner's review only). Raises StoreError."""
        return await self._read(lambda conn: queries.withdrawn(conn, author), primary=True)

    async def close(self) -> None:
        """Finish pending writes, then close every connection. Idempotent; later calls raise StoreError."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, True)
        for conn in list(self._all_readers):
            conn.close()
        self._all_readers.clear()
        await asyncio.to_thread(self._checkpointer.stop)
        # The writer closes last: the last connection to close checkpoints the WAL into the database file (on a
        # plain store, each connection that can write zeroes the WAL before it closes: store/dbapi.py, scrub_wal).
        await self._writer.stop()
