"""Red team, round 8: the words of a server the node connects to. A relay run by the police answers the node's posts
with ``OK false`` and a refusal of its own writing, closes requests and sync sessions with reasons of its own: 4 MB
of them each time, or a few lines carrying terminal escape sequences. The node keeps and shows a relay's words as
one short line without control characters (``net/client.py``: ``relay_text``); what it keeps of 4 MB answers to a
batch of posts stays small. Real WebSocket servers on loopback play the relay; every wait is bounded by ``WAIT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import tracemalloc
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from net_helpers import SETTLE, frame
from websockets.asyncio.server import ServerConnection, serve

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.kinds import PEER_SUBSCRIPTION
from samizdat.errors import RemoteProtocolError
from samizdat.mesh.link import PeerLink
from samizdat.net import sync as netsync
from samizdat.net.client import RelayClient
from samizdat.net.outbox import deliver_due
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import wait_until

WAIT = 20.0
MB = 1024 * 1024
NOW = time.time()
#: A refusal that, printed by `samizdat status` or `samizdat sync`, sets the terminal's title, clears the screen and
#: writes the police's text on lines of its own, hiding its end behind a right-to-left override.
SCARE = (
    "blocked: \x1b]0;samizdat\x07\x1b[2J\x1b[H\x1b[31mYour channel key was seized.\x1b[0m\n"
    "To keep your readers, run: samizdat keys export --to https://help.example\r\n\u202eevil\x9b"
)
#: The same, padded to a frame of 4 MB (the most the node's client reads).
HUGE = SCARE + "A" * (4 * MB - 1000)

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def hostile(handler: Handler) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, close_timeout=1, max_size=8 * MB, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


def refusing(words: str) -> Handler:
    """A relay that answers NEG-OPEN with "I have nothing" (so the node uploads), a REQ with ``CLOSED`` and every
    EVENT with ``OK false`` and ``words``."""

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] in ("NEG-OPEN", "NEG-MSG"):
                await ws.send(frame("NEG-MSG", message[1], SETTLE.hex()))
            elif message[0] == "REQ":
                await ws.send(frame("CLOSED", message[1], words))
            elif message[0] == "EVENT" and isinstance(message[1], dict):
                await ws.send(frame("OK", message[1].get("id"), False, words))

    return handler


def shown_as_one_line(text: str) -> None:
    """What a terminal, the log or the phone may show of a relay's words: one short line, nothing it executes."""
    assert len(text) <= 600, len(text)
    assert not [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf")], repr(text[:200])


async def drain(answer: AsyncIterator[object]) -> None:
    async for _ in answer:
        pass


def posts(count: int) -> list[Event]:
    key = SecretKey.generate()
    return [sign_event(key, 1, f"post {i}", [], created_at=int(NOW) - 100 + i) for i in range(count)]


async def test_refusals_of_megabytes_are_kept_as_a_short_line() -> None:
    """40 posts, each refused with 4 MB of words: before, the answers held 356 MB (the outbox sends up to
    500 at once); now what is held is the few frames in flight, about 20 MB."""
    events = posts(40)
    async with hostile(refusing(HUGE)) as url:
        client = await RelayClient.connect(url, timeout=WAIT)
        try:
            gc.collect()
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                results = await client.publish_many(events, timeout=WAIT)
                gc.collect()
                held = tracemalloc.get_traced_memory()[0] - base
            finally:
                tracemalloc.stop()
        finally:
            await client.close()
    assert len(results) == 40
    assert all(not r.accepted and r.prefix == "blocked" for r in results)  # the refusal still counts as one
    assert held < 48 * MB, held
    for result in results:
        shown_as_one_line(result.message)


async def test_a_refusal_in_the_outbox_cannot_write_to_the_terminal(tmp_path: Path) -> None:
    """The outbox keeps a relay's last words for `samizdat status` ("last error: ...") and logs them."""
    store = await SqliteStore.open(tmp_path / "events.sqlite", clock=lambda: NOW)
    local = LocalState(tmp_path / "local.sqlite")
    try:
        async with hostile(refusing(SCARE)) as url:
            for event in posts(3):
                assert (await store.add(event)).accepted
                local.enqueue(event.id, [url], NOW)
            report = await deliver_due(
                local, store, lambda u: RelayClient.connect(u, timeout=WAIT), now=NOW, timeout=WAIT
            )
        assert report.failed == 3  # "blocked:" is a final refusal, as before
        rows = local.outbox()
        assert len(rows) == 3
        for row in rows:
            assert row.state == "failed"
            assert row.last_message.startswith("blocked: ")
            assert "Your channel key was seized." in row.last_message  # the words stay readable
            shown_as_one_line(row.last_message)
    finally:
        local.close()
        await store.close()


@pytest.mark.parametrize("words", [SCARE, HUGE], ids=["escapes", "4MB"])
async def test_a_sync_refused_in_the_relays_words_reports_one_line(local: SqliteStore, words: str) -> None:
    """`samizdat sync` prints the report's errors, one a line; a refused upload carries the relay's words."""
    for event in posts(3):
        assert (await local.add(event)).accepted
    async with hostile(refusing(words)) as url:
        client = await RelayClient.connect(url, timeout=WAIT)
        try:
            async with asyncio.timeout(WAIT):
                report = await netsync.sync(client, local, [Filter()], direction="up", method="nip77", pacing=None)
        finally:
            await client.close()
    assert report.have == 3
    assert report.rejected == 3
    assert report.errors
    for line in report.errors:
        shown_as_one_line(line)


@pytest.mark.parametrize("kind", ["NEG-ERR", "CLOSED"])
async def test_a_sync_session_closed_in_the_relays_words_fails_in_one_line(local: SqliteStore, kind: str) -> None:
    """The error a failed sync shows (the command's one sentence, the status page's last error)."""

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "NEG-OPEN":
                await ws.send(frame(kind, message[1], HUGE))

    for event in posts(2):
        assert (await local.add(event)).accepted
    async with hostile(handler) as url:
        client = await RelayClient.connect(url, timeout=WAIT)
        try:
            with pytest.raises(RemoteProtocolError) as caught:
                async with asyncio.timeout(WAIT):
                    await netsync.sync(client, local, [Filter()], direction="both", method="nip77", pacing=None)
        finally:
            await client.close()
    assert "refused to sync: blocked: " in str(caught.value)
    shown_as_one_line(str(caught.value))


async def test_a_request_closed_in_the_relays_words_fails_in_one_line() -> None:
    async with hostile(refusing(HUGE)) as url:
        client = await RelayClient.connect(url, timeout=WAIT)
        try:
            with pytest.raises(RemoteProtocolError) as caught:
                await asyncio.wait_for(drain(client.stored([{"kinds": [1]}], max_messages=10, timeout=WAIT)), WAIT)
        finally:
            await client.close()
    assert "closed the request: blocked: " in str(caught.value)
    shown_as_one_line(str(caught.value))


async def test_a_lan_peer_ending_the_link_in_its_words_shows_one_line_in_samizdat_peers(
    local: SqliteStore, tmp_path: Path
) -> None:
    """A device on the Wi-Fi takes the node's link and ends its live subscription with ``CLOSED`` and the relay's
    words: `samizdat peers` shows them as the peer's "last error"."""

    async def handler(ws: ServerConnection) -> None:
        live = ""
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "REQ" and str(message[1]).startswith(PEER_SUBSCRIPTION):
                live = message[1]
            elif message[0] == "NEG-OPEN":  # the link's reconciliation, over at once; then the live one ends
                await ws.send(frame("NEG-MSG", message[1], SETTLE.hex()))
                await ws.send(frame("CLOSED", live, SCARE))

    state = LocalState(tmp_path / "local.sqlite")
    try:
        async with hostile(handler) as url:
            state.add_peer(url, "manual", now=0)
            link = PeerLink(url, local, state, local.add_many)
            task = asyncio.create_task(link.run())
            try:
                await wait_until(lambda: link.failures >= 1, timeout=WAIT, what="the link to end with the peer")
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        row = state.peer(url)
        assert row is not None
        assert "Your channel key was seized." in row.last_error
        shown_as_one_line(row.last_error)
    finally:
        state.close()
