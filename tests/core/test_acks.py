"""The ledger of what relays acknowledged: bounded whatever relays do, each loss reported once, none too soon."""

from __future__ import annotations

import os

from samizdat.core.acks import SETTLE, AckLedger


def ids(count: int) -> list[str]:
    return [os.urandom(32).hex() for _ in range(count)]


def test_a_relay_acknowledging_without_end_costs_a_bounded_sample() -> None:
    """100 relays each acknowledging 5,000 events: the ledger keeps the newest of the most recent relays only."""
    ledger = AckLedger(per_relay=100, relays=8)
    last: list[str] = []
    for relay in range(100):
        last = ids(5000)
        ledger.acknowledged(f"wss://r{relay}", last, 0.0)
    assert len(ledger) == 8 * 100
    assert ledger.lost("wss://r99", last, SETTLE) == last[-100:]  # the newest were kept
    assert ledger.lost("wss://r0", last, SETTLE) == []  # forgotten, as the oldest relay


def test_a_loss_is_reported_once_and_not_before_the_relay_had_time_to_store() -> None:
    ledger = AckLedger()
    sent = ids(3)
    ledger.acknowledged("wss://r", sent, 100.0)
    assert ledger.lost("wss://r", sent, 100.0 + SETTLE - 1) == []  # acknowledged just before the sync began
    assert ledger.lost("wss://r", [*ids(2), sent[1]], 100.0 + SETTLE) == [sent[1]]
    assert ledger.lost("wss://r", sent, 100.0 + SETTLE) == [sent[0], sent[2]]
    assert ledger.lost("wss://r", sent, 1e9) == []
    assert ledger.lost("wss://other", sent, 1e9) == []
