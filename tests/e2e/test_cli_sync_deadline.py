"""``samizdat sync`` has an overall deadline: a relay that answers slowly for ever cannot hold the command.

Each wait of a sync has its own bound (a round of NIP-77, the next message of a REQ answer), but a relay can
answer each one just in time, for ever. The background syncs were bounded as a whole; the command was not, so a
relay run to waste a person's time (and their connection's data) held it for hours. Now ``--timeout`` (600 s by
default) ends it with one sentence, and nothing the node had is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey

if TYPE_CHECKING:
    from conftest import Cli

BASE = 1_700_000_000
DRIBBLE = 600  #: the relay's own bound: 600 events, one every 0.2 s (two minutes)


def frame(*parts: object) -> str:
    return orjson.dumps(list(parts)).decode()


async def test_a_relay_answering_slowly_for_ever_cannot_hold_the_sync_command(cli: Cli) -> None:
    await cli.aok("init", "--no-passphrase")
    await cli.aok("channel", "create", "district", "--name", "District")
    await cli.aok("post", "district", "kept whatever the relay does")
    before = (await cli.ajson("status"))["store"]["events"]
    key = SecretKey.generate()
    dribble = [sign_event(key, 1, f"slow {i}", created_at=BASE + i) for i in range(DRIBBLE)]

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):  # the command hangs up when its time is over
            async for raw in ws:
                message = orjson.loads(raw)
                if message[0] == "NEG-OPEN":  # no NIP-77 here: the node falls back to REQs at once
                    await ws.send(frame("NEG-ERR", message[1], "error: not supported"))
                elif message[0] == "REQ":
                    for event in dribble:  # one event after another, each well within the wait for the next
                        await ws.send(frame("EVENT", message[1], event.to_dict()))
                        await asyncio.sleep(0.2)

    async with serve(handler, "127.0.0.1", 0, close_timeout=1) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        result = await cli.arun("sync", f"ws://127.0.0.1:{port}", "--direction", "down", "--timeout", "6")

    assert result.code == 1, (result.out, result.err)
    assert "Traceback" not in result.err
    assert len(result.error_lines) == 1, result.err  # one sentence
    assert "did not finish within 6 s" in result.err
    assert (await cli.ajson("status"))["store"]["events"] == before  # nothing lost, no partial answer stored
    shown = await cli.ajson("feed", "district")
    assert "kept whatever the relay does" in str(shown)


async def test_the_sync_commands_timeout_must_be_a_sensible_number_of_seconds(cli: Cli) -> None:
    await cli.aok("init", "--no-passphrase")
    for bad in ("0", "-5", "100000"):
        result = await cli.arun("sync", "ws://127.0.0.1:9", "--timeout", bad)
        assert result.code == 1, result.err
        assert "--timeout must be" in result.err
