"""The node status the web app shows: relays and whether they answered, last sync, LAN peers, data carried."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samizdat.config import Config
from samizdat.core.keys import SecretKey
from samizdat.store.local import LocalState
from samizdat.store.memory import MemoryStore
from samizdat.web.status import node_status


@dataclass
class FakeMesh:
    peers: list[dict[str, Any]] = field(default_factory=list)

    def snapshot(self) -> list[dict[str, Any]]:
        return self.peers


@dataclass
class FakeNode:
    local: LocalState
    config: Config = field(default_factory=lambda: Config(name="Block 7 hub"))
    key: SecretKey = field(default_factory=lambda: SecretKey(bytes([1]) * 32))
    store: MemoryStore = field(default_factory=MemoryStore)
    clock: Callable[[], float] = time.time


async def test_relays_reachability_sync_and_carried(tmp_path: Path) -> None:
    local = LocalState(tmp_path / "local.sqlite")
    try:
        local.record_sync("wss://up.example", "*", now=100.0, ok=True, next_attempt=400.0,
                          summary={"received": 7, "sent": 2})  # fmt: skip
        local.record_sync("wss://down.example", "*", now=90.0, ok=False, next_attempt=400.0,
                          summary={"error": "connection refused"})  # fmt: skip
        local.enqueue("a" * 64, ["wss://up.example", "wss://outbox-only.example", "wss://never.example"], 50.0)
        local.record_attempt("a" * 64, "wss://up.example", accepted=True, message="", final=True, next_attempt=0)
        local.record_attempt("a" * 64, "wss://outbox-only.example", accepted=False, message="timed out",
                             final=False, next_attempt=999.0)  # fmt: skip
        status = await node_status(FakeNode(local))
    finally:
        local.close()
    relays = {r["url"]: r for r in status["relays"]}
    assert relays["wss://up.example"]["reachable"] is True
    assert relays["wss://up.example"]["last_success"] == 100.0
    assert relays["wss://up.example"]["delivered"] == 1
    assert relays["wss://down.example"]["reachable"] is False
    assert relays["wss://down.example"]["last_error"] == "connection refused"
    assert relays["wss://outbox-only.example"]["reachable"] is False
    assert relays["wss://outbox-only.example"]["pending"] == 1
    assert relays["wss://never.example"]["reachable"] is None  # not tried yet
    assert status["carried"] == {
        "received": 7, "sent": 2, "delivered": 1,
        "quota_bytes": 256_000_000, "store_bytes": None, "carried_bytes": None, "dropped": 0,
    }  # fmt: skip
    assert status["reachability"] == []
    assert status["peers"] is None  # no LAN discovery on this node
    assert status["name"] == "Block 7 hub"
    assert status["npub"].startswith("npub1")


async def test_lan_peers_from_the_mesh(tmp_path: Path) -> None:
    local = LocalState(tmp_path / "local.sqlite")
    node = FakeNode(local)
    peer = {"url": "ws://10.0.0.2:4848", "name": "flat 12", "source": "mdns", "state": "live", "last_seen": 5.0,
            "last_sync": None,
            "events_in": 3, "events_out": 0, "secret": "not shown"}  # fmt: skip
    node.mesh = FakeMesh([peer])  # type: ignore[attr-defined]
    try:
        status = await node_status(node)
    finally:
        local.close()
    assert status["peers"] == [{k: v for k, v in peer.items() if k != "secret"}]
