"""Private reading, end to end: a real relay on loopback, behind a recording WebSocket proxy that keeps every REQ,
COUNT and NEG-OPEN filter the reader's node sends; real ``samizdat`` processes for the owner and the reader.

The owner runs three channels: two in the area u9ed, one far away. The reader gets the followed channel's
definition from a bundle (as from a friend), follows it, and serves: background sync brings the followed
channel's new posts while the relay sees nothing but ``#g`` area filters and requests by event id; the far
channel's posts never come. Then the follow list goes to the relay encrypted and comes back after an unfollow.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from samizdat.relay.negentropy import NegentropyService
from samizdat.testing import running_relay

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

pytestmark = pytest.mark.slow

FIRST_SYNC = 90.0


class RecordedRelay:
    """A real relay and a recording proxy in front of it, on their own event loop in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filters: list[dict[str, Any]] = []
        self.direct = self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> RecordedRelay:
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("the relay did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _record(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            return
        if isinstance(message, list) and message and message[0] in ("REQ", "COUNT"):
            self.filters += [f for f in message[2:] if isinstance(f, dict)]
        elif isinstance(message, list) and len(message) > 2 and message[0] == "NEG-OPEN":
            self.filters.append(message[2])

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with running_relay(self.path, negentropy=NegentropyService()) as relay:
            self.direct = relay.url

            async def forward(client: ServerConnection) -> None:
                async with connect(relay.url, max_size=None) as upstream:

                    async def up() -> None:
                        async for frame in client:
                            self._record(frame)
                            await upstream.send(frame)

                    async def down() -> None:
                        async for frame in upstream:
                            await client.send(frame)

                    tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
                    try:
                        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    except ConnectionClosed:
                        pass
                    finally:
                        for task in tasks:
                            task.cancel()
                        await asyncio.gather(*tasks, return_exceptions=True)

            async with serve(forward, "127.0.0.1", 0, max_size=None) as proxy:
                port = proxy.sockets[0].getsockname()[1]
                self.url = f"ws://127.0.0.1:{port}"
                self._ready.set()
                await self._stop.wait()


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[RecordedRelay]:
    with RecordedRelay(tmp_path / "relay") as relay:
        yield relay


def texts(cli: Cli, naddr: str) -> set[str]:
    result = cli("feed", naddr, "--json")
    return {item["text"] for item in result.json()} if result.code == 0 else set()


def test_the_relay_learns_the_area_not_the_channel(
    make_cli: Callable[[str], Cli],
    serve: Callable[..., ServeProcess],
    wait_until: Callable[..., Any],
    recorded: RecordedRelay,
    tmp_path: Path,
) -> None:
    owner, reader = make_cli("owner"), make_cli("reader")
    owner.ok("init")
    reader.ok("init")
    mirror = ["--mirror", recorded.url]
    yard = owner.json("channel", "create", "yard", "--name", "Yard", "--geohash", "u9edp2", *mirror)
    owner.json("channel", "create", "next-door", "--name", "Next door", "--geohash", "u9edq", *mirror)
    far = owner.json("channel", "create", "far", "--name", "Far", "--geohash", "u9fz1", *mirror)
    owner.ok("post", "yard", "Gate closed")
    bundle = tmp_path / "yard.bundle"
    owner.ok("export", "-o", str(bundle), "--channel", "yard")  # the definition reaches the reader by hand
    owner.ok("post", "yard", "Gate open again")
    owner.ok("post", "next-door", "Shop has bread")
    owner.ok("post", "far", "Far away news")
    owner.ok("sync", recorded.direct, "--direction", "up")  # straight to the relay, not through the recorder
    assert recorded.filters == []

    config = reader.home / "config.toml"
    text = config.read_text()
    assert "private = true\n" in text  # the default
    # Old posts by channel would name the channel to the relay once (docs/safety.md); this test shows the rest.
    config.write_text(text.replace("interval = 300", "interval = 2").replace("old_by_channel = true",
                                                                            "old_by_channel = false"))  # fmt: skip
    reader.ok("import", str(bundle))
    reader.ok("follow", yard["naddr"])
    serve(reader.home)

    wait_until(lambda: texts(reader, yard["naddr"]) == {"Gate closed", "Gate open again"}, FIRST_SYNC, "area sync")

    seen = list(recorded.filters)
    assert {"kinds": [5, 1985, 2333, 30333], "#g": ["u9ed"]} in seen  # the NEG-OPEN of the area
    owner_key = yard["address"].split(":")[1]
    for flt in seen:
        assert flt.get("#g") == ["u9ed"] or ("ids" in flt and set(flt) <= {"ids", "limit", "until"}), flt
    wire = json.dumps(seen)
    assert "yard" not in wire
    assert owner_key not in wire
    assert texts(reader, far["naddr"]) == set()  # another area: never asked for, never received
    status = reader.json("status")
    assert status["reading"]["areas"][0]["cell"] == "u9ed"
    assert "Private reading: areas fetched whole: u9ed" in reader.ok("status").out

    # The follow list: backed up encrypted, gone, restored.
    backed = reader.json("follows", "backup", recorded.direct)
    assert backed["channels"] == 1
    reader.ok("unfollow", yard["naddr"])
    assert reader.json("status")["follows"] == 0
    restored = reader.json("follows", "restore", recorded.direct)
    assert restored["added"] == 1
    assert reader.json("status")["follows"] == 1
