"""The test kit itself (samizdat.testing): bounded waits, the fake clock, a relay and a node that clean up."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from samizdat.core.filters import Filter
from samizdat.errors import StoreError
from samizdat.testing import (
    FakeClock,
    RunningRelay,
    free_port,
    poll_until,
    running_relay,
    test_node,
    timeout_factor,
    wait_until,
)


async def test_the_fake_clock_moves_only_when_told(clock: FakeClock) -> None:
    assert clock() == 1_700_000_000.0
    clock.advance(2.5)
    await clock.sleep(10)
    await clock.sleep(-1)  # like asyncio.sleep: no time passes
    assert clock() == 1_700_000_012.5
    assert clock.sleeps == [10, -1]
    assert FakeClock(1000)() == 1000.0


async def test_wait_until_returns_the_truthy_value_of_a_sync_or_async_predicate() -> None:
    calls: list[int] = []

    def third_time() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    async def ready() -> str:
        return "ready"

    assert await wait_until(third_time, interval=0.001) == 3
    assert await wait_until(ready) == "ready"


async def test_wait_until_times_out_naming_what_and_tries_a_bounded_number_of_times() -> None:
    calls: list[int] = []

    def never() -> bool:
        calls.append(1)
        return False

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^the impossible did not happen within 0.05 s$"):
        await wait_until(never, timeout=0.05, what="the impossible", interval=0.01)
    assert time.monotonic() - started < 2
    assert 2 <= len(calls) <= 0.05 / 0.01 + 2


def test_poll_until_and_the_timeout_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert poll_until(lambda: "x") == "x"
    monkeypatch.setenv("SAMIZDAT_TEST_TIMEOUT_FACTOR", "3")
    assert timeout_factor() == 3
    with pytest.raises(TimeoutError, match="nothing did not happen within 0.03"):
        poll_until(lambda: None, timeout=0.01, what="nothing", interval=0.005)
    monkeypatch.setenv("SAMIZDAT_TEST_TIMEOUT_FACTOR", "fast")
    with pytest.raises(ValueError, match="SAMIZDAT_TEST_TIMEOUT_FACTOR"):
        timeout_factor()
    monkeypatch.setenv("SAMIZDAT_TEST_TIMEOUT_FACTOR", "")
    assert timeout_factor() == 1


def test_free_port_is_free() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


async def test_running_relay_listens_and_cleans_up_even_when_the_body_fails(tmp_path: Path, clock: FakeClock) -> None:
    seen: list[RunningRelay] = []

    async def fail_inside() -> None:
        async with running_relay(tmp_path, clock=clock) as relay, running_relay(tmp_path) as other:
            seen.append(relay)
            assert relay.url == f"ws://127.0.0.1:{relay.port}"
            assert relay.port == relay.server.port != other.port
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5):
                pass
            assert relay.server.clock is clock
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await fail_inside()
    [relay] = seen
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", relay.port), timeout=5).close()
    with pytest.raises(StoreError):
        await relay.store.count([Filter()])


async def test_test_node_opens_a_fresh_data_directory(tmp_path: Path, clock: FakeClock) -> None:
    home = tmp_path / "home"
    async with test_node(home, clock=clock) as node:
        assert (home / "identity.key").exists()
        assert node is not None
    async with test_node(home) as again:  # an existing data directory is reused
        assert again is not None
