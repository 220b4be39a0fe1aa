"""The PostgreSQL store: the same :class:`~samizdat.store.base.Store` as the SQLite store, on a PostgreSQL
database (psycopg 3), for relays that outgrow one file on one machine (docs/scaling.md).

Theory of operation (the calling model of :mod:`samizdat.store.sqlite`, on a server):

* **Writes** go through one writer thread per store (:class:`_PgWriter`, the SQLite store's
  :class:`~samizdat.store.writer.Writer` with PostgreSQL's transactions): it takes every queued add, runs them in
  one transaction and resolves their futures after ``COMMIT`` returns (group commit). The server's default
  ``synchronous_commit = on`` flushes the commit to its WAL on disk first, so *acknowledged means committed*.
* **Insertion numbers** come from the sequence ``events_seq``. Each write transaction first takes a
  transaction-level advisory lock (:data:`WRITE_LOCK`), so write transactions of every process on the database
  run one after another and numbers become visible in the order they were handed out: a reader that resumes
  after number *n* (``events_since``) never misses an event committed later with a smaller number. Group commit
  keeps that one lock cheap: one holder commits hundreds of events.
* **LISTEN/NOTIFY**: a transaction that stored something sends its highest insertion number on the channel
  :data:`CHANNEL` (delivered at commit). :meth:`PostgresStore.watch` listens and yields new numbers, so a relay
  in another process wakes its subscriptions; it polls :meth:`~PostgresStore.last_seq` when nothing arrived for
  a while and after reconnecting, so a missed notification only delays a wake-up, and the reader catches up
  from the insertion order.
* **Reads** run on a small pool of read-only connections, each used by one thread at a time, in autocommit: a
  read is usually one statement (one snapshot), with no BEGIN and ROLLBACK round trips around it. With
  ``read_url`` (a streaming replica) they go to the replica, except Negentropy (NIP-77: its fingerprints must
  match the primary that peers sync against), ``events_since`` and ``last_seq`` (a process woken by a
  notification must see what woke it), and any read while the replica has not yet replayed this store's last
  acknowledged commit (compared by WAL position): a client that got ``OK`` and asks again sees its event.
* **Cancelling** a read cancels its statement on the server; :data:`~samizdat.store.base.READ_SECONDS` becomes
  the connection's ``statement_timeout`` and raises TimeoutError.
* **Schema** changes are numbered SQL files in ``migrations/postgres/``; the table ``samizdat_schema`` records
  those applied. Opening a store applies the missing ones, under an advisory lock, so two processes starting at
  once do not both migrate.

What the SQLite store has and this one does not: encryption at rest (the database lives on a server the operator
runs; use the server's own disk encryption) and a carry quota (a relay on PostgreSQL keeps what it stores; the
operator sizes the database): :meth:`PostgresStore.enforce_carry_quota` measures and drops nothing.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import logging
import queue
import re
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from samizdat.core.carry import KeepRules
from samizdat.core.event import Event
from samizdat.core.filters import Filter, FilterLimits
from samizdat.errors import LocalProtocolError, StoreError
from samizdat.store import pgqueries
from samizdat.store.base import READ_SECONDS, AddOutcome
from samizdat.store.pgqueries import CHANNEL, Conn
from samizdat.store.sqlite import NEGENTROPY_CHUNK, PAGE_BYTES, PAGE_EVENTS, PURGE_CHUNK, CarryReport
from samizdat.store.writer import Writer, _AddJob, _CallJob, _Job, _StopJob

T = TypeVar("T")

log = logging.getLogger("samizdat.store")

#: The advisory lock (a constant key) every write transaction takes first, and migrations too.
WRITE_LOCK = 0x5A31_D47
_BEGIN = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"  # one round trip
#: Seconds :meth:`PostgresStore.watch` waits for a notification before it checks the insertion number itself.
WATCH_POLL = 5.0
#: The ``application_name`` of the connections that listen (to find them in ``pg_stat_activity``).
WATCH_NAME = "samizdat-watch"
#: Seconds a replica that failed is left alone (its reads go to the primary) before it is tried again.
REPLICA_RETRY = 10.0
#: Seconds to wait for a server to accept a connection.
CONNECT_TIMEOUT = 10
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts shipped in ``migrations/postgres/``, in order."""
    found = []
    for entry in (importlib.resources.files("samizdat.store") / "migrations" / "postgres").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: Conn) -> int:
    """Apply the migrations the database lacks, each in its own transaction, under :data:`WRITE_LOCK`; return
    the schema version. ``conn`` must be in autocommit mode. Raises StoreError (the end of a sentence) if the
    database was made by a newer Samizdat, psycopg.Error if a migration fails (it is rolled back)."""
    known = migrations()
    latest = known[-1][0] if known else 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS samizdat_schema (version integer PRIMARY KEY, applied_at bigint)")
        row = conn.execute("SELECT coalesce(max(version), 0) FROM samizdat_schema").fetchone()
        version = int(row[0]) if row else 0
        if version > latest:
            raise StoreError(
                f"it was created by a newer version of Samizdat (schema {version}, this one knows {latest})"
            )
        for number, script in known:
            if number <= version:
                continue
            with conn.transaction():  # a savepoint: a failing migration leaves the ones before it applied
                conn.execute(script.encode())
                conn.execute("INSERT INTO samizdat_schema VALUES (%s, %s)", (number, int(time.time())))
            version = number
    return version


