"""The operator login limiter shared by the workers of ``serve --workers N``.

Theory of operation
-------------------

:class:`~samizdat.web.operator.LoginLimiter` keeps, per address, the times of the last minute's login attempts and
of the wrong codes of the last ``window`` seconds, in one process's memory. With workers each would keep its own,
and a guesser whose connections the kernel spreads over N workers would get N times the tries. So with workers
the same times are kept in a small file all workers map (:class:`SharedLoginLimiter`, next to the shared
connection counts of :mod:`samizdat.relay.shared`, in the parent's private directory, never in the data
directory: no address is written to the node's disk), changed under an ``flock`` (a login is rare: a system call
per attempt costs nothing).

The file is a table of :data:`SLOTS` slots; an address goes to the slot a keyed hash chooses, and the slot keeps
the hash (a tag), ``per_minute`` attempt times and ``failures`` failure times (each a ring: the oldest is
overwritten). An address whose slot holds another address's tag takes it over with empty times: the table
forgets, as the in-memory limiter forgets its oldest addresses past ``MAX_TRACKED``; the hash's secret key keeps an
attacker from choosing whose slot their addresses take. :class:`ClusterLoginLimiter` is what the web app is given:
the in-memory limiter while the relay is alone, the shared file once it is one of several workers.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path

from samizdat.relay.shared import Flock, SharedLimits
from samizdat.web.operator import FAILURE_WINDOW, FAILURES_ALLOWED, LOGINS_PER_MINUTE, LoginLimiter

#: Addresses the shared table holds at once.
SLOTS = 4096
FILE_NAME = "logins"


class SharedLoginLimiter(LoginLimiter):
    """:class:`LoginLimiter`'s rules on a file several processes map (created, if missing, by the first)."""

    def __init__(
        self,
        path: Path,
        key: bytes,
        *,
        per_minute: int = LOGINS_PER_MINUTE,
        failures: int = FAILURES_ALLOWED,
        window: float = FAILURE_WINDOW,
    ) -> None:
        super().__init__(per_minute=per_minute, failures=failures, window=window, tracked=SLOTS)
        self.key = key
        self._slot_bytes = 8 + 8 * (per_minute + failures)
        size = SLOTS * self._slot_bytes
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with Flock(self._fd):
                if os.fstat(self._fd).st_size < size:
                    os.ftruncate(self._fd, size)
            self._map = mmap.mmap(self._fd, size)
        except BaseException:
            os.close(self._fd)
            raise

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    def _slot(self, who: str) -> tuple[int, bytes]:
        digest = hashlib.blake2b(who.encode(), key=self.key, digest_size=16).digest()
        tag = digest[8:] if digest[8:] != bytes(8) else b"\x01" + bytes(7)  # never the empty slot's tag
        return int.from_bytes(digest[:8], "little") % SLOTS * self._slot_bytes, tag

    def _slot_times(self, offset: int, who_tag: bytes) -> tuple[list[float], list[float]]:
        """The slot's attempt and failure times (the slot taken over, empty, if it held another address)."""
        view = self._map
        count = self.per_minute + self.failures
        if view[offset : offset + 8] != who_tag:
            view[offset : offset + 8] = who_tag
            struct.pack_into(f"{count}d", view, offset + 8, *([-math.inf] * count))  # no times yet
        values = struct.unpack_from(f"{count}d", view, offset + 8)
        return list(values[: self.per_minute]), list(values[self.per_minute :])

    def _store(self, offset: int, attempts: list[float], failed: list[float]) -> None:
        struct.pack_into(f"{self.per_minute + self.failures}d", self._map, offset + 8, *attempts, *failed)

    def allow(self, who: str, now: float) -> bool:
        offset, tag = self._slot(who)
        with Flock(self._fd):
            attempts, failed = self._slot_times(offset, tag)
            recent = sum(1 for t in attempts if t > now - 60)
            wrong = sum(1 for t in failed if t > now - self.window)
            if recent >= self.per_minute or wrong >= self.failures:
                return False
            attempts[attempts.index(min(attempts))] = now  # the oldest (or an empty one) makes room
            self._store(offset, attempts, failed)
        return True

    def failed(self, who: str, now: float) -> None:
        offset, tag = self._slot(who)
        with Flock(self._fd):
            attempts, failed = self._slot_times(offset, tag)
            failed[failed.index(min(failed))] = now
            self._store(offset, attempts, failed)


class ClusterLoginLimiter(LoginLimiter):
    """The web app's limiter: in this process's memory while ``shared()`` is None (one relay process), else in
    the file next to the workers' shared limits (the workers' parent makes that directory and removes it)."""

    def __init__(self, shared: Callable[[], SharedLimits | None]) -> None:
        super().__init__()
        self.shared = shared
        self._file: SharedLoginLimiter | None = None

    def _pick(self) -> LoginLimiter | None:
        if self._file is None:
            limits = self.shared()
            if limits is None:
                return None
            self._file = SharedLoginLimiter(limits.path.with_name(FILE_NAME), limits.key)
        return self._file

    def allow(self, who: str, now: float) -> bool:
        shared = self._pick()
        return super().allow(who, now) if shared is None else shared.allow(who, now)

    def failed(self, who: str, now: float) -> None:
        shared = self._pick()
        if shared is None:
            super().failed(who, now)
        else:
            shared.failed(who, now)
