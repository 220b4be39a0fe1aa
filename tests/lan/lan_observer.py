"""A device on the Wi-Fi that watches where new posts appear first.

``python lan_observer.py watch SECONDS COUNT URL...``: subscribes live (``{"limit": 0}``) to every node's relay,
prints ``ready`` once all of them answered ``EOSE``, then records, for each new event, the relays that served it
in the order they did. It stops once COUNT events were served by every relay, or after SECONDS, and prints one
JSON object: event id -> the URLs in the order they served it.

``python lan_observer.py watch-as-peer SECONDS COUNT URL...``: the same with a subscription id a neighbour's link
uses (``peer:...``): a device posing as a LAN neighbour, which a node may pick to serve its own new post first.

``python lan_observer.py req URL``: one REQ for the newest 100 stored events, printed as a JSON list of ids.

Sends nothing but these REQs: what any laptop on the network can do.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

CONNECT_TIMEOUT = 10.0


async def watch(seconds: float, count: int, urls: list[str], sub_id: str = "watch") -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    deadline = time.monotonic() + seconds
    ready = asyncio.Event()
    subscribed: set[str] = set()
    done = asyncio.Event()

    def complete() -> bool:
        return sum(1 for served in order.values() if set(served) == set(urls)) >= count

    async def follow(url: str) -> None:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            ws = await connect(url, max_size=None)
        async with ws:
            await ws.send(json.dumps(["REQ", sub_id, {"limit": 0}]))
            async for raw in ws:
                message = json.loads(raw)
                if message[0] == "EOSE":
                    subscribed.add(url)
                    if subscribed == set(urls):
                        ready.set()
                elif message[0] == "EVENT" and len(message) >= 3:
                    served = order.setdefault(message[2]["id"], [])
                    if url not in served:
                        served.append(url)
                    if complete():
                        done.set()

    tasks = [asyncio.create_task(follow(url)) for url in urls]
    try:
        async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
            await ready.wait()
            print("ready", flush=True)
            await done.wait()
    except TimeoutError:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return order


async def req(url: str) -> list[str]:
    ids: list[str] = []
    async with asyncio.timeout(CONNECT_TIMEOUT * 2):
        async with connect(url, max_size=None) as ws:
            await ws.send(json.dumps(["REQ", "once", {"limit": 100}]))
            async for raw in ws:
                message = json.loads(raw)
                if message[0] == "EVENT":
                    ids.append(message[2]["id"])
                elif message[0] in ("EOSE", "CLOSED"):
                    break
    return ids


def main(argv: list[str]) -> None:
    if argv[0] in ("watch", "watch-as-peer"):
        sub_id = "peer:watch" if argv[0] == "watch-as-peer" else "watch"
        result: object = asyncio.run(watch(float(argv[1]), int(argv[2]), argv[3:], sub_id))
    else:
        result = asyncio.run(req(argv[1]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