def _lsn(text: str | None) -> int:
    """A WAL position ``X/Y`` as a number (0 for none)."""
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _describe(exc: psycopg.Error) -> str:
    if isinstance(exc, psycopg.OperationalError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "the server is unreachable"
        return f"the server cannot be reached or refused us ({first})"
    if isinstance(exc, pg_errors.DiskFull):
        return "the database server's disk is full"
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return "the server is a read-only replica"
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return f"permission was denied ({exc.diag.message_primary})"
    return (exc.diag.message_primary if exc.diag else None) or str(exc).strip() or type(exc).__name__


class _PgWriter(Writer):
    """The SQLite store's writer thread and group commit, with PostgreSQL transactions: each batch takes
    :data:`WRITE_LOCK`, stores, notifies :data:`CHANNEL` and commits before any caller hears back."""

    def __init__(self, connect: Callable[[], Conn], clock: Callable[[], float], batch_max: int, where: str) -> None:
        super().__init__(connect, clock, batch_max, lambda exc, verb: StoreError(str(exc)))  # type: ignore[arg-type]
        self._where = where
        self.track_lsn = False
        #: The WAL position after the last commit that stored something (with track_lsn): replicas that have
        #: not replayed this far are not read from.
        self.acked_lsn = 0

    def _run_adds(self, conn: Any, batch: list[_AddJob]) -> list[tuple[_Job, Any, BaseException | None]]:
        now = int(self._clock())
        try:
            conn.execute(_BEGIN)
            flat = pgqueries.add_events(conn, [event for job in batch for event in job.events], now)
            conn.execute("COMMIT")
            if self.track_lsn and AddOutcome.STORED in flat:
                row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
                self.acked_lsn = max(self.acked_lsn, _lsn(row[0] if row else None))
        except Exception as exc:  # noqa: BLE001 - the writer thread outlives a failed job; its caller gets the error
            self._rollback(conn)
            if len(batch) == 1:
                return [(batch[0], None, self._map(exc))]
            return [result for job in batch for result in self._run_adds(conn, [job])]
        outcomes, start = [], 0
        for job in batch:
            outcomes.append(flat[start : start + len(job.events)])
            start += len(job.events)
        self.batches += 1
        self.events += len(flat)
        return [(job, result, None) for job, result in zip(batch, outcomes, strict=True)]

    def _run_call(self, conn: Any, job: _CallJob) -> tuple[_Job, Any, BaseException | None]:
        try:
            conn.execute(_BEGIN)
            value = job.fn(conn)
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the writer thread outlives a failed job; its caller gets the error
            self._rollback(conn)
            return (job, None, self._map(exc))
        return (job, value, None)

    def _close(self, conn: Any, job: _StopJob) -> None:
        error: BaseException | None = None
        try:
            conn.close()
        except psycopg.Error as exc:
            error = self._map(exc)
        self._send([(job, None, error)])

    def _map(self, exc: Exception) -> BaseException:
        if isinstance(exc, psycopg.Error):
            mapped = StoreError(f"Cannot write to the store at {self._where}: {_describe(exc)}.")
            mapped.__cause__ = exc
            return mapped
        if not isinstance(exc, StoreError):
            log.error("unexpected error in the store writer", exc_info=exc)
        return exc

    @staticmethod
    def _rollback(conn: Any) -> None:
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error as exc:
            log.warning("rollback failed: %s", exc)


class _Pool:
    """Read connections to one server, each used by one thread at a time (the last used goes first)."""

    def __init__(self, url: str, *, snapshots: bool = False) -> None:
        """Connections in autocommit (a read is one statement, with no BEGIN and ROLLBACK around it), or with
        ``snapshots`` in read-only REPEATABLE READ transactions (a Negentropy stream: one snapshot throughout)."""
        self.url = url
        self.snapshots = snapshots
        self._idle: queue.LifoQueue[Conn] = queue.LifoQueue()
        self._all: set[Conn] = set()
        self._lock = threading.Lock()
        #: The WAL position this server (a replica) was last seen to have replayed.
        self.replayed = 0
        #: Until when (time.monotonic()) this server is not tried again after it failed.
        self.down_until = 0.0

    def connect(self) -> Conn:
        conn = psycopg.connect(
            self.url,
            autocommit=not self.snapshots,
            connect_timeout=CONNECT_TIMEOUT,
            options="-c default_transaction_read_only=on",
        )
        if self.snapshots:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with self._lock:
            self._all.add(conn)
        return conn

    def take(self) -> Conn:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            return self.connect()
        if conn.closed:
            with self._lock:
                self._all.discard(conn)
            return self.connect()
        return conn

    def give_back(self, conn: Conn) -> None:
        if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.discard(conn)
        else:
            self._idle.put(conn)

    def discard(self, conn: Conn) -> None:
        with self._lock:
            self._all.discard(conn)
        try:
            conn.close()
        except psycopg.Error:
            pass

    def close(self) -> None:
        with self._lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            try:
                conn.close()
            except psycopg.Error:
                pass


class PostgresStore:
    """The :class:`~samizdat.store.base.Store` on a PostgreSQL database. Create with :meth:`open`, end with
    :meth:`close` (or ``async with``)."""

    def __init__(
        self, url: str, *, read_url: str | None, clock: Callable[[], float], batch_max: int, readers: int
    ) -> None:
        if readers < 1:
            raise ValueError("readers must be at least 1")
        self._url = url
        self._where = redact(url)
        self._clock = clock
        self._default_limit = FilterLimits().default_limit
        self._writer = _PgWriter(self._connect_writer, clock, batch_max, self._where)
        self._writer.track_lsn = read_url is not None
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="samizdat-pg-read")
        self._primary = _Pool(url)
        self._streams = _Pool(url, snapshots=True)
        self._replica = _Pool(read_url) if read_url else None
        self._opened = False
        self._closed = False
        self._timeouts: weakref.WeakKeyDictionary[Conn, int] = weakref.WeakKeyDictionary()  # statement_timeout, ms
        #: Reads answered by the replica and by the primary (for tests and status displays).
        self.reads = {"replica": 0, "primary": 0}

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        read_url: str | None = None,
        clock: Callable[[], float] = time.time,
        batch_max: int = 1000,
        readers: int = 4,
    ) -> PostgresStore:
        """Open the store in the database ``url`` (``postgresql://user:password@host:port/database``), creating
        or migrating its tables as needed; reads go to ``read_url`` (a replica of it) where they may.

        Raises StoreError when the server cannot be reached, refuses the login, lacks the ``unaccent`` extension
        (Debian: postgresql-contrib), or holds a schema from a newer Samizdat.
        """
        store = cls(url, read_url=read_url, clock=clock, batch_max=batch_max, readers=readers)
        try:
            await store._writer.start()
            loop = asyncio.get_running_loop()
            store._primary.give_back(await loop.run_in_executor(store._executor, store._primary.connect))
            if store._replica is not None:
                try:
                    store._replica.give_back(await loop.run_in_executor(store._executor, store._replica.connect))
                except psycopg.OperationalError as exc:  # reads go to the primary until the replica answers
                    store._replica.down_until = time.monotonic() + REPLICA_RETRY
                    log.warning("the replica %s cannot be reached (%s); reading from the primary", store._replica.url
                                and redact(store._replica.url), _describe(exc))  # fmt: skip
        except psycopg.Error as exc:
            await store.close()
            raise store._error(exc, "open") from exc
        except BaseException:
            await store.close()
            raise
        store._opened = True
        return store

    @property
    def url(self) -> str:
        """The primary's URL without its password."""
        return self._where

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- connections --------------------------------------------------------------------------------------------

    def _error(self, exc: psycopg.Error, action: str) -> StoreError:
        return StoreError(f"Cannot {action} the store at {self._where}: {_describe(exc)}.")

    def _connect_writer(self) -> Conn:
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise self._error(exc, "open") from exc
        try:
            try:
                migrate(conn)
            except StoreError as exc:
                raise StoreError(f"Cannot open the store at {self._where}: {exc}.") from exc
            except pg_errors.UndefinedFile as exc:  # CREATE EXTENSION unaccent without its files
                raise StoreError(
                    f"Cannot open the store at {self._where}: the server lacks the unaccent extension "
                    "(Debian: apt-get install postgresql-contrib)."
                ) from exc
            except psycopg.Error as exc:
                raise self._error(exc, "open") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _now(self) -> int:
        return int(self._clock())

    def _pick(self, primary: bool) -> _Pool:
        """The replica, unless ``primary`` is asked for or the replica has not replayed our last acknowledged
        commit (checked again on the replica when the position last seen is behind)."""
        replica = self._replica
        if replica is None or primary or time.monotonic() < replica.down_until:
            return self._primary
        if replica.replayed >= self._writer.acked_lsn:
            return replica
        try:
            conn = replica.take()
        except psycopg.Error:
            replica.down_until = time.monotonic() + REPLICA_RETRY
            return self._primary
        try:
            row = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
            replica.replayed = max(replica.replayed, _lsn(row[0] if row else None))
        except psycopg.Error:
            replica.discard(conn)
            return self._primary
        replica.give_back(conn)
        return replica if replica.replayed >= self._writer.acked_lsn else self._primary

    async def _read(self, fn: Callable[[Conn], T], *, primary: bool = False) -> T:
        """Run ``fn(connection)`` in a reader thread, on a read-only connection. Cancelling the caller cancels
        the statement on the server; with READ_SECONDS set, a longer read raises TimeoutError."""
        if self._closed:
            raise StoreError("The store is closed.")
        if not self._opened:
            raise LocalProtocolError("the store is not open yet (open stores with PostgresStore.open)")
        seconds = READ_SECONDS.get()
        used: list[Conn] = []

        def attempt(pool: _Pool) -> T:
            conn = pool.take()
            used.append(conn)
            try:
                timeout = 0 if seconds is None else max(1, int(seconds * 1000))
                if self._timeouts.get(conn, 0) != timeout:  # set only when it changes: no round trip per read
                    conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(timeout),))
                    self._timeouts[conn] = timeout
                try:
                    value = fn(conn)
                except pg_errors.QueryCanceled:
                    if seconds is not None:
                        raise TimeoutError(f"the read took more than {seconds} s") from None
                    raise
                self.reads["replica" if pool is self._replica else "primary"] += 1
                return value
            except psycopg.Error:
                pool.discard(conn)
                raise
            finally:
                used.remove(conn)
                if not conn.closed:
                    pool.give_back(conn)

        def run() -> T:
            pool = self._pick(primary)
            try:
                try:
                    return attempt(pool)
                except pg_errors.QueryCanceled:
                    raise
                except psycopg.OperationalError as exc:
                    # A connection that broke while idle (a server restart), or a replica that went away: once
                    # more on a new connection, to the primary.
                    log.debug("read failed on %s (%s); trying the primary", redact(pool.url), exc)
                    if pool is self._replica:
                        pool.down_until = time.monotonic() + REPLICA_RETRY
                    return attempt(self._primary)
            except psycopg.Error as exc:
                raise self._error(exc, "read from") from exc

        job = asyncio.get_running_loop().run_in_executor(self._executor, run)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            for conn in list(used):
                try:
                    conn.cancel_safe(timeout=2)
                except psycopg.Error:
                    pass
            await asyncio.wait([job])
            if not job.cancelled():
                job.exception()  # cancelled on the server: nobody wants the error
            raise

    # --- the Store interface ------------------------------------------------------------------------------------

    async def add(self, event: Event) -> AddOutcome:
        """Store a verified event; return once it is committed. Raises StoreError."""
        return (await self._writer.add((event,)))[0]

    async def add_many(self, events: Sequence[Event]) -> list[AddOutcome]:
        """Store verified events in one transaction; outcomes in the same order. Raises StoreError."""
        if not events:
            return []
        return await self._writer.add(tuple(events))

    async def query(self, filters: Sequence[Filter]) -> list[Event]:
        now, filters = self._now(), list(filters)
        return await self._read(lambda conn: pgqueries.query(conn, filters, now, self._default_limit))

    async def query_pages(
        self,
        filters: Sequence[Filter],
        *,
        page_events: int = PAGE_EVENTS,
        page_bytes: int = PAGE_BYTES,
        before_read: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> AsyncGenerator[list[Event], None]:
        """The events of :meth:`query`, a page at a time, as :meth:`SqliteStore.query_pages` gives them."""
        pager = pgqueries.Pager(filters, self._default_limit)
        while not pager.done:
            read = functools.partial(pager.next_page, max_events=page_events, max_bytes=page_bytes)
            if before_read is None:
                page = await self._read(functools.partial(read, now=self._now()))
            else:
                async with before_read():
                    page = await self._read(functools.partial(read, now=self._now()))
            if page:
                yield page

    async def count(self, filters: Sequence[Filter]) -> int:
        now, filters = self._now(), list(filters)
        return await self._read(lambda conn: pgqueries.count(conn, filters, now))

    async def get(self, event_id: str) -> Event | None:
        now = self._now()
        return await self._read(lambda conn: pgqueries.get(conn, event_id, now))

    async def ids_with_prefix(self, prefix: str, *, limit: int = 2) -> list[str]:
        now = self._now()
        if not prefix or len(prefix) > 64 or any(c not in "0123456789abcdef" for c in prefix):
            return []
        return await self._read(lambda conn: pgqueries.ids_with_prefix(conn, prefix, now, limit))

    async def has(self, event_ids: Sequence[str]) -> set[str]:
        now, ids = self._now(), list(event_ids)
        return await self._read(lambda conn: pgqueries.has(conn, ids, now))

    async def negentropy_items(self, filters: Sequence[Filter]) -> AsyncGenerator[tuple[int, bytes], None]:
        """(created_at, 32-byte id) of every unexpired matching event, ascending, streamed from one snapshot of the
        primary through a server-side cursor. A caller that stops early should ``aclose()`` the generator."""
        if self._closed:
            raise StoreError("The store is closed.")
        statement = pgqueries.negentropy_sql(list(filters), self._now())
        if statement is None:
            return
        sql, params = statement
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(self._executor, self._streams.take)
        except psycopg.Error as exc:
            raise self._error(exc, "read from") from exc
        cursor = conn.cursor(name="samizdat_negentropy")
        finished = False
        try:

            def first() -> list[tuple[int, bytes]]:
                cursor.execute(sql.encode(), params)
                return [(int(c), bytes(i)) for c, i in cursor.fetchmany(NEGENTROPY_CHUNK)]

            def more() -> list[tuple[int, bytes]]:
                return [(int(c), bytes(i)) for c, i in cursor.fetchmany(NEGENTROPY_CHUNK)]

            step: Callable[[], list[tuple[int, bytes]]] = first
            pending: list[tuple[int, bytes]] = []
            while True:
                job = loop.run_in_executor(self._executor, step)
                try:
                    rows = await asyncio.shield(job)
                except asyncio.CancelledError:
                    conn.cancel_safe(timeout=2)
                    await asyncio.wait([job])
                    raise
                except psycopg.Error as exc:
                    raise self._error(exc, "read from") from exc
                if not rows:
                    break
                # Rows may come by created_at only; equal timestamps are put in id order before they go out.
                pending.extend(rows)
                last, cut = pending[-1][0], len(pending)
                while cut and pending[cut - 1][0] == last:
                    cut -= 1
                ready, pending = pending[:cut], pending[cut:]
                ready.sort()
                for item in ready:
                    yield item
                step = more
            pending.sort()
            for item in pending:
                yield item
            finished = True
        finally:

            def release() -> None:
                cursor.close()
                conn.rollback()

            try:
                await loop.run_in_executor(None, release)
            except psycopg.Error:
                finished = False
            if finished:
                self._streams.give_back(conn)  # for the next stream: no new connection per sync
            else:
                self._streams.discard(conn)

    async def purge_expired(self) -> int:
        """Delete the events whose NIP-40 expiration has passed; return how many. Raises StoreError."""
        total = 0
        while True:
            purge = functools.partial(pgqueries.purge_expired_chunk, now=self._now(), chunk=PURGE_CHUNK)
            purged = await self._writer.call(purge)
            total += purged
            if purged < PURGE_CHUNK:
                return total

    async def enforce_carry_quota(self, rules: KeepRules, quota: int) -> CarryReport:
        """A PostgreSQL store keeps no carry quota (the operator sizes the database): measures, drops nothing."""
        return CarryReport(used=None, evicted=0, store_bytes=(await self.stats())["file_bytes"])

    async def carried_bytes(self, rules: KeepRules) -> int:
        """Nothing is carried under a quota on PostgreSQL (see :meth:`enforce_carry_quota`)."""
        return 0

    async def evicted_among(self, ids: Sequence[bytes]) -> set[bytes]:
        wanted = list(ids)
        return await self._read(lambda conn: pgqueries.evicted_among(conn, wanted))

    async def forget_evicted(self, address: str) -> int:
        return await self._writer.call(
            lambda conn: conn.execute("DELETE FROM evicted WHERE address = %s", (address,)).rowcount
        )

    async def prune_evicted(self, rules: KeepRules) -> int:
        return 0  # nothing is evicted on PostgreSQL

    async def stats(self) -> dict[str, int]:
        """``events`` and per kind class counts, ``expiring``, ``deletion_requests``, ``file_bytes`` (the
        database's size)."""
        return await self._read(pgqueries.stats)

    async def events_since(self, rowid: int, limit: int) -> list[tuple[int, Event]]:
        """Up to ``limit`` unexpired events stored after insertion number ``rowid``, oldest first (from the
        primary: a process woken by :meth:`watch` must see what woke it). Raises StoreError."""
        now = self._now()
        return await self._read(lambda conn: pgqueries.events_since(conn, rowid, limit, now), primary=True)

    async def last_seq(self) -> int:
        """The highest insertion number stored (0 for none), from the primary. Raises StoreError."""
        return await self._read(pgqueries.last_seq, primary=True)

    async def watch(self, *, poll: float = WATCH_POLL) -> AsyncGenerator[int, None]:
        """Yield the store's highest insertion number each time it grows, whichever process wrote: first the
        current one (once listening), then one per notification on :data:`CHANNEL` (several commits may be told
        at once).

        If no notification came for ``poll`` seconds, or the listening connection was lost, the number is read
        from the store instead, so a missed notification only delays a wake-up: the consumer reads
        ``events_since`` its last number and misses nothing. Runs until the caller stops iterating (``aclose()``)."""
        seen = -1  # so that the first number is yielded, once listening: nothing after it can be missed
        while not self._closed:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name=WATCH_NAME
                )
            except psycopg.Error as exc:
                log.warning("cannot listen for new events at %s: %s; retrying", self._where, _describe(exc))
                await asyncio.sleep(poll)
                continue
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                while not self._closed:
                    newest = await self.last_seq()  # after LISTEN: what was missed before it is caught up here
                    if newest > seen:
                        seen = newest
                        yield seen
                    async for note in conn.notifies(timeout=poll):
                        number = int(note.payload) if note.payload.isdigit() else 0
                        if number > seen:
                            seen = number
                            yield seen
            except psycopg.OperationalError as exc:
                log.warning("lost the notifications of %s: %s; listening again", self._where, _describe(exc))
            finally:
                await conn.close()

    async def close(self) -> None:
        """Finish pending writes, then close every connection. Idempotent; later calls raise StoreError."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, True)
        self._primary.close()
        self._streams.close()
        if self._replica is not None:
            self._replica.close()
        await self._writer.stop()
