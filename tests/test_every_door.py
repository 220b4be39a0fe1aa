"""One set of rules at every door: an event dated in 2100, one of 200 KB and one with 3,000 tags are refused by the
relay, by ``samizdat import``, by sync and by a peer link, with the same words, and an ordinary event gets in.
(Larger events get the same answer from every door but the relay, which closes a connection that sends a message
over 256 KiB before reading it.)

Real parts on loopback: relays, SQLite stores, bundle files. The hostile events come from a permissive relay (one
that applies no limits) or from a bundle, as they would from a careless or hostile node."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.mesh.link import PeerLink
from samizdat.net.client import RelayClient
from samizdat.net.sync import sync
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.store.bundles import export_bundle, import_bundles
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import running_relay, wait_until

KEY = SecretKey(bytes([9]) * 32)
NOW = int(time.time())
HOSTILE = [
    sign_event(KEY, 1, "from the future", [], created_at=4_102_444_800),  # 2100-01-01
    sign_event(KEY, 2333, "x" * 200_000, [["t", "big"]], created_at=NOW - 60),
    sign_event(KEY, 1, "tags", [["t", str(i)] for i in range(3000)], created_at=NOW - 60),
]
ANSWERS = {
    HOSTILE[0].id: "invalid: created_at too far in the future",
    HOSTILE[1].id: "invalid: content longer than 65536 characters",
    HOSTILE[2].id: "invalid: too many tags (3000 > 2000)",
}
#: A relay that stores anything: how a careless or hostile node serves these events.
PERMISSIVE = RelayLimits(max_message_bytes=4 * 1024 * 1024, max_content_length=10**7, max_event_tags=10**5,
                         created_at_future_seconds=10**10)  # fmt: skip
WAIT = 20.0


def ordinary(text: str) -> Event:
    return sign_event(KEY, 1, text, [], created_at=NOW - 30)


async def test_the_relay(tmp_path: Path) -> None:
    async with running_relay(tmp_path) as relay, await RelayClient.connect(relay.url) as client:
        results = await client.publish_many([*HOSTILE, ordinary("fine")])
        assert {r.event_id: r.message for r in results if not r.accepted} == ANSWERS
        assert len(await relay.store.has([e.id for e in HOSTILE])) == 0


async def test_samizdat_import(tmp_path: Path) -> None:
    good = ordinary("fine")
    source = await SqliteStore.open(tmp_path / "source.sqlite")  # a careless node's store holds them all
    target = await SqliteStore.open(tmp_path / "target.sqlite")
    try:
        await source.add_many([*HOSTILE, good])
        exported = await export_bundle(source, tmp_path / "news.smz", created_at=NOW)
        assert exported.events == 4
        report = await import_bundles(exported.files, target.add_many)
        (file,) = report.files
        assert (file.new, file.rejected) == (1, 3)
        assert dict(file.refused) == {answer: 1 for answer in ANSWERS.values()}
        assert report.refused == {answer: 1 for answer in ANSWERS.values()}
        assert "created_at too far in the future" in file.describe()
        assert await target.has([e.id for e in [*HOSTILE, good]]) == {good.id}
    finally:
        await source.close()
        await target.close()


async def test_sync(tmp_path: Path) -> None:
    good = ordinary("fine")
    ours = await SqliteStore.open(tmp_path / "ours.sqlite")
    try:
        async with running_relay(tmp_path, limits=PERMISSIVE, negentropy=NegentropyService()) as remote:
            await remote.store.add_many([*HOSTILE, good])
            async with await RelayClient.connect(remote.url) as client:
                report = await sync(client, ours, [Filter()], direction="down")
        assert (report.received, report.rejected) == (1, 3)
        assert sorted(report.errors) == sorted(f"{i[:12]}: {answer}" for i, answer in ANSWERS.items())
        assert await ours.has([e.id for e in [*HOSTILE, good]]) == {good.id}
    finally:
        await ours.close()


async def test_a_peer_link_reconciling_and_live(tmp_path: Path) -> None:
    before, after = ordinary("before the link"), ordinary("while live")
    ours = await SqliteStore.open(tmp_path / "ours.sqlite")
    local = LocalState(tmp_path / "local.sqlite")
    try:
        async with running_relay(tmp_path, limits=PERMISSIVE, negentropy=NegentropyService()) as peer:
            await peer.store.add_many([HOSTILE[0], before])
            local.add_peer(peer.url, "manual", now=0)
            link = PeerLink(peer.url, ours, local, ours.add_many)
            task = asyncio.create_task(link.run())
            try:
                await wait_until(lambda: link.state == "live", timeout=WAIT, what="the link to go live")
                assert link.last_report is not None
                assert link.last_report.rejected == 1  # the reconciliation's door
                async with await RelayClient.connect(peer.url) as client:  # someone posts to the peer
                    results = await client.publish_many([*HOSTILE[1:], after])
                    assert all(r.accepted for r in results)
                await wait_until(lambda: ours.has([after.id]), timeout=WAIT, what="the live event")
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert await ours.has([e.id for e in [*HOSTILE, before, after]]) == {before.id, after.id}
    finally:
        local.close()
        await ours.close()
