"""A trivial "relay" for checking the load generator: it stores nothing and answers at once.

``EVENT`` gets ``OK true`` (the id is cut out of the message, not parsed), ``REQ`` gets 50 canned events and
``EOSE``. If the load generator drives this faster than any real relay, it is not what limits the real
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson
from websockets.asyncio.server import ServerConnection, serve

CANNED = orjson.dumps(
    {
        "id": "0" * 64,
        "pubkey": "1" * 64,
        "created_at": 1,
        "kind": 1,
        "tags": [],
        "content": "x" * 150,
        "sig": "2" * 128,
    }
)


async def handler(ws: ServerConnection) -> None:
    async for raw in ws:
        data = raw.encode() if isinstance(raw, str) else raw
        if data.startswith(b'["EVENT"'):
            i = data.index(b'"id":"') + 6
            await ws.send(b'["OK","' + data[i : i + 64] + b'",true,""]', text=True)
        elif data.startswith(b'["REQ"'):
            sub = orjson.loads(data)[1]
            prefix = b'["EVENT",' + orjson.dumps(sub) + b","
            for _ in range(50):
                await ws.send(prefix + CANNED + b"]", text=True)
            await ws.send(orjson.dumps(["EOSE", sub]), text=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    async with serve(handler, args.host, args.port, compression=None, ping_interval=None, max_size=None):
        print(f"READY {args.port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
