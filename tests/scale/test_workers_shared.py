"""What ``samizdat serve --workers 2`` shares between its workers besides the store: ephemeral events (never
stored) published on one worker reach subscribers on the other, and the operator login limiter counts wrong codes
given to either. Which worker took a connection is in its handshake's ``X-Samizdat-Worker`` header."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
from test_workers import TIMEOUT, Served, home, open_ws, publish, start  # noqa: F401 - fixtures
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.web.operator import FAILURES_ALLOWED

WORKERS = 2
KIND = 20001
MAX_CONNECTIONS = 19  # for one worker to be hit: a spread so uneven is about one in 100,000


@contextlib.asynccontextmanager
async def one_on_each(url: str) -> AsyncIterator[dict[int, ClientConnection]]:
    """A connection to each worker (connecting until the kernel gave one to each)."""
    found: dict[int, ClientConnection] = {}
    spare: list[ClientConnection] = []
    try:
        for _ in range(MAX_CONNECTIONS):
            ws, worker = await open_ws(url)
            (spare if worker in found else found.setdefault(worker, ws)) is ws or spare.append(ws)
            if len(found) == WORKERS:
                break
        assert len(found) == WORKERS, f"{MAX_CONNECTIONS} connections all went to worker {set(found)}"
        yield found
    finally:
        for ws in [*found.values(), *spare]:
            with contextlib.suppress(Exception):
                await ws.close()


async def next_event(ws: ClientConnection) -> str:
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = orjson.loads(await ws.recv())
            if message[0] == "EVENT":
                return str(message[2]["id"])


async def test_ephemeral_events_and_the_login_limiter_are_shared_by_the_workers(
    home: Path,  # noqa: F811
    start: Callable[..., Served],  # noqa: F811
) -> None:
    served = start(home, "--workers", str(WORKERS))  # one serve for both: each start costs seconds
    await ephemeral_events_reach_subscribers_on_the_other_worker(served)
    await wrong_codes_on_either_worker_count_together(served)


async def ephemeral_events_reach_subscribers_on_the_other_worker(served: Served) -> None:
    key = SecretKey.generate()
    async with one_on_each(served.url) as readers, one_on_each(served.url) as writers:
        for ws in readers.values():
            await ws.send(orjson.dumps(["REQ", "live", {"kinds": [KIND], "limit": 0}]).decode())
            async with asyncio.timeout(TIMEOUT):
                assert orjson.loads(await ws.recv())[0] == "EOSE"
        for worker in range(WORKERS):
            event = sign_event(key, KIND, f"typing on worker {worker}", [], created_at=int(time.time()))
            assert await publish(writers[worker], event)
            for reader in readers.values():  # the reader on the same worker and the one on the other
                assert await next_event(reader) == event.id


async def login(url: str, origin: str, *, unless: Callable[[int], bool] = lambda worker: False) -> tuple[int, str]:
    """One login attempt at ``url``/op with a wrong code: (the worker, "refused", "wrong code"); or, if
    ``unless(worker)``, none (the connection closed at once: "not tried")."""
    ws = await connect(f"{url}/op", origin=origin, open_timeout=10, close_timeout=1)  # type: ignore[arg-type]
    assert ws.response is not None
    worker = int(ws.response.headers["X-Samizdat-Worker"])
    try:
        if unless(worker):
            return worker, "not tried"
        await ws.send(orjson.dumps({"token": "not-a-code"}).decode())
        async with asyncio.timeout(TIMEOUT):
            answer = orjson.loads(await ws.recv())
        assert answer["ok"] is False
        return worker, "wrong code"
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
        return worker, "refused" if code == 1013 else f"closed with {code}"
    finally:
        await ws.close()


async def wrong_codes_on_either_worker_count_together(served: Served) -> None:
    origin = served.url.replace("ws://", "http://")
    wrong = dict.fromkeys(range(WORKERS), 0)
    for _ in range(MAX_CONNECTIONS):  # wrong codes on both workers, at most FAILURES_ALLOWED - 1 on either
        worker, outcome = await login(served.url, origin, unless=lambda w: wrong[w] == FAILURES_ALLOWED - 1)
        assert outcome != "refused", f"refused after {wrong} wrong codes"
        wrong[worker] += outcome == "wrong code"
        if sum(wrong.values()) == FAILURES_ALLOWED:
            break
    assert sum(wrong.values()) == FAILURES_ALLOWED, wrong
    refused_on: set[int] = set()
    for _ in range(MAX_CONNECTIONS):  # no more tries, on either worker, although neither saw five wrong codes
        worker, outcome = await login(served.url, origin)
        assert outcome == "refused", f"worker {worker} took another try after {wrong} wrong codes"
        refused_on.add(worker)
        if len(refused_on) == WORKERS:
            break
    assert refused_on == set(range(WORKERS))
