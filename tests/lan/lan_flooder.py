"""A hostile peer for the flood test: ``python lan_flooder.py URL SECONDS CONNECTIONS SPAM OUT.json``.

Signs ``SPAM`` valid events first (each fresh key defines a channel of its own and posts in it, ~1.2 KB a post:
store-carry-forward spam a node cannot tell from real traffic by its signature), then for ``SECONDS`` hammers
``URL`` over ``CONNECTIONS`` WebSocket connections. Half of them send only valid spam, as fast as the relay takes
it; the other half mix garbage frames (bytes that are not JSON, JSON that is not a message, deep nesting, binary
frames, now and then an oversized frame) with events whose signature was altered. A connection the relay closes
is opened again at once. Replies are read and counted. Writes its counts to ``OUT.json``. Every loop is bounded
by the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import connect

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post

POSTS_PER_KEY = 4
PAD = "x" * 900  # the bulk of a spam post, so spam weighs on the carry quota

GARBAGE: list[str | bytes] = [
    "not json at all",
    "{",
    '{"EVENT": 1}',
    '["EVENT"]',
    '["EVENT", {"id": 1}]',
    '["REQ"]',
    '["REQ", "s", {"kinds": "many"}]',
    '["NEG-OPEN", "n", {}, "zz"]',
    '["CLOSE", 5]',
    "[" * 5000,
    '["UNKNOWN", 1, 2, 3]',
    b"\x00\xff\xfe binary frame",
    os.urandom(512),
]
OVERSIZED = '["EVENT", {"content": "' + "y" * 3_000_000 + '"}]'


def spam(count: int, now: int) -> list[Event]:
    events: list[Event] = []
    while len(events) < count:
        key = SecretKey.generate()
        definition = build_channel_event(key, f"spam{len(events)}", "Totally real news", created_at=now - 60)
        channel = parse_channel(definition)
        events.append(definition)
        for i in range(POSTS_PER_KEY):
            text = f"spam {len(events)} {i} {PAD}"
            events.append(build_post(key, channel, "news", text, created_at=now - 30 + i))
    return events[:count]


def bad_signature(event: Event) -> str:
    data = event.to_dict()
    sig = data["sig"]
    data["sig"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    return orjson.dumps(["EVENT", data]).decode()


class Counts:
    def __init__(self) -> None:
        self.c: dict[str, int] = {}
        self.notes: list[str] = []

    def add(self, name: str, n: int = 1) -> None:
        self.c[name] = self.c.get(name, 0) + n

    def note(self, text: str) -> None:
        if len(self.notes) < 10 and text[:60] not in (n[:60] for n in self.notes):
            self.notes.append(text[:200])


async def one_connection(
    url: str, deadline: float, frames: Callable[[int], tuple[str, str | bytes]], counts: Counts
) -> None:
    turn = 0
    for _ in range(100_000):  # connections opened again after the relay closes them; bounded by the deadline too
        if time.monotonic() >= deadline:
            return
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                async with connect(url, max_size=None, open_timeout=5, close_timeout=1, ping_interval=None) as ws:
                    counts.add("connections")

                    async def read() -> None:
                        async for message in ws:
                            text = message if isinstance(message, str) else message.decode(errors="replace")
                            with contextlib.suppress(ValueError, TypeError, IndexError, KeyError):
                                reply = orjson.loads(text)
                                if reply[0] == "OK":
                                    counts.add("ok_true" if reply[2] else "ok_false")
                                    if not reply[2]:
                                        counts.add(f"ok_false:{str(reply[3]).split(':')[0]}")
                                else:
                                    counts.add(str(reply[0]).lower())

                    reader = asyncio.create_task(read())
                    try:
                        for _ in range(10**9):
                            turn += 1
                            name, frame = frames(turn)
                            await ws.send(frame)
                            counts.add(name)
                            if turn % 20 == 0:
                                await asyncio.sleep(0)  # let the reader run
                    finally:
                        reader.cancel()
                        await asyncio.gather(reader, return_exceptions=True)
        except TimeoutError:
            return
        except Exception as exc:  # noqa: BLE001 - the relay closing a hostile connection is expected
            counts.add(f"ended:{type(exc).__name__}")
            counts.note(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.01)


async def flood(url: str, seconds: float, connections: int, count: int) -> dict[str, Any]:
    started = time.monotonic()
    events = spam(count, int(time.time()))
    valid = [orjson.dumps(["EVENT", e.to_dict()]).decode() for e in events]
    bad = [bad_signature(e) for e in events[: max(1, count // 10)]]
    signed = time.monotonic() - started
    print(f"signed {len(events)} spam events in {signed:.1f} s; flooding {url} for {seconds:.0f} s", flush=True)
    counts = Counts()
    deadline = time.monotonic() + seconds

    def spam_frames(offset: int) -> Callable[[int], tuple[str, str | bytes]]:
        return lambda turn: ("valid", valid[(offset + turn) % len(valid)])

    def hostile_frames(turn: int) -> tuple[str, str | bytes]:
        if turn % 2000 == 1:
            return "oversized", OVERSIZED
        if turn % 2 == 0:
            return "garbage", GARBAGE[(turn // 2) % len(GARBAGE)]
        return "bad_signature", bad[turn % len(bad)]

    await asyncio.gather(
        *(
            one_connection(
                url, deadline, spam_frames(i * len(valid) // connections) if i % 2 == 0 else hostile_frames, counts
            )
            for i in range(connections)
        )
    )
    result: dict[str, Any] = {"signing_seconds": signed, "spam_events": len(events), **counts.c}
    result["notes"] = counts.notes
    result["spam_bytes"] = sum(len(v) for v in valid)
    return result


if __name__ == "__main__":
    counted = asyncio.run(flood(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    with open(sys.argv[5], "w") as handle:
        json.dump(counted, handle)
    print(json.dumps(counted), flush=True)
