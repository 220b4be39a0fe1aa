"""Log lines about peers, at most one a minute of each kind in all.

A device on the Wi-Fi can make the node keep 64 links to made-up peers that fail, or reconcile and hang up, every
second or two: a line for each ("link to ... failed", "synced with ...") would be a few lines a second for as
long as it likes, burying what the operator needs to see and filling the disk of a node whose log is kept. So a
kind of line about a peer is written at most once every :data:`SAY_EVERY` seconds, whichever peer it is about,
and the next one written says how many were left out meanwhile.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

#: Seconds between two log lines of one kind about peers.
SAY_EVERY = 60.0


class Say:
    """Writes to ``logger`` at most one line of each kind every ``every`` seconds of ``clock``; kinds are the
    caller's fixed strings (a few), so what is kept is bounded."""

    def __init__(
        self, logger: logging.Logger, clock: Callable[[], float] = time.monotonic, every: float = SAY_EVERY
    ) -> None:
        self.logger = logger
        self.clock = clock
        self.every = every
        self._said: dict[str, float] = {}  # kind -> when last written
        self._left: dict[str, int] = {}  # kind -> lines left out since

    def __call__(self, kind: str, message: str, *args: object, level: int = logging.INFO) -> bool:
        """Write ``message % args`` unless a line of ``kind`` was written less than ``every`` seconds ago (then
        it is counted). Returns whether it was written."""
        now = self.clock()
        if now - self._said.get(kind, -math.inf) < self.every:
            self._left[kind] = self._left.get(kind, 0) + 1
            return False
        self._said[kind] = now
        left = self._left.pop(kind, 0)
        if left:
            self.logger.log(level, f"{message} (and %d more like it left out since the last)", *args, left)
        else:
            self.logger.log(level, message, *args)
        return True
