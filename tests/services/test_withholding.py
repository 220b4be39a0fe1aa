"""A mirror that lies by omission, on loopback: it takes the channel's newest definition and the retraction of a
fake post (``OK true``, and counts them over NIP-77: it stores them) and leaves them out of every ``REQ`` answer,
serving the channel's old definition (with the admin the owner removed) instead. It forges nothing.

Before, a node syncing the channel from it and from an honest mirror found nothing to move with it and said
nothing: its user took it for a good mirror, and the people reading the channel through it saw the fake post as
news and the removed admin as an admin. Now, after each sync, the node asks each mirror by id and by address for
the newest definition and retractions it holds, pushes what the mirror lacks, and names the mirror that accepts
them and still does not serve them in ``samizdat status``; that mirror goes last among the channel's relays. An
honest mirror in step is asked once (one ``REQ``) and called nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_relay_recheck import proxy_from
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from samizdat.cli.render import when
from samizdat.cli.status import status_text
from samizdat.core.channel import ADMIN, build_channel_event, parse_channel
from samizdat.core.event import Event
from samizdat.core.filters import matches_any, parse_filter
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post, build_retraction
from samizdat.net import netinfo
from samizdat.net.failover import Routing
from samizdat.node import Node
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import feed, status, sync
from samizdat.services.context import Context
from samizdat.testing import FakeClock, running_relay

WAIT = 30.0  # seconds: the bound on every sync here
OWNER, TURNED = SecretKey(bytes([31]) * 32), SecretKey(bytes([32]) * 32)


class Withholding:
    """A relay in front of a real one (ours, with NIP-77): everything goes through (so it stores and ``OK``\\ s
    what it is sent, and its NIP-77 set holds it), except that ``REQ`` answers leave out the events of ``hidden``
    and bring ``stale`` (the old definition) to every filter that matches it."""

    def __init__(self, upstream: str, hidden: set[str], stale: list[Event]) -> None:
        self.upstream, self.hidden, self.stale = upstream, hidden, stale
        self.reqs = 0
        self.events = 0
        self.asked: list[dict[str, Any]] = []  # every filter of every REQ
        self.refusal = ""  # when set, every EVENT is answered ``OK false`` with it, and not kept
        self.cap: int | None = None  # events in one answer, at most (many honest relays cap their answers)
        self.honest_to = ""  # an address served the truth (the node's: it published and syncs from there)
        self.down = False  # when set, every connection is closed at once (the sync fails)
        self.lied_to: list[str] = []  # the addresses whose REQs were answered with a lie
        self.honest_by_id = False  # when set, a REQ that asks for ids gets the truth (no reader asks that way)

    async def __call__(self, ws: ServerConnection) -> None:
        if self.down:
            await ws.close()
            return
        lying = ws.remote_address[0] != self.honest_to
        hidden, stale = (self.hidden, self.stale) if lying else (set(), [])
        filters: dict[str, list[Any]] = {}
        answered: dict[str, int] = {}
        truthful: set[str] = set()  # subscriptions answered honestly
        async with connect(self.upstream, max_size=None) as up:

            async def down() -> None:
                async for raw in up:
                    message = orjson.loads(raw)
                    if message[0] == "EVENT" and message[2]["id"] in hidden and message[1] not in truthful:
                        continue
                    if message[0] == "EVENT" and self.cap is not None:
                        answered[message[1]] = answered.get(message[1], 0) + 1
                        if answered[message[1]] > self.cap:
                            continue
                    if message[0] == "EOSE" and message[1] not in truthful:
                        for event in stale:
                            if matches_any(filters.get(message[1], []), event):
                                await ws.send(orjson.dumps(["EVENT", message[1], event.to_dict()]).decode())
                    await ws.send(raw)

            pumping = asyncio.ensure_future(down())
            try:
                async for raw in ws:
                    message = orjson.loads(raw)
                    if message[0] == "REQ":
                        self.reqs += 1
                        if self.honest_by_id and any("ids" in f for f in message[2:]):
                            truthful.add(message[1])
                        elif lying and (hidden or stale):
                            self.lied_to.append(ws.remote_address[0])
                        self.asked += message[2:]
                        filters[message[1]] = [parse_filter(f) for f in message[2:]]
                    elif message[0] == "EVENT":
                        self.events += 1
                        if self.refusal:
                            await ws.send(orjson.dumps(["OK", message[1]["id"], False, self.refusal]).decode())
                            continue
                    await up.send(raw)
            finally:
                pumping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pumping


@contextlib.asynccontextmanager
async def mirrors(
    tmp_path: Path, ctx: Context, geohash: str = ""
) -> AsyncIterator[tuple[str, str, Withholding, dict[str, Event]]]:
    """An honest mirror and a withholding one, both holding the channel's history: the first definition (an admin),
    the admin's fake post, the newest definition (the admin removed) and the owner's retraction of the post. A
    channel with a ``geohash`` is read by area (private reading), one without by channel."""
    now = int(ctx.now())
    async with (
        running_relay(tmp_path / "honest", negentropy=NegentropyService(min_staleness=0.0)) as honest,
        running_relay(tmp_path / "behind", negentropy=NegentropyService(min_staleness=0.0)) as behind,
    ):
        liar = Withholding(behind.url, set(), [])
        async with serve(liar, "127.0.0.1", 0, close_timeout=1) as server:
            lying = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
            both = [honest.url, lying]
            first = build_channel_event(OWNER, "yard", "Yard", created_at=now - 7200, mirrors=both, geohash=geohash,
                                        admins={TURNED.public_key_hex: ADMIN})  # fmt: skip
            fake = build_post(TURNED, parse_channel(first), "news", "Gathering at the square at 18:00",
                              created_at=now - 3600)  # fmt: skip
            newest = build_channel_event(OWNER, "yard", "Yard", created_at=now - 1800, mirrors=both, geohash=geohash,
                                         revoked={TURNED.public_key_hex: now - 1800})  # fmt: skip
            retraction, deletion = build_retraction(OWNER, parse_channel(newest), fake, "Not ours: a seized key",
                                                    created_at=now - 1700)  # fmt: skip
            assert deletion is None  # the owner retracts someone else's post: relays keep the original
            history = [first, fake, newest, retraction]
            for relay in (honest, behind):
                for event in history:
                    await relay.store.add_many([event])
            liar.hidden |= {newest.id, retraction.id}
            liar.stale.append(first)
            ctx.local.follow(parse_channel(newest).address, both, ctx.clock())
            yield honest.url, lying, liar, {e.id: e for e in history}


def cost(ctx: Context, relay: str, at: float) -> tuple[int, int]:
    """(requests, events pushed) of the checks of the syncs with ``relay`` that ran at ``at``."""
    rows = [r.summary for r in ctx.local.sync_rows() if r.relay == relay and r.last_attempt == at]
    return (
        sum(int(str(r.get("withholding_requests", 0))) for r in rows),
        sum(int(str(r.get("withholding_pushed", 0))) for r in rows),
    )


@pytest.mark.parametrize("geohash", ["", "u9edp2"], ids=["by-channel", "by-area"])
async def test_a_mirror_withholding_the_newest_definition_and_a_retraction_is_named(
    ctx: Context, tmp_path: Path, fake_clock: FakeClock, geohash: str
) -> None:
    async with mirrors(tmp_path, ctx, geohash) as (honest, lying, liar, history):
        first, fake, newest, retraction = history.values()
        pushed, after_first = 0, 0
        for _ in range(2):  # the mirrors are synced side by side: at the first pass the node may not hold it all
            async with asyncio.timeout(WAIT):
                assert await sync.sync_pass(ctx) >= 2  # by area: the once-only units of posts before area tags too
            pushed += cost(ctx, lying, fake_clock.now)[1]
            fake_clock.advance(ctx.config.sync_interval)
            after_first = after_first or len(liar.asked)

        # The retraction shows here, and the removed admin is no admin: the node had it from the honest mirror.
        items = await feed.feed(ctx, None)
        shown = next(item for item in items if item.event_id == fake.id)
        assert shown.view is not None
        assert shown.view.retraction is not None
        assert shown.view.retraction.id == retraction.id

        # The lying mirror is named, with what it withheld: the old definition's date and the newest's.
        doc = await status.document(ctx, detail=True)
        relays = {r["url"]: r for r in doc["relays"]}
        assert "withheld" not in relays[honest]
        withheld = relays[lying]["withheld"]
        assert {(w["what"], w["newest"], w["served"]) for w in withheld} == {
            ("definition", newest.created_at, first.created_at),
            ("retraction", retraction.created_at, None),
        }
        text = status_text(doc, now=ctx.clock())
        assert (
            f"withholds: it served the definition of «Yard» of {when(first.created_at)}, not the newest of "
            f"{when(newest.created_at)}" in text
        )
        assert f"withholds: it left out the retraction of {when(retraction.created_at)} in «Yard»" in text
        public = {r["url"]: r for r in (await status.document(ctx))["relays"]}
        assert all("channel" not in w and "name" not in w for w in public[lying]["withheld"])  # names no follow

        # What it lacked was pushed once (it accepted it). The next sync asks nothing (nothing new is held here);
        # six hours on, a sync asks again (a REQ for the ids, one with the readers' filters, and one more for the
        # ids left out) and pushes nothing.
        assert pushed == 2
        async with asyncio.timeout(WAIT):
            await sync.sync_pass(ctx)
        assert cost(ctx, lying, fake_clock.now) == (0, 0)
        fake_clock.advance(6 * 3600)
        async with asyncio.timeout(WAIT):
            await sync.sync_pass(ctx)
        assert cost(ctx, lying, fake_clock.now) == (3, 0)
        public = {r["url"]: r for r in (await status.document(ctx))["relays"]}
        assert len(public[lying]["withheld"]) == 2  # still named

        # Read by area (once the definition is here: the first pass is by channel), the mirror is asked for
        # definitions by area only: it learns no followed channel.
        if geohash:
            assert ctx.local.sync_row(lying, "area:u9ed") is not None
            assert not [f for f in liar.asked[after_first:] if {"authors", "#d", "#a"} & set(f)]

        # It goes last among the channel's relays, for this channel.
        address = parse_channel(newest).address
        assert (await sync.scopes(ctx))[address] == [honest, lying]
        ctx.local.follow(address, [lying, honest], ctx.clock())
        assert (await sync.scopes(ctx))[address] == [honest, lying]


async def test_a_mirror_in_step_is_asked_once_and_called_nothing(
    ctx: Context, tmp_path: Path, fake_clock: FakeClock
) -> None:
    async with mirrors(tmp_path, ctx) as (honest, lying, liar, history):
        liar.hidden.clear()
        liar.stale.clear()
        async with asyncio.timeout(WAIT):
            await sync.sync_pass(ctx)
        doc = await status.document(ctx, detail=True)
        assert all("withheld" not in r for r in doc["relays"])
        assert cost(ctx, lying, fake_clock.now) == (2, 0)  # a REQ for the ids, one with readers' filters; no push
        assert liar.events == 0
        assert "withholds" not in status_text(doc, now=ctx.clock())


async def test_a_withheld_row_is_a_sentence() -> None:
    from samizdat.services import withholding  # here: the module is new, and the tests above must run without it

    row = {"what": "definition", "newest": 1_800_000_000, "served": None}
    assert (
        withholding.line(row, "«Yard»", when)
        == f"did not serve the newest definition of «Yard», of {when(row['newest'])}"
    )


async def test_a_mirror_refusing_the_retraction_is_named(ctx: Context, tmp_path: Path, fake_clock: FakeClock) -> None:
    """A mirror that answers the retraction with ``OK false`` ("blocked:") while it serves the fake post withholds it
    as much as one that takes it: named, with its words."""
    async with mirrors(tmp_path, ctx) as (_, lying, liar, history):
        _, _, _, retraction = history.values()
        liar.refusal = "blocked: not on this relay"
        for _ in range(2):
            async with asyncio.timeout(WAIT):
                await sync.sync_pass(ctx)
            fake_clock.advance(ctx.config.sync_interval)
        text = status_text(await status.document(ctx, detail=True), now=ctx.clock())
        assert (
            f'withholds: it refused the retraction of {when(retraction.created_at)} in «Yard» ("blocked: not on this '
            'relay")' in text
        )


async def test_an_honest_mirror_that_caps_its_answers_is_called_nothing(
    ctx: Context, tmp_path: Path, fake_clock: FakeClock
) -> None:
    """A mirror in step that answers any REQ with at most 1 event (its NIP-11 ``max_limit``): asked for 3 events by
    id, it serves 1, and the others are asked again, not taken as withheld."""
    async with mirrors(tmp_path, ctx) as (_, lying, liar, _):
        liar.hidden.clear()
        liar.stale.clear()
        liar.cap = 1
        for _ in range(2):
            async with asyncio.timeout(WAIT):
                await sync.sync_pass(ctx)
            fake_clock.advance(ctx.config.sync_interval)
        doc = await status.document(ctx, detail=True)
        assert all("withheld" not in r for r in doc["relays"])
        assert liar.events == 0  # nothing pushed to it


@pytest.mark.parametrize("geohash", ["", "u9edp2"], ids=["by-channel", "by-area"])
async def test_a_mirror_that_shows_the_node_everything_and_readers_the_old_definition_is_named(
    opened: Node, tmp_path: Path, fake_clock: FakeClock, geohash: str
) -> None:
    """The mirror knows the node's address (it publishes and syncs from there: ``127.0.0.1``) and serves it the
    newest definition and the retraction; to every other address it serves the old definition and leaves the
    retraction out, unless asked by id (as a check would, and no reader does). Asked from its own address only,
    the node called it honest. The node has another route to it (a proxy whose exit is ``127.0.0.2``, another
    reader): asked that way too, as readers ask, the mirror is named, with what readers get, and goes last for the
    channel. Nothing is pushed to it for that: it holds the events."""
    with proxy_from("127.0.0.2") as proxy:
        async with mirrors(tmp_path, opened.ctx, geohash) as (honest, lying, liar, history):
            first, _, newest, retraction = history.values()
            liar.honest_to = "127.0.0.1"
            liar.honest_by_id = True  # and to whoever asks by id: only readers' questions get the lie
            opened.ctx = dataclasses.replace(opened.ctx, routing=Routing(per_relay={lying: ("direct", proxy)}))
            ctx = opened.ctx
            for _ in range(2):
                async with asyncio.timeout(WAIT):
                    await sync.sync_pass(ctx)
                fake_clock.advance(ctx.config.sync_interval)

            assert set(liar.lied_to) == {"127.0.0.2"}  # asked that way; the node itself was never lied to
            # The route memory does not learn the proxy from the check: the next syncs still start directly.
            assert proxy not in ctx.local.routes(lying, netinfo.network_id())
            doc = await status.document(ctx, detail=True)
            relays = {r["url"]: r for r in doc["relays"]}
            assert "withheld" not in relays[honest]
            assert {(w["what"], w["newest"], w["served"], w["readers"]) for w in relays[lying]["withheld"]} == {
                ("definition", newest.created_at, first.created_at, True),
                ("retraction", retraction.created_at, None, True),
            }
            text = status_text(doc, now=ctx.clock())
            assert (
                f"withholds: it served this node the newest definition of {when(newest.created_at)} in «Yard», and "
                f"hid it from readers asking through another route (they get the one of {when(first.created_at)})"
            ) in text
            assert f"served this node the retraction of {when(retraction.created_at)} in «Yard»" in text
            assert "(it hides these from readers; other mirrors go first for those channels)" in text
            assert liar.events == 0  # nothing pushed: it has the events
            address = parse_channel(newest).address
            ctx.local.follow(address, [lying, honest], ctx.clock())
            assert (await sync.scopes(ctx))[address] == [honest, lying]


async def test_a_failed_sync_keeps_the_mirror_named(ctx: Context, tmp_path: Path, fake_clock: FakeClock) -> None:
    """A sync with the withholding mirror that fails (it closes every connection) wrote over the sync row, and the
    mirror dropped out of ``samizdat status`` until the next good sync. It stays named, with what it withheld."""
    async with mirrors(tmp_path, ctx) as (_, lying, liar, history):
        _, _, newest, retraction = history.values()
        for _ in range(2):
            async with asyncio.timeout(WAIT):
                await sync.sync_pass(ctx)
            fake_clock.advance(ctx.config.sync_interval)
        liar.down = True
        async with asyncio.timeout(WAIT):
            await sync.sync_pass(ctx)
        rows = [r for r in ctx.local.sync_rows() if r.relay == lying]
        assert rows
        assert all(r.failures > 0 for r in rows)  # the sync did fail
        doc = await status.document(ctx, detail=True)
        relay = {r["url"]: r for r in doc["relays"]}[lying]
        assert {(w["what"], w["newest"]) for w in relay.get("withheld", [])} == {
            ("definition", newest.created_at),
            ("retraction", retraction.created_at),
        }
        assert "withholds: it served the definition of «Yard»" in status_text(doc, now=ctx.clock())
