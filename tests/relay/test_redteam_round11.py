"""Red team, round 11 (``docs/scaling.md``): the workers' heartbeat that round 10 built (workers.py ``beat``).

A worker's event loop renews its ready file every second; the parent kills one whose file is 15 s old. A client
that makes the loop stall that long on purpose was not found (the longest stall measured, a whole-store NIP-77
build's seal of 2,000,000 records, held the loop 1.3 s here). What was found: one write of the file that failed
stopped the heartbeat for good.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from samizdat import workers


async def test_a_heartbeat_write_that_fails_once_does_not_stop_the_heartbeat(tmp_path: Path) -> None:
    """Before: any error writing the ready file (out of file descriptors or of space in /dev/shm for a moment) was
    taken for "the parent's directory is gone" and the heartbeat stopped: 15 s later the parent killed the worker,
    which worked, and every client of it was dropped. Now the next beat writes it again."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    flag = runtime / "ready.0"
    blocker = runtime / "ready.0.new"
    blocker.mkdir()  # the next write fails, as it would with no file or space to be had
    try:
        workers.beat(flag)
        assert workers.heard(flag) is None
        blocker.rmdir()
        for _ in range(200):  # bounded: the heartbeat comes back within HEARTBEAT_SECONDS
            if workers.heard(flag) is not None:
                break
            await asyncio.sleep(0.05)
        assert workers.heard(flag) is not None
    finally:
        shutil.rmtree(runtime, ignore_errors=True)  # the parent's directory gone: the heartbeat stops
