"""The operator login limiter shared by workers (web/logins.py): two limiters on one file, as two workers, count
one address's attempts and wrong codes together."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from samizdat.relay import shared
from samizdat.web.logins import FILE_NAME, ClusterLoginLimiter, SharedLoginLimiter


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[SharedLoginLimiter, SharedLoginLimiter]]:
    key = secrets.token_bytes(32)
    a = SharedLoginLimiter(tmp_path / FILE_NAME, key, per_minute=3, failures=2, window=600)
    b = SharedLoginLimiter(tmp_path / FILE_NAME, key, per_minute=3, failures=2, window=600)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_attempts_on_either_worker_count_together(workers: tuple[SharedLoginLimiter, SharedLoginLimiter]) -> None:
    a, b = workers
    assert [a.allow("10.0.0.5", 0), b.allow("10.0.0.5", 1), a.allow("10.0.0.5", 2)] == [True, True, True]
    assert not b.allow("10.0.0.5", 3)  # the fourth in a minute, on the other worker
    assert b.allow("10.0.0.6", 3)  # another address is not held up
    assert a.allow("10.0.0.5", 61)  # a minute after the first


def test_wrong_codes_on_one_worker_stop_logins_on_the_other(
    workers: tuple[SharedLoginLimiter, SharedLoginLimiter],
) -> None:
    a, b = workers
    assert a.allow("2001:db8::/64", 0)
    a.failed("2001:db8::/64", 0)
    assert b.allow("2001:db8::/64", 100)
    b.failed("2001:db8::/64", 100)
    assert not a.allow("2001:db8::/64", 200)  # two wrong codes: no more tries for a while, anywhere
    assert not b.allow("2001:db8::/64", 599)
    assert b.allow("2001:db8::/64", 601)  # the first wrong code is ten minutes old


def test_the_cluster_limiter_is_in_memory_alone_and_shared_among_workers(tmp_path: Path) -> None:
    alone = ClusterLoginLimiter(lambda: None)
    assert all(alone.allow("10.0.0.5", 0) for _ in range(20))
    assert not alone.allow("10.0.0.5", 0)
    assert not (tmp_path / FILE_NAME).exists()

    shared.create(tmp_path / "limits", 2)
    key = secrets.token_bytes(32)
    views = [shared.SharedLimits(tmp_path / "limits", i, 2, key) for i in range(2)]
    try:
        first, second = (ClusterLoginLimiter(lambda v=v: v) for v in views)  # type: ignore[misc]
        for i in range(5):
            (first if i % 2 else second).failed("10.0.0.7", 0)
        assert not first.allow("10.0.0.7", 1)
        assert not second.allow("10.0.0.7", 1)
        assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600
    finally:
        for view in views:
            view.close()
