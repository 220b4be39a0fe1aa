"""``OK true`` means durable: kill -9 the relay process mid-stream and every acknowledged event is still there."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.store.sqlite import SqliteStore

RELAY_PROCESS = """
import asyncio, sys
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore

async def main():
    store = await SqliteStore.open(sys.argv[1])
    server = RelayServer(store, limits=RelayLimits(events_per_second=1e6, events_burst=10**6))
    await server.start("127.0.0.1", 0)
    print(server.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""

N_EVENTS = 3000
KILL_AFTER = 1000  # acknowledgements; the rest are in flight when the process dies


@pytest.mark.slow
async def test_every_acknowledged_event_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    key = SecretKey.generate()
    events = [sign_event(key, 1, f"post {i}", [["t", "kill9"]], created_at=1_700_000_000 + i) for i in range(N_EVENTS)]
    frames = [orjson.dumps(["EVENT", e.to_dict()]).decode() for e in events]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RELAY_PROCESS, str(path), stdout=asyncio.subprocess.PIPE
    )
    acknowledged: list[str] = []
    try:
        assert process.stdout is not None
        port = int(await asyncio.wait_for(process.stdout.readline(), 30))
        async with connect(f"ws://127.0.0.1:{port}", close_timeout=1) as ws:

            async def send_all() -> None:
                for frame in frames:
                    await ws.send(frame)

            sender = asyncio.create_task(send_all())
            try:
                async with asyncio.timeout(60):
                    while len(acknowledged) < KILL_AFTER:
                        verb, event_id, accepted, _ = orjson.loads(await ws.recv())
                        assert verb == "OK"
                        if accepted:
                            acknowledged.append(event_id)
                process.kill()  # SIGKILL, right after an acknowledgement, with more events in flight
                await process.wait()
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
            # Acknowledgements that were already on the wire when the process died count too.
            with contextlib.suppress(Exception):  # the connection is dead, one way or another
                async with asyncio.timeout(2):
                    async for message in ws:
                        verb, event_id, accepted, _ = orjson.loads(message)
                        if accepted:
                            acknowledged.append(event_id)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == -9
    assert len(acknowledged) >= KILL_AFTER

    store = await SqliteStore.open(path)
    try:
        present = await store.has(acknowledged)
        assert set(acknowledged) - present == set()
        total = (await store.stats())["events"]
        assert len(acknowledged) <= total <= N_EVENTS
    finally:
        await store.close()
