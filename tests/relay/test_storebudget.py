"""The per-address budget of store time (relay/storebudget.py), with a fake clock: paced, then refused."""

from __future__ import annotations

import pytest

from samizdat.relay.storebudget import OVER_BUDGET, OverBudget, StoreBudget
from samizdat.testing import FakeClock


def _budget(clock: FakeClock) -> StoreBudget:
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    return StoreBudget(0.5, 2.0, max_wait=10.0, clock=clock, sleep=sleep)


async def test_an_address_within_its_burst_never_waits() -> None:
    clock = FakeClock(1000.0)
    budget = _budget(clock)
    budget.charge("10.0.0.2", 1.5)
    await budget.wait("10.0.0.2")
    assert clock() == 1000.0


async def test_an_address_in_debt_waits_until_it_is_paid_back() -> None:
    clock = FakeClock(1000.0)
    budget = _budget(clock)
    budget.charge("10.0.0.2", 5.0)  # 3 s of debt, paid back at 0.5 s a second
    assert budget.delay("10.0.0.2") == pytest.approx(6.0)
    await budget.wait("10.0.0.2")
    assert clock() == pytest.approx(1006.0)
    assert budget.delay("10.0.0.3") == 0  # another address has its own


async def test_a_debt_longer_than_max_wait_is_refused_with_one_line() -> None:
    clock = FakeClock(1000.0)
    budget = _budget(clock)
    budget.charge("10.0.0.2", 8.0)  # 6 s of debt: 12 s to pay back
    with pytest.raises(OverBudget) as caught:
        await budget.wait("10.0.0.2")
    assert str(caught.value) == OVER_BUDGET
    assert OVER_BUDGET.startswith("rate-limited: ")
    assert budget.refused == 1
    clock.advance(4.0)  # now 8 s: paced again
    await budget.wait("10.0.0.2")


async def test_loopback_is_not_counted() -> None:
    clock = FakeClock(1000.0)
    budget = _budget(clock)
    owner = object()  # the relay's party of a loopback connection is the connection itself
    budget.charge(owner, 100.0)
    await budget.wait(owner)
    assert budget.delay(owner) == 0
    assert budget.charged == 0
