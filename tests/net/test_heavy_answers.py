"""A relay whose answers are heavy in memory (events of many short tags: 30 KB of JSON, 340 KB parsed) cannot
make a sync hold them all at once: an answer is read until its events weigh ``reqsync.ANSWER_WEIGHT``, and the
rest is asked for next, in smaller requests. Before, a ``samizdat sync`` from a lying relay that sent 4,000 such
events grew to 1.9 GB (red-team finding); measured after: 415 MB (docs/operating.md). Both ways of syncing are
checked, NIP-77 and plain REQs, against our real relay; the bound is shortened here (the same code, a smaller
number)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.net import reqsync
from samizdat.net.client import RelayClient
from samizdat.net.sync import sync
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.store.base import AddOutcome
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import running_relay

BOUND = 1024 * 1024
COUNT = 120


@pytest.mark.parametrize("method", ["nip77", "req"])
async def test_heavy_answers_are_taken_a_bounded_part_at_a_time(
    tmp_path: Path, local: SqliteStore, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    key = SecretKey.generate()
    tags = [["t", f"{i}"] for i in range(200)]
    heavy = [sign_event(key, 1, f"heavy {i}", tags, created_at=1_700_000_000 + i) for i in range(COUNT)]
    limits = RelayLimits(events_per_second=1e6, events_burst=10**6)
    async with running_relay(tmp_path, limits=limits, negentropy=NegentropyService(min_staleness=0.0)) as relay:
        await relay.store.add_many(heavy)
        await check(relay.url, local, monkeypatch, method, heavy)


async def check(url: str, local: SqliteStore, monkeypatch: pytest.MonkeyPatch, method: str, heavy: list[Event]) -> None:
    monkeypatch.setattr(reqsync, "ANSWER_WEIGHT", BOUND)
    one = reqsync.weight(heavy[0])
    batches: list[int] = []

    async def ingest(events: Sequence[Event]) -> list[AddOutcome]:
        batches.append(sum(reqsync.weight(e) for e in events))
        return await local.add_many(events)

    async with await RelayClient.connect(url, timeout=10) as client:
        report = await sync(client, local, [Filter()], direction="down", ingest=ingest, method=method)
    assert report.method == method
    assert report.received == COUNT  # everything came, however the answers were cut
    assert {e.id for e in await local.query([Filter()])} == {e.id for e in heavy}
    assert len(batches) > 1
    assert max(batches) <= BOUND + one  # never more than the bound (and the event that passed it) at once
