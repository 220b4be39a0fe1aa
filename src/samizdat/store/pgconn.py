"""The connections of the PostgreSQL store (:mod:`samizdat.store.postgres`): its migrations, its writer thread
(the SQLite store's :class:`~samizdat.store.writer.Writer` with PostgreSQL transactions), its pools of read
connections, and ``psycopg`` errors in one sentence. See :mod:`samizdat.store.postgres` for how they are used.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import psycopg
from psycopg import errors as pg_errors
from psycopg.abc import Params

from samizdat.errors import StoreError
from samizdat.store import pgwrites
from samizdat.store.base import AddOutcome
from samizdat.store.pgqueries import Conn
from samizdat.store.writer import Writer, _AddJob, _CallJob, _Job, _StopJob

log = logging.getLogger("samizdat.store")

#: The advisory lock (a constant key) every write transaction takes first, and migrations too.
WRITE_LOCK = 0x5A31_D47
BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"  # one round trip
#: Seconds a replica that failed is left alone (its reads go to the primary) before it is tried again.
REPLICA_RETRY = 10.0
#: Seconds to wait for a server to accept a connection.
CONNECT_TIMEOUT = 10
#: Seconds any statement of the writer may run, a wait for a lock included (its ``statement_timeout``): every
#: client's ``OK`` waits for the batch it is in. Batches take milliseconds (the slowest measured, 2,000 addressable
#: events in one run with the server 2 ms away, 0.11 s), so this is far above honest work; a statement that runs
#: longer waits for something that may not end (another process stuck holding :data:`WRITE_LOCK`, an operator's
#: session holding a table lock, a server that stopped answering), and its batch fails at once with
#: :class:`WriteTimeout`. Well within the 15 s our own client waits for an ``OK`` (net/client.py), so a client
#: hears "try again" before it gives up.
WRITE_SECONDS = 5.0
#: Seconds the writer's transaction may sit between two statements before the server ends its session
#: (``idle_in_transaction_session_timeout``): between them the writer only builds the next statement, milliseconds.
#: A process frozen mid-write (its machine suspended, or cut off from the server) then lets go of
#: :data:`WRITE_LOCK` after this long, and the other processes write again; it connects again when it wakes up.
IDLE_SECONDS = 10.0
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    url = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


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


def lsn(text: str | None) -> int:
    """A WAL position ``X/Y`` as a number (0 for none)."""
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def describe(exc: psycopg.Error) -> str:
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


class WriteTimeout(StoreError, TimeoutError):
    """A write batch took longer than :data:`WRITE_SECONDS` and was rolled back: none of its events is stored."""


def _timed_out(exc: BaseException) -> bool:
    """``statement_timeout`` or ``lock_timeout`` ended the statement (not a broken connection: it is usable)."""
    return isinstance(exc, pg_errors.QueryCanceled | pg_errors.LockNotAvailable)


def limit_writes(conn: Conn) -> None:
    """Give the writer's connection :data:`WRITE_SECONDS` as its ``statement_timeout`` and :data:`IDLE_SECONDS` as
    its ``idle_in_transaction_session_timeout`` (after migrating: a migration of a large store takes as long as it
    takes)."""
    conn.execute(
        "SELECT set_config('statement_timeout', %s, false), set_config('idle_in_transaction_session_timeout', %s,"
        " false)",
        (str(int(WRITE_SECONDS * 1000)), str(int(IDLE_SECONDS * 1000))),
    )


class PgWriter(Writer):
    """The SQLite store's writer thread and group commit, with PostgreSQL transactions: each batch takes
    :data:`WRITE_LOCK`, stores, notifies :data:`CHANNEL` and commits before any caller hears back.

    Every statement has :data:`WRITE_SECONDS` (:func:`limit_writes`). Before (red-team finding), a statement had no
    limit: a transaction of another relay process that stopped mid-write (its machine frozen, or cut off from the
    server, which keeps its session until TCP gives up, hours later) held :data:`WRITE_LOCK`, and every client's
    ``OK`` waited with it, for good; so did an operator's ``psql`` session holding a lock on a table. A batch whose
    statement timed out is not retried one job at a time as other failures are (each would wait as long again):
    every job of it fails with :class:`WriteTimeout`, rolled back, so an ``OK`` true still means committed.

    A connection that is lost (a server restart or failover, a network cut, the server ending a session idle in a
    transaction for :data:`IDLE_SECONDS`) is opened again with ``reopen`` when the next batch comes, and a batch
    whose connection broke under it is tried once more on the new one (it was rolled back, or committed: then its
    events come out as duplicates, stored). Before (red-team finding), the writer kept the dead connection: every
    write failed until the relay was restarted."""

    def __init__(
        self,
        connect: Callable[[], Conn],
        clock: Callable[[], float],
        batch_max: int,
        where: str,
        reopen: Callable[[], Conn] | None = None,
    ) -> None:
        super().__init__(connect, clock, batch_max, lambda exc, verb: StoreError(str(exc)))  # type: ignore[arg-type]
        self._where = where
        self._reopen = reopen or connect
        self._conn: Conn | None = None  # the connection in use, once the thread has one (see _live)
        self.track_lsn = False
        #: The WAL position after the last commit that stored something (with track_lsn): replicas that have
        #: not replayed this far are not read from.
        self.acked_lsn = 0

    def _live(self, conn: Conn) -> Conn:
        """The connection to write on: the one in use, or a new one if it was lost. Raises psycopg.Error or
        StoreError when none can be opened."""
        if self._conn is None:
            self._conn = conn
        if self._conn.closed:
            log.warning("the store writer lost its connection to %s; connecting again", self._where)
            self._conn = self._reopen()
        return self._conn

    def _run_adds(
        self, conn: Any, batch: list[_AddJob], *, again: bool = True
    ) -> list[tuple[_Job, Any, BaseException | None]]:
        try:
            conn = self._live(conn)
        except (psycopg.Error, StoreError) as exc:
            error = self._map(exc)
            return [(job, None, error) for job in batch]
        now = int(self._clock())
        try:
            conn.execute(BEGIN_WRITE)
            flat = pgwrites.add_events(conn, [event for job in batch for event in job.events], now)
            conn.execute("COMMIT")
            if self.track_lsn and AddOutcome.STORED in flat:
                row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
                self.acked_lsn = max(self.acked_lsn, lsn(row[0] if row else None))
        except Exception as exc:  # noqa: BLE001 - the writer thread outlives a failed job; its caller gets the error
            self._rollback(conn)
            if again and conn.closed and isinstance(exc, psycopg.Error):
                return self._run_adds(conn, batch, again=False)  # on a new connection (see the class doc)
            if len(batch) == 1 or _timed_out(exc):
                error = self._map(exc)
                return [(job, None, error) for job in batch]
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
            conn = self._live(conn)
            conn.execute(BEGIN_WRITE)
            value = job.fn(conn)
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the writer thread outlives a failed job; its caller gets the error
            self._rollback(conn)
            return (job, None, self._map(exc))
        return (job, value, None)

    def _close(self, conn: Any, job: _StopJob) -> None:
        error: BaseException | None = None
        conn = self._conn or conn
        try:
            conn.close()
        except psycopg.Error as exc:
            error = self._map(exc)
        self._send([(job, None, error)])

    def _map(self, exc: Exception) -> BaseException:
        if isinstance(exc, pg_errors.QueryCanceled | pg_errors.LockNotAvailable):
            timeout = WriteTimeout(
                f"The store at {self._where} did not finish a write within {WRITE_SECONDS:g} s "
                f"({exc.diag.message_primary}); nothing of it was stored, try again later."
            )
            timeout.__cause__ = exc
            return timeout
        if isinstance(exc, psycopg.Error):
            mapped = StoreError(f"Cannot write to the store at {self._where}: {describe(exc)}.")
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


class _Deadline(threading.local):
    """When the read running in this thread must end (time.monotonic()), or None: see :class:`ReadCursor`."""

    at: float | None = None


#: The deadline of the read each reader thread runs (set by the store around a read, :func:`read_deadline`).
DEADLINE = _Deadline()


class ReadCursor(psycopg.Cursor[Any]):
    """The cursor of the read connections: a statement begun after the running read's deadline raises
    TimeoutError instead of running.

    ``statement_timeout`` ends one statement; a read may be several (a REQ page of ten filters is ten statements,
    and then one for the page's JSON), and with each just under the timeout one page held a turn at the store for
    ten times the relay's ``store_seconds`` (red-team finding: a phone's REQ waited 5.5 s behind two devices' pages
    of 6.5 s on a 200,000-event store, where the bound is 2 s). So a read ends at most one statement after its
    deadline, as the SQLite store's progress handler ends its reads."""

    def execute(
        self, query: Any, params: Params | None = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Self:
        deadline = DEADLINE.at
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError("the read took longer than its time limit")
        return super().execute(query, params, prepare=prepare, binary=binary)


def close_quietly(conn: Conn) -> None:
    """Close ``conn``, which is being let go of: a connection that fails as it closes is closed all the same."""
    with contextlib.suppress(psycopg.Error):
        conn.close()


class Pool:
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
            cursor_factory=ReadCursor,
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
        close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            close_quietly(conn)
