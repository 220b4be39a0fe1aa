"""Posts that vanish from a relay later, on loopback with a fake clock: a write relay the node never syncs with
accepts posts, serves them when first asked back, and weeks later its operator deletes them (pressured to, or by
its own expiry rules). The serving node's outbox loop used to ask once, a minute after the ``OK``, and then count
the posts as delivered there for ever. Now it asks each relay again every few hours for some of the posts it
accepted, across restarts, and what is gone is lost there, sent to the other relays and once back to that relay.
An honest relay is never marked, and an unreachable one is not marked while it cannot be asked."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from samizdat.cli.status import status_text
from samizdat.core.channel import Channel, build_channel_event, parse_channel
from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.filters import matches_any, parse_filter
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.errors import TransportError
from samizdat.net.client import RelayClient
from samizdat.net.failover import Routing
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import publishing, relay_health, status
from samizdat.services.context import Context
from samizdat.services.upkeep import Upkeep
from samizdat.testing import FakeClock, free_port, poll_until, running_relay, test_node, wait_until

WAIT = 20.0  # seconds: the bound on every wait in this module
NOW = float(int(time.time()))  # near the real time: the honest relay checks created_at against its own
RECHECK_EVERY = 6 * 3600.0  # relay_health.RECHECK_EVERY: written out, so that this module fails on code without it
RECHECK_RETRY = 3600.0  # relay_health.RECHECK_RETRY
CHECK_BATCH = 100  # relay_health.CHECK_BATCH


class Pressured:
    """A write relay that keeps what it is sent and serves it by id, until :meth:`purge`: then everything it held
    is gone, and what it is sent afterwards is answered ``OK true`` and dropped (the operator's new rule)."""

    def __init__(self) -> None:
        self.kept: dict[str, dict[str, object]] = {}
        self.received: Counter[str] = Counter()  # EVENTs sent to it, by id
        self.asked: list[list[str]] = []  # the ids of each REQ, in order
        self.dropping = False
        self.closing = False  # REQs answered with CLOSED: only readers who authenticate are served
        self.closed = 0

    def purge(self) -> None:
        self.kept.clear()
        self.dropping = True

    async def __call__(self, ws: ServerConnection) -> None:
        async for raw in ws:
            await self._answer(ws, orjson.loads(raw))

    async def _answer(self, ws: ServerConnection, message: list[Any]) -> None:
        if message[0] == "EVENT":
            event_id = message[1]["id"]
            self.received[event_id] += 1
            if not self.dropping:
                self.kept[event_id] = message[1]
            await ws.send(orjson.dumps(["OK", event_id, True, ""]).decode())
        elif message[0] == "REQ":
            wanted = [i for f in message[2:] for i in f.get("ids", [])]
            self.asked.append(wanted)
            if self.closing:
                self.closed += 1
                await ws.send(orjson.dumps(["CLOSED", message[1], "auth-required: readers log in"]).decode())
                return
            for event_id in [i for i in wanted if i in self.kept]:
                await ws.send(orjson.dumps(["EVENT", message[1], self.kept[event_id]]).decode())
            await ws.send(orjson.dumps(["EOSE", message[1]]).decode())


def url_of(server: Server) -> str:
    return f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"


def with_writers(ctx: Context, *relays: str) -> Context:
    return dataclasses.replace(ctx, config=ctx.config.with_overrides(write_relays=relays))


@asynccontextmanager
async def outbox_loop(ctx: Context) -> AsyncIterator[None]:
    looping = asyncio.ensure_future(Upkeep(ctx).outbox_loop())
    try:
        yield
    finally:
        looping.cancel()
        await asyncio.gather(looping, return_exceptions=True)


def rows(ctx: Context, relay: str, state: str) -> set[str]:
    return {row.event_id for row in ctx.local.outbox([state]) if row.relay == relay}


async def publish(ctx: Context, count: int) -> list[Event]:
    events = [sign_event(ctx.key, 1, f"ours {i}", created_at=int(NOW) - 60 + i) for i in range(count)]
    await publishing.publish(ctx, events, [])
    return events


def first_checked(ctx: Context, relay: str, events: list[Event]) -> bool:
    """Every post accepted by ``relay`` and asked back from it once."""
    return rows(ctx, relay, "accepted") == {e.id for e in events} and not ctx.local.to_check(float("inf"))


def asked_more(relay: Pressured, than: int) -> Callable[[], bool]:
    return lambda: len(relay.asked) > than


async def relay_status(ctx: Context, url: str) -> dict[str, object]:
    return {r["url"]: r for r in (await status.document(ctx))["relays"]}[url]  # type: ignore[no-any-return]


async def test_a_relay_that_deletes_posts_later_is_caught_and_they_go_elsewhere(tmp_path: Path) -> None:
    """The write relay serves the posts when first asked, then deletes them; the other write relay had been
    unreachable so long that the outbox gave up on it. Six hours on, the re-check finds them gone: they are lost
    there, sent to the other relay after all and once more to this one (which drops them again and keeps them
    lost), and the status says the relay loses what it accepts."""
    clock = FakeClock(NOW)
    pressured = Pressured()
    async with (
        serve(pressured, "127.0.0.1", 0, close_timeout=1) as server,
        running_relay(tmp_path / "write", negentropy=NegentropyService()) as honest,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        writer = url_of(server)
        ctx = with_writers(node.ctx, writer, honest.url)
        events = await publish(ctx, 3)
        for event in events:  # the other relay was blocked for a day: the outbox gave up on it
            ctx.local.record_attempt(event.id, honest.url, accepted=False, message="error: connection refused",
                                     final=True, next_attempt=NOW)  # fmt: skip
        async with outbox_loop(ctx):
            await wait_until(lambda: first_checked(ctx, writer, events), timeout=WAIT, what="the first check")
            pressured.purge()  # weeks later, in real life: the operator was told to
            clock.advance(RECHECK_EVERY)
            await wait_until(lambda: rows(ctx, writer, "lost") == {e.id for e in events}, timeout=WAIT,
                             what="the posts found gone, sent back once and lost again")  # fmt: skip
            await wait_until(lambda: rows(ctx, honest.url, "accepted") == {e.id for e in events}, timeout=WAIT,
                             what="the posts delivered to the other relay")  # fmt: skip

        for event in events:
            assert await honest.store.get(event.id) == event
        assert pressured.received == {e.id: 2 for e in events}  # the first time, and back once
        doc = await status.document(ctx, detail=True)
        relay = {r["url"]: r for r in doc["relays"]}[writer]
        assert (relay["delivered"], relay["lost"]) == (0, 3)
        assert relay["losing_since"] is not None
        assert "loses what it accepts" in status_text(doc, now=clock.now)
        assert (await relay_status(ctx, honest.url))["losing_since"] is None


async def test_a_relay_that_keeps_everything_is_asked_in_turn_and_never_marked(tmp_path: Path) -> None:
    """An honest write relay with more posts than one re-check asks for: each round asks at most CHECK_BATCH of
    them, those asked least recently first (so the next round asks the rest), one round per relay every six hours,
    and after many rounds the relay is not said to lose anything."""
    clock = FakeClock(NOW)
    keeper = Pressured()
    async with (
        serve(keeper, "127.0.0.1", 0, close_timeout=1) as server,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        url = url_of(server)
        ctx = with_writers(node.ctx, url)
        events = await publish(ctx, CHECK_BATCH + 30)
        async with outbox_loop(ctx):
            await wait_until(lambda: first_checked(ctx, url, events), timeout=WAIT, what="the first checks")
            first = len(keeper.asked)
            rounds: list[set[str]] = []
            for n in range(4):
                clock.advance(RECHECK_EVERY)
                await wait_until(asked_more(keeper, first + n), timeout=WAIT, what=f"re-check {n + 1}")
                rounds.append(set(keeper.asked[first + n]))
            assert len(keeper.asked) == first + 4  # one round each time, not one a pass

        assert all(len(ids) == CHECK_BATCH for ids in rounds)
        assert rounds[0] | rounds[1] == {e.id for e in events}  # the second round asked what the first did not
        relay = await relay_status(ctx, url)
        assert (relay["delivered"], relay["lost"], relay["losing_since"]) == (len(events), 0, None)
        assert keeper.received == {e.id: 1 for e in events}


async def test_the_re_check_goes_on_after_the_node_restarts(tmp_path: Path) -> None:
    """The posts were delivered and asked back once before the node stopped; the relay deleted them while it was
    off. Nothing of the re-check lives only in memory: the restarted node asks again, finds them gone, and marks the
    relay."""
    clock = FakeClock(NOW)
    pressured = Pressured()
    async with serve(pressured, "127.0.0.1", 0, close_timeout=1) as server:
        writer = url_of(server)
        async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
            ctx = with_writers(node.ctx, writer)
            events = await publish(ctx, 2)
            async with outbox_loop(ctx):
                await wait_until(lambda: first_checked(ctx, writer, events), timeout=WAIT, what="the first check")
        pressured.purge()
        clock.advance(RECHECK_EVERY)

        async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
            ctx = with_writers(node.ctx, writer)
            async with outbox_loop(ctx):
                await wait_until(lambda: rows(ctx, writer, "lost") == {e.id for e in events}, timeout=WAIT,
                                 what="the posts found gone after the restart")  # fmt: skip
            relay = await relay_status(ctx, writer)
            assert relay["losing_since"] is not None
            assert relay["lost_events"] == 4  # found gone, then gone again after it was given them once more


async def test_a_relay_that_stops_serving_without_authentication_is_not_marked(tmp_path: Path) -> None:
    """The relay served the posts when first asked; since then it answers every REQ with CLOSED (auth-required)
    and has deleted them. It cannot be checked, so its posts stay delivered and it is not called a loser; it is
    asked once a round, not once a pass."""
    clock = FakeClock(NOW)
    relay = Pressured()
    async with (
        serve(relay, "127.0.0.1", 0, close_timeout=1) as server,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        url = url_of(server)
        ctx = with_writers(node.ctx, url)
        events = await publish(ctx, 2)
        async with outbox_loop(ctx):
            await wait_until(lambda: first_checked(ctx, url, events), timeout=WAIT, what="the first check")
            relay.purge()
            relay.closing = True
            for n in range(3):
                clock.advance(RECHECK_EVERY)
                await wait_until(lambda n=n: relay.closed > n, timeout=WAIT, what=f"re-check {n + 1}")
            assert relay.closed == 3
        assert rows(ctx, url, "accepted") == {e.id for e in events}
        status_of = await relay_status(ctx, url)
        assert (status_of["lost"], status_of["losing_since"]) == (0, None)


async def test_an_unreachable_relay_is_not_marked_until_it_can_be_asked(tmp_path: Path) -> None:
    """The relay deleted the posts and then went off the network. While it cannot be reached, a re-check says
    nothing about it: its posts stay delivered, it is not losing. When it is back, the next re-check (an hour on)
    finds the posts gone."""
    clock = FakeClock(NOW)
    pressured = Pressured()
    port = free_port()
    writer = f"ws://127.0.0.1:{port}"
    refused: list[float] = []
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        real_connect = node.ctx.connect

        async def connect(url: str) -> RelayClient:
            try:
                return await real_connect(url)
            except (TransportError, OSError):
                refused.append(clock.now)
                raise

        ctx = dataclasses.replace(with_writers(node.ctx, writer), connect=connect)
        events = await publish(ctx, 2)
        async with outbox_loop(ctx):
            async with serve(pressured, "127.0.0.1", port, close_timeout=1):
                await wait_until(lambda: first_checked(ctx, writer, events), timeout=WAIT, what="the first check")
            pressured.purge()
            clock.advance(RECHECK_EVERY)
            await wait_until(lambda: refused, timeout=WAIT, what="a re-check that could not connect")
            assert rows(ctx, writer, "accepted") == {e.id for e in events}
            assert (await relay_status(ctx, writer))["losing_since"] is None

            async with serve(pressured, "127.0.0.1", port, close_timeout=1):
                clock.advance(RECHECK_RETRY)
                await wait_until(lambda: rows(ctx, writer, "lost") == {e.id for e in events}, timeout=WAIT,
                                 what="the posts found gone once the relay is back")  # fmt: skip
        assert (await relay_status(ctx, writer))["losing_since"] is not None
    assert (relay_health.RECHECK_EVERY, relay_health.RECHECK_RETRY) == (RECHECK_EVERY, RECHECK_RETRY)


def two_channels(key: SecretKey) -> tuple[Channel, Channel]:
    """The channel a pressured relay hides (Okrestina, its own area) and another one it shows (Market)."""
    hidden = build_channel_event(key, "okrestina", "Okrestina", geohash="u9edc1", created_at=int(NOW) - 3600)
    other = build_channel_event(key, "market", "Market", geohash="u9edc2", created_at=int(NOW) - 3600)
    return parse_channel(hidden), parse_channel(other)


class Hiding(Pressured):
    """A write relay pressured to hide one channel from its readers, not from its publisher: it keeps the
    channel's posts and serves them to anyone who asks for them by id (as a check by id does), but leaves them out
    of every other answer: the area or channel filters readers' syncs send (services/areas.py)."""

    def __init__(self, hidden: str) -> None:
        super().__init__()
        self.hidden = hidden  # the channel's address
        self.by_filter = 0  # REQs that asked without ids

    async def __call__(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "REQ" and not any("ids" in f for f in message[2:]):
                self.by_filter += 1
                filters = [parse_filter(f) for f in message[2:]]
                for event in map(parse_event, self.kept.values()):
                    if matches_any(filters, event) and self.hidden not in event.tag_values("a"):
                        await ws.send(orjson.dumps(["EVENT", message[1], event.to_dict()]).decode())
                await ws.send(orjson.dumps(["EOSE", message[1]]).decode())
                continue
            await self._answer(ws, message)


async def test_a_relay_that_hides_a_channel_from_its_readers_is_caught(tmp_path: Path) -> None:
    """The relay accepted the channel's posts and serves them by id, so the first check and a check by id found
    them all; its readers, who ask by area, never see them. The re-check asks the way readers ask: the posts are
    lost there and go to the other relay, and the status says so; a post of another channel it serves to
    readers, and a note of no channel, stay delivered."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        key = node.ctx.key
        hidden, other = two_channels(key)
        hiding = Hiding(hidden.address)
        async with (
            serve(hiding, "127.0.0.1", 0, close_timeout=1) as server,
            running_relay(tmp_path / "write", negentropy=NegentropyService()) as honest,
        ):
            writer = url_of(server)
            ctx = with_writers(node.ctx, writer, honest.url)
            posts = [build_post(key, hidden, "news", f"Detained at the gate: {i}", created_at=int(NOW) - 60 + i)
                     for i in range(3)]  # fmt: skip
            shown = build_post(key, other, "news", "Queue at the market", created_at=int(NOW) - 30)
            note = sign_event(key, 1, "a note of no channel", created_at=int(NOW) - 20)
            await publishing.publish(ctx, [*posts, shown, note], [])
            for event in posts:  # the other relay was blocked for a day: the outbox gave up on it
                ctx.local.record_attempt(event.id, honest.url, accepted=False, message="error: connection refused",
                                         final=True, next_attempt=NOW)  # fmt: skip
            async with outbox_loop(ctx):
                await wait_until(lambda: first_checked(ctx, writer, [*posts, shown, note]), timeout=WAIT,
                                 what="the first check, by id")  # fmt: skip
                assert hiding.by_filter == 0
                clock.advance(RECHECK_EVERY)
                await wait_until(lambda: rows(ctx, writer, "lost") == {e.id for e in posts}, timeout=WAIT,
                                 what="the hidden posts found out")  # fmt: skip
                await wait_until(lambda: {e.id for e in posts} <= rows(ctx, honest.url, "accepted"), timeout=WAIT,
                                 what="the hidden posts delivered to the other relay")  # fmt: skip

            assert rows(ctx, writer, "accepted") == {shown.id, note.id}
            assert hiding.received == {e.id: 1 for e in [*posts, shown, note]}  # not sent back: it has them
            relay = await relay_status(ctx, writer)
            assert relay["losing_since"] is not None
            doc = await status.document(ctx, detail=True)
            assert "loses what it accepts" in status_text(doc, now=clock.now)


class HidingFromOthers(Hiding):
    """A write relay that hides one channel from every reader but its publisher: the filters readers' syncs send
    get the channel's posts only from the address that published them (``127.0.0.1`` here); from any other
    address (``127.0.0.2``: a proxy's exit, another reader) they are left out."""

    async def __call__(self, ws: ServerConnection) -> None:
        if ws.remote_address[0] == "127.0.0.1":
            await Pressured.__call__(self, ws)  # the publisher: every answer honest
        else:
            await Hiding.__call__(self, ws)


@contextmanager
def proxy_from(source: str) -> Iterator[str]:
    """Debian's ``microsocks`` on a loopback port, its connections out leaving from ``source``: the node's other
    route to a relay (a proxy, Tor), whose exit is another address than the node's."""
    if shutil.which("microsocks") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("microsocks is not installed (scripts/system-packages.sh installs it)")
        pytest.skip("microsocks is not installed (scripts/system-packages.sh installs scripts/apt/blocking.txt)")
    port = free_port()
    process = subprocess.Popen(["microsocks", "-i", "127.0.0.1", "-p", str(port), "-b", source],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        poll_until(listening, timeout=10, what="microsocks to start", interval=0.05)
        yield f"socks5h://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


async def test_a_relay_that_hides_a_channel_from_all_but_its_publisher_is_caught(tmp_path: Path) -> None:
    """The relay serves the channel to the node's own address, by id and by filter alike, and hides it from
    every other: a check from the node's address saw nothing wrong. The node has another route to it (a proxy
    whose exit is another address), and the re-check asks the way readers ask through that route: the posts are
    lost there and go to the other relay; the post of another channel stays delivered."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        key = node.ctx.key
        hidden, other = two_channels(key)
        hiding = HidingFromOthers(hidden.address)
        with proxy_from("127.0.0.2") as proxy:
            async with (
                serve(hiding, "127.0.0.1", 0, close_timeout=1) as server,
                running_relay(tmp_path / "write", negentropy=NegentropyService()) as honest,
            ):
                writer = url_of(server)
                node.ctx = dataclasses.replace(node.ctx, routing=Routing(per_relay={writer: ("direct", proxy)}))
                ctx = with_writers(node.ctx, writer, honest.url)
                posts = [build_post(key, hidden, "news", f"Detained at the gate: {i}",
                                    created_at=int(NOW) - 60 + i) for i in range(3)]  # fmt: skip
                shown = build_post(key, other, "news", "Queue at the market", created_at=int(NOW) - 30)
                await publishing.publish(ctx, [*posts, shown], [])
                for event in posts:  # the other relay was blocked for a day: the outbox gave up on it
                    ctx.local.record_attempt(event.id, honest.url, accepted=False,
                                             message="error: connection refused", final=True,
                                             next_attempt=NOW)  # fmt: skip
                async with outbox_loop(ctx):
                    await wait_until(lambda: first_checked(ctx, writer, [*posts, shown]), timeout=WAIT,
                                     what="the first check, by id")  # fmt: skip
                    clock.advance(RECHECK_EVERY)
                    await wait_until(lambda: rows(ctx, writer, "lost") == {e.id for e in posts}, timeout=WAIT,
                                     what="the posts hidden from other addresses found out")  # fmt: skip
                    await wait_until(lambda: {e.id for e in posts} <= rows(ctx, honest.url, "accepted"),
                                     timeout=WAIT, what="the hidden posts delivered to the other relay")  # fmt: skip
                assert rows(ctx, writer, "accepted") == {shown.id}
                assert hiding.by_filter > 0  # asked from the proxy's address, and only from there
