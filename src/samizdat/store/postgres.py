"""The PostgreSQL store: the same :class:`~samizdat.store.base.Store` as the SQLite store, on a PostgreSQL
database (psycopg 3), for relays that outgrow one file on one machine (docs/scaling.md).

Theory of operation (the calling model of :mod:`samizdat.store.sqlite`, on a server):

* **Writes** go through one writer thread per store (:class:`~samizdat.store.pgconn.PgWriter`, the SQLite store's
  :class:`~samizdat.store.writer.Writer` with PostgreSQL's transactions): it takes every queued add, runs them in
  one transaction and resolves their futures after ``COMMIT`` returns (group commit). The server's default
  ``synchronous_commit = on`` flushes the commit to its WAL on disk first, so *acknowledged means committed*.
* **Insertion numbers** come from the sequence ``events_seq``. Each write transaction first takes a
  transaction-level advisory lock (:data:`~samizdat.store.pgconn.WRITE_LOCK`), so write transactions of every
  process on the database run one after another and numbers become visible in the order they were handed out: a
  reader that resumes after number *n* (``events_since``) never misses an event committed later with a smaller
  number. Group commit keeps that one lock cheap: one holder commits hundreds of events.
* **LISTEN/NOTIFY**: a transaction that stored something sends its highest insertion number on the channel
  :data:`~samizdat.store.pgqueries.CHANNEL` (delivered at commit). :meth:`PostgresStore.watch` listens and yields
  new numbers, so a relay in another process wakes its subscriptions; it polls :meth:`~PostgresStore.last_seq`
  when nothing arrived for a while and after reconnecting, so a missed notification only delays a wake-up, and
  the reader catches up from the insertion order.
* **Reads** run on a small pool of read-only connections, each used by one thread at a time, in autocommit: a
  read is usually one statement (one snapshot), with no BEGIN and ROLLBACK round trips around it. With
  ``read_url`` (a streaming replica) they go to the replica, except Negentropy (NIP-77: its fingerprints must
  match the primary that peers sync against), ``events_since`` and ``last_seq`` (a process woken by a
  notification must see what woke it), and any read while the replica has not yet replayed this store's last
  acknowledged commit, nor what this process last read from the primary's insertion order (compared by WAL
  position): a client that got ``OK`` and asks again sees its event, and so does a client of this process asking
  for an event another process stored, once this process's follower has passed it (it will not fan it out again).
* **Cancelling** a read cancels its statement on the server; :data:`~samizdat.store.base.READ_SECONDS` becomes
  the connection's ``statement_timeout`` and the read's deadline (a read of several statements begins none after
  it: :class:`~samizdat.store.pgconn.ReadCursor`), and raises TimeoutError.
* **Schema** changes are numbered SQL files in ``migrations/postgres/``; the table ``samizdat_schema`` records
  those applied. Opening a store applies the missing ones, under an advisory lock, so two processes starting at
  once do not both migrate.

The methods that only hand a function of :mod:`~samizdat.store.pgqueries` to the writer or a reader are the SQLite
store's, in :class:`~samizdat.store.reading.SharedStore`; this module has what differs.

What the SQLite store has and this one does not: encryption at rest (the database lives on a server the operator
runs; use the server's own disk encryption) and a carry quota (a relay on PostgreSQL keeps what it stores; the
operator sizes the database): :meth:`PostgresStore.enforce_carry_quota` measures and drops nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
from psycopg import errors as pg_errors

from samizdat.core.carry import KeepRules
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.errors import LocalProtocolError, StoreError
from samizdat.store import pgqueries
from samizdat.store.base import READ_SECONDS, Withdrawn
from samizdat.store.pgconn import (
    CONNECT_TIMEOUT,
    DEADLINE,
    REPLICA_RETRY,
    PgWriter,
    Pool,
    close_quietly,
    describe,
    limit_writes,
    lsn,
    migrate,
    redact,
)
from samizdat.store.pgqueries import CHANNEL, Conn
from samizdat.store.reading import SharedStore, ready_items
from samizdat.store.sqlite import CarryReport

T = TypeVar("T")

log = logging.getLogger("samizdat.store")

#: (created_at, id) rows fetched per round trip by a Negentropy stream (about 50 bytes each).
STREAM_CHUNK = 50_000
#: Seconds :meth:`PostgresStore.watch` waits for a notification before it checks the insertion number itself.
WATCH_POLL = 5.0
#: The ``application_name`` of the connections that listen (to find them in ``pg_stat_activity``).
WATCH_NAME = "samizdat-watch"
#: The ``application_name`` of the writer's connection.
WRITER_NAME = "samizdat-writer"
#: The channel ephemeral events travel on between relay processes without NATS (relay/bus.py, StoreBus).
EPHEMERAL_CHANNEL = "samizdat_ephemeral"
#: A NOTIFY payload's limit is 8,000 bytes.
NOTIFY_MAX_BYTES = 7999


def _cancel(conns: list[Conn]) -> asyncio.Future[None]:
    """Cancel the statements running on ``conns``, in a thread of the loop's default executor: a cancel request is a
    connection of its own to the server (8 to 13 ms here), and sent from the event loop it held every client of
    the process up. A device sending REQs of slow filters and closing each at once blocked the loop 40% of the
    time with four connections (a phone's REQ took 27 ms at the median, 4 ms alone; red-team finding). Not the
    store's reader threads: they may all be busy with the reads being cancelled."""

    def cancel() -> None:
        for conn in conns:
            try:
                conn.cancel_safe(timeout=2)
            except psycopg.Error:
                pass

    return asyncio.get_running_loop().run_in_executor(None, cancel)


class PostgresStore(SharedStore[Conn]):
    """The :class:`~samizdat.store.base.Store` on a PostgreSQL database. Create with :meth:`open`, end with
    :meth:`close` (or ``async with``)."""

    _writer: PgWriter

    def __init__(
        self, url: str, *, read_url: str | None, clock: Callable[[], float], batch_max: int, readers: int
    ) -> None:
        if readers < 1:
            raise ValueError("readers must be at least 1")
        self._url = url
        self._where = redact(url)
        self._clock = clock
        self._queries = pgqueries
        self._writer = PgWriter(self._connect_writer, clock, batch_max, self._where, reopen=self._reconnect_writer)
        self._writer.track_lsn = read_url is not None
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="samizdat-pg-read")
        self._primary = Pool(url)
        self._streams = Pool(url, snapshots=True)
        self._replica = Pool(read_url) if read_url else None
        self._opened = False
        self._closed = False
        self._timeouts: weakref.WeakKeyDictionary[Conn, int] = weakref.WeakKeyDictionary()  # statement_timeout, ms
        #: With a replica: the primary's WAL position after the last read of the insertion order (see _noting).
        self._seen_lsn = 0
        self._seen_lock = threading.Lock()
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
                    where = redact(store._replica.url)
                    log.warning("the replica %s cannot be reached (%s); reading from the primary", where, describe(exc))
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

    # --- connections --------------------------------------------------------------------------------------------

    def _error(self, exc: psycopg.Error, action: str) -> StoreError:
        return StoreError(f"Cannot {action} the store at {self._where}: {describe(exc)}.")

    def _connect_writer(self) -> Conn:
        return self._open_writer("open", migrating=True)

    def _reconnect_writer(self) -> Conn:
        """The writer's connection again, after it was lost (migrated already: not waiting for the write lock)."""
        return self._open_writer("write to", migrating=False)

    def _open_writer(self, action: str, *, migrating: bool) -> Conn:
        """A connection for the writer, its writes time-limited (``limit_writes``); ``migrating``: the schema is
        brought up to date on it first. Errors name ``action`` ("open", "write to")."""
        try:
            conn = psycopg.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name=WRITER_NAME
            )
        except psycopg.Error as exc:
            raise self._error(exc, action) from exc
        try:
            if migrating:
                try:
                    migrate(conn)
                except StoreError as exc:
                    raise StoreError(f"Cannot open the store at {self._where}: {exc}.") from exc
                except pg_errors.UndefinedFile as exc:  # CREATE EXTENSION unaccent without its files
                    raise StoreError(
                        f"Cannot open the store at {self._where}: the server lacks the unaccent extension "
                        "(Debian: apt-get install postgresql-contrib)."
                    ) from exc
            limit_writes(conn)
        except psycopg.Error as exc:
            close_quietly(conn)
            raise self._error(exc, action) from exc
        except BaseException:
            close_quietly(conn)
            raise
        return conn

    def _pick(self, primary: bool) -> Pool:
        """The replica, unless ``primary`` is asked for or the replica has not replayed our last acknowledged
        commit, nor our last read of the insertion order (:meth:`_noting`); checked again on the replica when the
        position last seen is behind."""
        replica = self._replica
        if replica is None or primary or time.monotonic() < replica.down_until:
            return self._primary
        floor = max(self._writer.acked_lsn, self._seen_lsn)
        if replica.replayed >= floor:
            return replica
        try:
            conn = replica.take()
        except psycopg.Error:
            replica.down_until = time.monotonic() + REPLICA_RETRY
            return self._primary
        try:
            row = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
            replica.replayed = max(replica.replayed, lsn(row[0] if row else None))
        except psycopg.Error:
            replica.discard(conn)
            return self._primary
        replica.give_back(conn)
        return replica if replica.replayed >= floor else self._primary

    async def _read(self, fn: Callable[[Conn], T], *, primary: bool = False) -> T:
        """Run ``fn(connection)`` in a reader thread, on a read-only connection. Cancelling the caller cancels
        the statement on the server; with READ_SECONDS set, a longer read raises TimeoutError."""
        if self._closed:
            raise StoreError("The store is closed.")
        if not self._opened:
            raise LocalProtocolError("the store is not open yet (open stores with PostgresStore.open)")
        seconds = READ_SECONDS.get()
        used: list[Conn] = []

        def attempt(pool: Pool) -> T:
            conn = pool.take()
            used.append(conn)
            try:
                timeout = 0 if seconds is None else max(1, int(seconds * 1000))
                if self._timeouts.get(conn, 0) != timeout:  # set only when it changes: no round trip per read
                    conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(timeout),))
                    self._timeouts[conn] = timeout
                DEADLINE.at = None if seconds is None else time.monotonic() + seconds  # for every statement of fn
                try:
                    value = fn(conn)
                except pg_errors.QueryCanceled:
                    if seconds is not None:
                        raise TimeoutError(f"the read took more than {seconds} s") from None
                    raise
                finally:
                    DEADLINE.at = None
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
            await asyncio.wait([_cancel(list(used))])
            await asyncio.wait([job])
            if not job.cancelled():
                job.exception()  # cancelled on the server: nobody wants the error
            raise

    def _noting(self, conn: Conn, value: T) -> T:
        """``value``, read from the primary's insertion order on ``conn``; with a replica, first note the primary's
        WAL position, which is past every commit that read saw.

        What this process reads there, its follower passes: it fans those events out to the subscriptions open
        now, or moves its cursor past them when there are none, and never again. A REQ made afterwards must find
        them in its answer, so it is not answered by a replica that has not replayed that far (red-team finding:
        a phone subscribing on one relay missed an event acknowledged by another while the replica lagged, which a
        client's own long queries on the replica can make it do). Noted in the reader thread, before the caller
        hears of the value."""
        if self._replica is not None:
            # A plain cursor: this is part of the read already made, never refused for its deadline (ReadCursor).
            row = psycopg.Cursor(conn).execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
            position = lsn(row[0] if row else None)
            with self._seen_lock:
                self._seen_lsn = max(self._seen_lsn, position)
        return value

    async def events_since(self, rowid: int, limit: int) -> list[tuple[int, Event]]:
        """See :meth:`SharedStore.events_since`; with a replica, what it returns is never missed by a later read
        (:meth:`_noting`)."""
        now = self._now()
        return await self._read(
            lambda conn: self._noting(conn, pgqueries.events_since(conn, rowid, limit, now)), primary=True
        )

    async def scan_kinds(
        self, rowid: int, limit: int, kinds: frozenset[int]
    ) -> tuple[int, list[tuple[int, Event]], int]:
        """See :meth:`SharedStore.scan_kinds`; noted as :meth:`events_since`."""
        now = self._now()
        return await self._read(
            lambda conn: self._noting(conn, pgqueries.scan_kinds(conn, rowid, limit, now, kinds)), primary=True
        )

    async def last_seq(self) -> int:
        """See :meth:`SharedStore.last_seq`; noted as :meth:`events_since` (a follower with nobody to deliver to
        moves its cursor to it)."""
        return await self._read(lambda conn: self._noting(conn, pgqueries.last_seq(conn)), primary=True)

    # --- the Store interface (the rest in store/reading.py) -----------------------------------------------------------

    async def negentropy_items(self, filters: Sequence[Filter]) -> AsyncGenerator[tuple[int, bytes], None]:
        """(created_at, 32-byte id) of every unexpired matching event, ascending, streamed from one snapshot of the
        primary through a server-side cursor. A caller that stops early should ``aclose()`` the generator.

        With :data:`~samizdat.store.base.READ_SECONDS` set (the relay's NIP-77 builds: ``build_seconds``), the
        whole stream has that long, counted from this call: each ``FETCH`` runs with the time left as its
        ``statement_timeout`` (the server ends it there), none begins after it, and the stream raises TimeoutError.
        Without it, one hostile ``NEG-OPEN`` whose statement the server plans badly held a connection, a core of
        the server and the relay's one build turn for as long as the statement ran (red-team finding)."""
        if self._closed:
            raise StoreError("The store is closed.")
        statement = pgqueries.negentropy_sql(list(filters), self._now())
        if statement is None:
            return
        sql, params = statement
        seconds = READ_SECONDS.get()
        deadline = None if seconds is None else time.monotonic() + seconds
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(self._executor, self._streams.take)
        except psycopg.Error as exc:
            raise self._error(exc, "read from") from exc
        cursor = conn.cursor(name="samizdat_negentropy", binary=True)  # ids as bytes, not hex text
        finished = False
        try:

            def limit() -> None:
                """The next statement gets the time left (local to the stream's transaction), or none at all."""
                if deadline is None:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the read took more than {seconds} s")
                conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(max(1, int(left * 1000))),))

            def first() -> list[tuple[int, bytes]]:
                limit()
                try:
                    cursor.execute(sql.encode(), params)
                except pg_errors.QueryCanceled:  # planning alone took the time left (a busy server)
                    if deadline is None:
                        raise
                    raise TimeoutError(f"the read took more than {seconds} s") from None
                return more()

            def more() -> list[tuple[int, bytes]]:
                limit()
                # Binary rows are already (int, bytes): no conversion of a hundred thousand rows in Python.
                try:
                    rows: list[tuple[int, bytes]] = cursor.fetchmany(STREAM_CHUNK)
                except pg_errors.QueryCanceled:
                    if deadline is None:
                        raise
                    raise TimeoutError(f"the read took more than {seconds} s") from None
                return rows

            step: Callable[[], list[tuple[int, bytes]]] = first
            pending: list[tuple[int, bytes]] = []
            while True:
                job = loop.run_in_executor(self._executor, step)
                try:
                    rows = await asyncio.shield(job)
                except asyncio.CancelledError:
                    await asyncio.wait([_cancel([conn])])
                    await asyncio.wait([job])
                    if not job.cancelled():
                        job.exception()  # cancelled on the server: nobody wants the error
                    raise
                except TimeoutError:
                    finished = True  # ended by the server's statement_timeout, not a cancel request: reusable
                    raise
                except psycopg.Error as exc:
                    raise self._error(exc, "read from") from exc
                if not rows:
                    break
                pending.extend(rows)  # by created_at only: equal timestamps go out in id order
                ready, pending = ready_items(pending)
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

    async def withdrawn(self, author: str) -> list[Withdrawn]:
        """See :meth:`samizdat.store.base.Store.withdrawn` (for the owner's review only). Raises StoreError."""
        return await self._read(lambda conn: pgqueries.withdrawn(conn, author), primary=True)

    async def watch(self, *, poll: float = WATCH_POLL) -> AsyncGenerator[int, None]:
        """Yield the store's highest insertion number each time it grows, whichever process wrote: first the
        current one (once listening), then one per notification on :data:`CHANNEL` (several commits may be told
        at once).

        If no notification came for ``poll`` seconds, or the listening connection was lost, the number is read
        from the store instead, so a missed notification only delays a wake-up: the consumer reads
        ``events_since`` its last number and misses nothing. Runs until the caller stops iterating (``aclose()``).

        A notification's number is a hint, yielded as it comes when it is above the last number read from the
        store, and never remembered: any role that may connect to the database can ``NOTIFY`` on the channel, and
        one number far ahead, once remembered, silenced every true notification after it (red-team finding: the
        relays then heard of each other's events only by polling, a second late)."""
        seen = -1  # the newest number read from the store: the first is yielded once listening, nothing is missed
        while not self._closed:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name=WATCH_NAME
                )
            except psycopg.Error as exc:
                log.warning("cannot listen for new events at %s: %s; retrying", self._where, describe(exc))
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
                        payload = note.payload
                        number = int(payload) if payload.isascii() and payload.isdigit() and len(payload) < 20 else 0
                        if number > seen:
                            yield number
            except psycopg.OperationalError as exc:
                log.warning("lost the notifications of %s: %s; listening again", self._where, describe(exc))
            except StoreError as exc:  # last_seq() failed: the server is restarting, say
                log.warning("cannot read the newest event of %s: %s; listening again", self._where, exc)
                await asyncio.sleep(min(poll, 1.0))
            finally:
                await conn.close()

    # -- ephemeral events between relay processes (relay/bus.py StoreBus): NOTIFY, never stored -------------------

    async def notify_ephemeral(self, payload: str) -> None:
        """Send ``payload`` (ephemeral events' JSON, at most :data:`NOTIFY_MAX_BYTES` bytes) on
        :data:`EPHEMERAL_CHANNEL`, from the primary. Raises StoreError."""
        await self._read(lambda conn: conn.execute("SELECT pg_notify(%s, %s)", (EPHEMERAL_CHANNEL, payload)),
                         primary=True)  # fmt: skip

    async def watch_ephemeral(self, *, retry: float = WATCH_POLL) -> AsyncGenerator[bytes, None]:
        """Yield each payload sent on :data:`EPHEMERAL_CHANNEL` by any process (this one's too), on a listening
        connection of its own, reconnecting when it is lost (what was sent meanwhile is lost: ephemeral events
        are best effort). Runs until the caller stops iterating."""
        while not self._closed:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name=WATCH_NAME
                )
            except psycopg.Error as exc:
                log.warning("cannot listen for ephemeral events at %s: %s; retrying", self._where, describe(exc))
                await asyncio.sleep(retry)
                continue
            try:
                await conn.execute(f"LISTEN {EPHEMERAL_CHANNEL}")
                async for note in conn.notifies():
                    yield note.payload.encode()
            except psycopg.OperationalError as exc:
                log.warning("lost the ephemeral events of %s: %s; listening again", self._where, describe(exc))
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
