"""Retry delays: exponential backoff with full jitter, capped. Randomness is injected, so tests never sleep."""

from __future__ import annotations

from collections.abc import Callable


def backoff_delay(
    attempts: int, *, base: float = 5.0, cap: float = 3600.0, random: Callable[[], float] = lambda: 1.0
) -> float:
    """Seconds to wait before try number ``attempts + 1``: ``base * 2**attempts`` capped, times a jitter factor.

    ``random`` returns a float in [0, 1); the delay is at least half the exponential step so retries of many
    events to one relay spread out without collapsing to zero.
    """
    step: float = min(cap, base * float(2 ** min(attempts, 30)))
    return step * (0.5 + 0.5 * float(random()))
