"""The verifier thread: signatures checked off the event loop, in batches, each caller getting its own answer."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from relay_helpers import client, event_message, make_event, recv_json

from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.errors import LocalProtocolError
from samizdat.relay.connection import BAD_SIGNATURE
from samizdat.relay.verifier import Verifier
from samizdat.testing import running_relay


def forged(event: Event, other: SecretKey) -> Event:
    """``event`` with a signature by someone else (valid shape, wrong signer)."""
    return dataclasses.replace(event, sig=make_event(other, 1, "x").sig)


async def test_each_caller_gets_its_own_answer(key: SecretKey) -> None:
    other = SecretKey.generate()
    events = [make_event(key, 1, f"n {i}") for i in range(300)]
    events = [forged(ev, other) if i % 3 == 0 else ev for i, ev in enumerate(events)]
    verifier = Verifier(batch_max=16)
    try:
        results = await asyncio.wait_for(asyncio.gather(*(verifier.verify(ev) for ev in events)), 10)
    finally:
        verifier.close()
    assert results == [i % 3 != 0 for i in range(300)]
    assert verifier.checked == 300
    assert verifier.batches >= 300 // 16  # batched, never more than batch_max at once


async def test_close_finishes_what_is_queued_and_a_closed_verifier_starts_again(key: SecretKey) -> None:
    verifier = Verifier()
    pending = [verifier.verify(make_event(key, 1, f"n {i}")) for i in range(50)]
    verifier.close()
    verifier.close()  # idempotent
    assert await asyncio.wait_for(asyncio.gather(*pending), 10) == [True] * 50
    assert await asyncio.wait_for(verifier.verify(make_event(key)), 10) is True
    verifier.close()


def test_batch_max_must_be_positive() -> None:
    with pytest.raises(LocalProtocolError, match="batch_max"):
        Verifier(batch_max=0)


async def test_relay_checks_signatures_in_the_thread(tmp_path: Path, key: SecretKey) -> None:
    other = SecretKey.generate()
    events = [make_event(key, 1, f"burst {i}") for i in range(200)]
    sent = [forged(ev, other) if i % 4 == 0 else ev for i, ev in enumerate(events)]
    async with running_relay(tmp_path, verify_in_thread=True) as running:
        relay, url = running.server, running.url
        async with client(url) as watcher, client(url) as ws:
            await watcher.send('["REQ","all",{"kinds":[1]}]')
            assert await recv_json(watcher) == ["EOSE", "all"]
            for ev in sent:  # all in flight at once
                await ws.send(event_message(ev))
            oks: dict[str, list[Any]] = {}
            async with asyncio.timeout(20):
                while len(oks) < len(sent):
                    message = await recv_json(ws)
                    assert message[0] == "OK"
                    oks[message[1]] = message
            for i, ev in enumerate(sent):
                expected = [False, BAD_SIGNATURE] if i % 4 == 0 else [True, ""]
                assert oks[ev.id][2:] == expected
            good = {ev.id for i, ev in enumerate(sent) if i % 4}
            live = {(await recv_json(watcher))[2]["id"] for _ in good}
            assert live == good  # subscribers never see a forged event
            await ws.send('["COUNT","n",{}]')
            assert await recv_json(ws) == ["COUNT", "n", {"count": len(good)}]
        assert relay.verifier.checked == len(sent)


async def test_a_batch_gets_one_answer_per_event_in_order(key: SecretKey) -> None:
    other = SecretKey.generate()
    events = [make_event(key, 1, f"b {i}") for i in range(40)]
    events = [forged(ev, other) if i % 5 == 2 else ev for i, ev in enumerate(events)]
    verifier = Verifier(batch_max=16)
    try:
        first, second, single = await asyncio.wait_for(
            asyncio.gather(verifier.verify_many(events[:25]), verifier.verify_many(events[25:]),
                           verifier.verify(events[2])), 10)  # fmt: skip
    finally:
        verifier.close()
    assert first + second == [i % 5 != 2 for i in range(40)]
    assert single is False
    assert verifier.checked == 41


async def test_while_one_batch_is_written_the_next_is_checked_and_order_holds(tmp_path: Path, key: SecretKey) -> None:
    """With the check in the thread, the intake checks a batch while the one before it is written
    (relay/ingest.py, ``overlap``): each sender still gets its OKs, and subscribers the events, in the order
    sent, and a forged event is answered in its place."""
    other = SecretKey.generate()
    senders = 4
    sent = [[make_event(key, 1, f"s{s} e{i}") for i in range(600)] for s in range(senders)]
    sent = [[forged(ev, other) if i % 97 == 5 else ev for i, ev in enumerate(evs)] for evs in sent]
    async with running_relay(tmp_path, verify_in_thread=True) as running:
        relay, url = running.server, running.url
        async with client(url) as watcher:
            await watcher.send('["REQ","all",{"kinds":[1]}]')
            assert await recv_json(watcher) == ["EOSE", "all"]

            async def send_all(events: list[Event]) -> list[list[Any]]:
                async with client(url) as ws:
                    for ev in events:
                        await ws.send(event_message(ev))
                    return [await recv_json(ws) for _ in events]

            async with asyncio.timeout(60):
                answers = await asyncio.gather(*(send_all(evs) for evs in sent))
                good = [ev for evs in sent for i, ev in enumerate(evs) if i % 97 != 5]
                live = [(await recv_json(watcher))[2]["id"] for _ in good]
        for evs, oks in zip(sent, answers, strict=True):
            assert [ok[1] for ok in oks] == [ev.id for ev in evs]
            assert [ok[2] for ok in oks] == [i % 97 != 5 for i in range(len(evs))]
        for evs in sent:
            mine = {ev.id for i, ev in enumerate(evs) if i % 97 != 5}
            assert [x for x in live if x in mine] == [ev.id for i, ev in enumerate(evs) if i % 97 != 5]
        assert relay.intake.overlapped > 0  # the case this test is about did happen


def test_the_node_checks_in_a_thread_when_a_core_is_spare_or_as_configured(tmp_path: Path) -> None:
    from samizdat.config import load_config
    from samizdat.errors import UsageError
    from samizdat.web.serving import verify_in_thread

    cores = len(os.sched_getaffinity(0))
    assert verify_in_thread(None, 1) is (cores > 2)
    assert verify_in_thread(None, cores - 1) is False  # the writer threads have the core left: none for this one
    assert verify_in_thread(True, cores) is True
    assert verify_in_thread(False, 1) is False
    (tmp_path / "config.toml").write_text("[relay]\nverify_in_thread = false\n")
    assert load_config(tmp_path).verify_in_thread is False
    (tmp_path / "config.toml").write_text('[relay]\nverify_in_thread = "yes"\n')
    with pytest.raises(UsageError, match="verify_in_thread"):
        load_config(tmp_path)
