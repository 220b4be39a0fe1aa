"""BIP-340 signature checks off the event loop: one thread, fed in batches.

Theory of operation (the store's writer thread, :mod:`samizdat.store.writer`, applied to verification):

* A signature check costs about 50 µs of C (coincurve), a third of what the relay spends on each incoming
  ``EVENT``; coincurve releases the GIL while it runs, so a thread checks signatures while the event loop parses
  the next messages.
* Callers put ``(events, loop, future)`` on a queue and await the future: :meth:`Verifier.verify` one event,
  :meth:`Verifier.verify_many` a list (the relay's batches, relay/ingest.py: one future for all of them). The
  thread takes the first item, then everything else already queued (up to ``batch_max`` events), checks each,
  and resolves the whole batch with ONE ``call_soon_threadsafe`` per loop, not one per item.
* It pays only where a core is free for it: on two cores, where the store's writer thread already has the second
  core, moving the check here cost ~7% of ingest rate, so :class:`~samizdat.relay.server.RelayServer` uses it only
  with ``verify_in_thread=True``.
* The thread is started on first use and ended by :meth:`Verifier.close`, which lets it finish what is queued.
  A verifier used again after :meth:`~Verifier.close` starts a new thread.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from samizdat.core.event import Event
from samizdat.core.keys import verify_signature
from samizdat.errors import LocalProtocolError

log = logging.getLogger("samizdat.relay")

#: (events, their loop, the future, whether the future wants one bool rather than a list)
_Item = tuple[Sequence[Event], asyncio.AbstractEventLoop, "asyncio.Future[Any]", bool]
_STOP = None


def check(event: Event) -> bool:
    """True when ``event.sig`` is its author's signature of its id (the id itself is assumed checked)."""
    return verify_signature(event.pubkey, event.sig, bytes.fromhex(event.id))


def _check(event: Event) -> bool:
    try:
        return check(event)
    except Exception:  # never leave a caller hanging; a check that cannot run is a failed check
        log.exception("a signature check could not run")  # no event id: it names a post (docs/safety.md)
        return False


def _deliver(results: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, ok in results:
        if not future.done():  # the caller gave up (its connection went away)
            future.set_result(ok)


class Verifier:
    """Checks event signatures in one background thread. :meth:`verify` from any event loop; :meth:`close`."""

    def __init__(self, batch_max: int = 128) -> None:
        if batch_max < 1:
            raise LocalProtocolError("batch_max must be at least 1")
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[_Item | None] | None = None
        self._lock = threading.Lock()
        #: Batches and signatures checked, for benchmarks and status displays.
        self.batches = 0
        self.checked = 0

    def verify(self, event: Event) -> asyncio.Future[bool]:
        """A future that becomes True if ``event``'s signature is valid, False if not. Call on an event loop."""
        return self._put((event,), True)

    def verify_many(self, events: Sequence[Event]) -> asyncio.Future[list[bool]]:
        """A future that becomes, for each of ``events`` in order, whether its signature is valid. Call on an
        event loop."""
        return self._put(events, False)

    def _put(self, events: Sequence[Event], single: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        q = self._queue
        if q is None:
            q = self._start()
        q.put((events, loop, future, single))
        return future

    def close(self) -> None:
        """Let the thread check what is queued, resolve it, and end. Does not wait for it; idempotent."""
        with self._lock:
            q, self._queue = self._queue, None
        if q is not None:
            q.put(_STOP)

    def _start(self) -> queue.SimpleQueue[_Item | None]:
        with self._lock:
            if self._queue is None:
                q: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
                threading.Thread(target=self._run, args=(q,), name="samizdat-verifier", daemon=True).start()
                self._queue = q
            return self._queue

    def _run(self, q: queue.SimpleQueue[_Item | None]) -> None:
        batch_max = self._batch_max
        while True:
            item = q.get()
            batch: list[_Item] = []
            stop = item is _STOP
            size = 0
            if item is not None:
                batch.append(item)
                size = len(item[0])
            while not stop and size < batch_max:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    batch.append(item)
                    size += len(item[0])
            if batch:
                self._check_batch(batch)
            if stop:
                return

    def _check_batch(self, batch: list[_Item]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = defaultdict(list)
        for events, loop, future, single in batch:
            oks = [_check(event) for event in events]
            by_loop[loop].append((future, oks[0] if single else oks))
            self.checked += len(events)
        self.batches += 1
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, results)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass
