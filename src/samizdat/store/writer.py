"""The one writer of a SQLite store: a thread that owns the write connection and commits in batches.

Theory of operation (datasette's write thread, with group commit):

* Callers on any event loop put a *job* on a queue and await an asyncio future: an :class:`_AddJob` (events to
  store) or a :class:`_CallJob` (any function of the connection, e.g. a purge). Nothing else touches the write
  connection, so there is never a ``database is locked`` between our own writers.
* The thread takes the first job, then everything else already queued, up to ``batch_max`` events, and runs all
  those add jobs in ONE transaction. Only after ``COMMIT`` returns does it resolve their futures, so ``add``
  returns once the event is durable; and while one batch commits the next one queues up, so many concurrent
  callers share each commit.
* If a batch fails, it is rolled back and its jobs are retried one by one, each in its own transaction, so a job
  that cannot be stored (or a full disk) fails only its own future (with a StoreError) and the thread carries on.
* Futures are resolved with one ``call_soon_threadsafe`` per loop per batch, not one per event.
* :meth:`Writer.stop` queues a stop job: everything queued before it is still written, then the connection is
  optimised and closed (the last connection to close checkpoints the WAL).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future as ThreadFuture
from dataclasses import dataclass, field
from typing import Any, TypeVar

from samizdat.core.event import Event
from samizdat.errors import LocalProtocolError, StoreError
from samizdat.store import queries
from samizdat.store.base import AddOutcome
from samizdat.store.dbapi import sqlite3
from samizdat.store.fastadd import FastAdd

log = logging.getLogger("samizdat.store")

#: Seconds the writer waits for another process's write lock (workers of one store, a command) before failing.
LOCK_WAIT = 5.0

T = TypeVar("T")


@dataclass(slots=True)
class _Job:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _AddJob(_Job):
    events: Sequence[Event] = ()


@dataclass(slots=True)
class _CallJob(_Job):
    fn: Callable[[sqlite3.Connection], Any] = field(default=lambda conn: None)


@dataclass(slots=True)
class _StopJob(_Job):
    pass


def _deliver(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in results:
        if future.done():  # the caller gave up (cancelled); the work is done anyway
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


class Writer:
    """Owns the write connection in a thread. Create, :meth:`start`, submit with :meth:`add`/:meth:`call`,
    then :meth:`stop`.

    ``connect`` opens and prepares the connection (pragmas, migrations) in the writer thread; ``error`` turns
    a ``sqlite3.Error`` and a verb ("write to") into the StoreError callers see; ``fast``, if given, opens the
    store's fast path (store/fastadd.py) in the writer thread after ``connect``, or returns None.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        clock: Callable[[], float],
        batch_max: int,
        error: Callable[[sqlite3.Error, str], StoreError],
        fast: Callable[[], FastAdd | None] | None = None,
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self._connect = connect
        self._clock = clock
        self._batch_max = batch_max
        self._error = error
        self._open_fast = fast
        self.fast: FastAdd | None = None
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="samizdat-store-writer", daemon=True)
        self._ready: ThreadFuture[None] = ThreadFuture()
        self._stopping = False
        self._held: _Job | None = None
        #: Batches committed and events written, for benchmarks and status displays.
        self.batches = 0
        self.events = 0

    async def start(self) -> None:
        """Start the thread and wait until the connection is open and migrated; raise what opening raised."""
        self._thread.start()
        try:
            await asyncio.wrap_future(self._ready)
        except BaseException:
            # Opening failed (the thread has returned) or we were cancelled (it will read this and close).
            self._stopping = True
            loop = asyncio.get_running_loop()
            self._queue.put(_StopJob(loop, loop.create_future()))
            raise

    async def add(self, events: Sequence[Event]) -> list[AddOutcome]:
        """Store ``events`` in one transaction; return their outcomes once committed. Raises StoreError."""
        result: list[AddOutcome] = await self._submit(lambda loop, fut: _AddJob(loop, fut, events))
        return result

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in its own transaction in the writer thread. Raises StoreError."""
        result: T = await self._submit(lambda loop, fut: _CallJob(loop, fut, fn))
        return result

    async def stop(self) -> None:
        """Write everything queued so far, then close the connection and end the thread. Idempotent."""
        if self._stopping:
            return
        self._stopping = True
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put(_StopJob(loop, done))
        await done
        self._thread.join()  # it returns right after resolving ``done``

    async def _submit(self, make: Callable[[asyncio.AbstractEventLoop, asyncio.Future[Any]], _Job]) -> Any:
        if self._stopping:
            raise StoreError("The store is closed.")
        if not self._ready.done():
            raise LocalProtocolError("the store writer was not started (open stores with SqliteStore.open)")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(make(loop, future))
        return await future

    # --- the thread -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # noqa: BLE001 - not swallowed: start() raises it in the caller's loop
            self._ready.set_exception(exc)
            return
        if self._open_fast is not None:
            try:
                self.fast = self._open_fast()
            except OSError as exc:  # the Python way still writes everything
                log.warning("the store's fast path could not be opened (%s); writing through Python", exc)
        self._ready.set_result(None)
        current: list[_Job] = []
        try:
            while True:
                job = self._held or self._queue.get()
                self._held = None
                if isinstance(job, _StopJob):
                    self._close(conn, job)
                    return
                if isinstance(job, _CallJob):
                    current = [job]
                    self._send([self._run_call(conn, job)])
                    continue
                assert isinstance(job, _AddJob)
                batch = self._gather(job)
                current = list(batch)
                self._send(self._run_adds(conn, batch))
        except BaseException:  # pragma: no cover - a bug in this loop: fail every caller rather than hang them
            log.exception("the store writer thread crashed")
            self._crash(conn, current)
            raise

    def _crash(self, conn: sqlite3.Connection, current: list[_Job]) -> None:  # pragma: no cover - see _run
        self._stopping = True
        jobs = [*current, *([self._held] if self._held else [])]
        while True:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        error = StoreError("The store stopped writing after an internal error; see the log.")
        self._send([(job, None, error) for job in jobs])
        self._rollback(conn)
        self._close_fast()
        conn.close()

    def _gather(self, first: _AddJob) -> list[_AddJob]:
        """``first`` and the add jobs queued right behind it, up to ``batch_max`` events."""
        batch, size = [first], len(first.events)
        while size < self._batch_max:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(job, _AddJob):
                self._held = job
                break
            batch.append(job)
            size += len(job.events)
        return batch

    def _run_adds(self, conn: sqlite3.Connection, batch: list[_AddJob]) -> list[tuple[_Job, Any, BaseException | None]]:
        now = int(self._clock())
        try:
            events = [event for job in batch for event in job.events]
            flat = self.fast.add(events, now) if self.fast is not None else None
            if flat is None:  # not all plain, no fast path, or it failed (rolled back): the Python way
                _begin(conn)
                flat = queries.add_events(conn, events, now)
                conn.execute("COMMIT")
            outcomes, start = [], 0
            for job in batch:
                outcomes.append(flat[start : start + len(job.events)])
                start += len(job.events)
        except Exception as exc:  # noqa: BLE001 - the writer thread outlives a failed job; its caller gets the error
            self._rollback(conn)
            if len(batch) == 1:
                return [(batch[0], None, self._map(exc))]
            # Find the culprit: every job again in a transaction of its own.
            return [result for job in batch for result in self._run_adds(conn, [job])]
        self.batches += 1
        self.events += sum(len(job.events) for job in batch)
        return [(job, result, None) for job, result in zip(batch, outcomes, strict=True)]

    def _run_call(self, conn: sqlite3.Connection, job: _CallJob) -> tuple[_Job, Any, BaseException | None]:
        try:
            _begin(conn)
            value = job.fn(conn)
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the writer thread outlives a failed job; its caller gets the error
            self._rollback(conn)
            return (job, None, self._map(exc))
        return (job, value, None)

    def _close_fast(self) -> None:
        """Close the fast path's connection first, so that the writer's is the last of this process to close."""
        if self.fast is not None:
            self.fast.close()
            self.fast = None

    def _close(self, conn: sqlite3.Connection, job: _StopJob) -> None:
        error: BaseException | None = None
        self._close_fast()
        try:
            # Keeps the planner's statistics fresh; analysis_limit bounds the work on stores of millions.
            conn.execute("PRAGMA analysis_limit = 1000")
            conn.execute("PRAGMA optimize")
        except sqlite3.Error as exc:  # a read-only or damaged file: closing must still work
            log.debug("PRAGMA optimize failed: %s", exc)
        try:
            conn.close()
        except sqlite3.Error as exc:
            error = self._map(exc)
        self._send([(job, None, error)])

    def _map(self, exc: Exception) -> BaseException:
        if isinstance(exc, sqlite3.Error):
            mapped = self._error(exc, "write to")
            mapped.__cause__ = exc
            return mapped
        if not isinstance(exc, StoreError):
            log.error("unexpected error in the store writer", exc_info=exc)
        return exc

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning("rollback failed: %s", exc)

    @staticmethod
    def _send(results: list[tuple[_Job, Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for job, value, error in results:
            by_loop.setdefault(job.loop, []).append((job.future, value, error))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, items)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass


def _begin(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting up to :data:`LOCK_WAIT` for another process's write lock.

    Several processes write one file when ``serve --workers N`` runs (samizdat/workers.py): each commit takes the
    lock for a millisecond or so. SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries, long
    after the lock is free; polling every 0.1 to 1 ms hands the lock over within a commit's time instead.
    """
    delay, waited = 0.0001, 0.0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if waited >= LOCK_WAIT or "locked" not in str(exc) and "busy" not in str(exc):
                raise
        time.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.001)
