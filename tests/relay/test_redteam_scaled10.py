"""Red team, round 10: what round 9 left of a relay on PostgreSQL (docs/scaling.md, "Red team, round 10").

* The writer's statements had no time limit. A transaction of another relay process that stopped mid-write (its
  machine frozen, or cut off from the server, which keeps its session until TCP gives up) held the write lock, and
  an operator's ``CREATE INDEX`` on ``events`` (not ``CONCURRENTLY``) held the table: every client's ``OK`` waited
  with them, for as long as they lasted (a phone's post had no answer after 20 s here). Now every statement of the
  writer has ``pgconn.WRITE_SECONDS`` and the clients of the batch get ``OK false "error: ... try again"``; nothing
  was stored, and the post sent again once the lock is gone is stored.

* NIP-77 builds had one turn per relay process. One address's ``NEG-OPEN`` of the whole store (its builds
  bounded by ``build_seconds``, 10 s) held it, and an honest LAN peer's ``NEG-OPEN`` of one author waited for the
  build to end (each such address ahead of it added as much). Now every build first runs in a quick lane of
  ``quick_seconds`` and, if it did not finish there, again in a slow lane: the peer waits for one quick turn at most.

Real PostgreSQL (samizdat.testing_postgres), real relay and WebSocket clients on loopback, each device on an address
of its own through a trusted balancer's PROXY header (relay/proxied.py).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from relay_helpers import client, make_event, publish, query
from test_proxied import client as proxied
from test_proxied import v1
from test_redteam_scaled9 import TOPICS, _author, _fill, _neg_open, _running_lists

from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.store import pgconn
from samizdat.testing import running_relay, wait_until
from samizdat.testing_postgres import POSTGRES_TEMPLATE, Cluster

WAIT = 20.0  # seconds any single step may take at most on a loaded machine, never a sleep


@pytest.mark.parametrize(
    "hold",
    [
        f"SELECT pg_advisory_xact_lock({pgconn.WRITE_LOCK})",  # another relay process stopped mid-write
        "LOCK TABLE events IN SHARE MODE",  # what an operator's CREATE INDEX (not CONCURRENTLY) holds meanwhile
    ],
    ids=["another-process-stuck", "operator-locks-the-table"],
)
async def test_a_phones_post_is_answered_while_the_store_is_held_and_stored_once_it_is_free(
    tmp_path: Path, postgres_url: str, key: SecretKey, monkeypatch: pytest.MonkeyPatch, hold: str
) -> None:
    monkeypatch.setattr(pgconn, "WRITE_SECONDS", 1.0, raising=False)  # the default (5 s) makes the test slower
    posts = [make_event(key, 1, f"checkpoint {n} is closed", created_at=int(time.time())) for n in range(3)]
    async with running_relay(tmp_path, store_url=postgres_url) as running:
        other = psycopg.connect(postgres_url)
        try:
            other.execute(hold)  # and never commits
            phones = [client(running.url) for _ in posts]
            async with phones[0] as a, phones[1] as b, phones[2] as c:
                # Three phones post at once: one batch of the writer, all held.
                oks = await asyncio.wait_for(
                    asyncio.gather(*(publish(ws, post) for ws, post in zip((a, b, c), posts, strict=True))), WAIT
                )
                # Each is told, in one sentence, that its post was not stored (before: no OK at all, for as long
                # as the lock was held).
                for ok in oks:
                    assert ok[2] is False, ok
                    assert ok[3].startswith("error: "), ok
                    assert "try again" in ok[3], ok
                    assert "postgresql://" not in ok[3], ok  # the store's address is the operator's, not theirs
        finally:
            other.rollback()
            other.close()
        async with client(running.url) as phone:
            assert await query(phone, "before", {"ids": [post.id for post in posts]}) == []  # nothing half-stored
            for post in posts:  # sent again, now that the store is free: stored
                ok = await asyncio.wait_for(publish(phone, post), WAIT)
                assert ok[2] is True, ok
            found = await query(phone, "after", {"ids": [post.id for post in posts]})
            assert sorted(event["id"] for event in found) == sorted(post.id for post in posts)


_scratch = itertools.count(1)


@pytest.fixture
def big_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A new database of 400,000 events (test_redteam_scaled9's), dropped afterwards."""
    name = f"redteam_scaled10_{next(_scratch)}"
    url = postgres_cluster.create_database(name, template=POSTGRES_TEMPLATE)
    try:
        _fill(url)
        yield url
    finally:
        postgres_cluster.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_an_honest_peers_sync_is_not_held_behind_one_addresss_build_of_the_whole_store(
    tmp_path: Path, big_url: str
) -> None:
    service = NegentropyService()
    service.build_seconds = 60.0  # the hostile builds run to their end: what an honest peer waits for is measured
    service.quick_seconds = 0.2
    limits = RelayLimits(trusted_proxies=("127.0.0.1/32",))
    async with running_relay(tmp_path, store_url=big_url, limits=limits, negentropy=service) as running:
        async with (
            proxied(running.port, v1("10.0.0.1")) as first,
            proxied(running.port, v1("10.0.0.1")) as second,
            proxied(running.port, v1("10.9.9.9")) as peer,
        ):
            # One device, two connections: each asks for every topic of the store (a different filter each: no
            # shared build), 400,000 events sorted.
            for number, device in enumerate((first, second), 1):
                await device.send(_neg_open("all", {"#t": TOPICS, "since": 1_600_000_000 + number}))
            await wait_until(lambda: _running_lists(big_url) > 0, timeout=WAIT, what="a build reads the store")
            # A LAN peer syncs one channel's author meanwhile.
            await peer.send(_neg_open("channel", {"authors": [_author(7)], "kinds": [1]}))

            async def reply(device: Any) -> list[Any]:
                return list(orjson.loads(await asyncio.wait_for(device.recv(), 120)))

            hostile = [asyncio.ensure_future(reply(device)) for device in (first, second)]
            honest = asyncio.ensure_future(reply(peer))
            try:
                done, _ = await asyncio.wait([honest, *hostile], return_when=asyncio.FIRST_COMPLETED)
                # The peer is answered first (before, it waited until the device's first build had ended: the
                # one build turn was the device's for as long as that took).
                assert honest in done, [task.result() for task in done]
                assert honest.result()[:2] == ["NEG-MSG", "channel"], honest.result()
                # The device's builds go on in the slow lane, to their end: it syncs the whole store (its second one
                # may be refused for memory, its address holding its share already).
                answers = [await task for task in hostile]
                assert ["NEG-MSG", "all"] in [answer[:2] for answer in answers], answers
                for answer in answers:
                    assert answer[0] == "NEG-MSG" or answer[2].startswith("blocked: "), answer
            finally:
                for task in (honest, *hostile):
                    task.cancel()
                await asyncio.gather(honest, *hostile, return_exceptions=True)
