"""Posts written straight into a node's store before it starts (for scenarios that need many of them)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import store_key


def channel_posts(count: int, *, now: int, name: str = "archive") -> tuple[str, list[Event]]:
    """A fresh owner's channel definition followed by ``count`` of its posts, dated the ``count`` minutes
    before ``now``; returns (channel address, events)."""
    owner = SecretKey.generate()
    definition = build_channel_event(owner, name, f"{name.title()} channel", created_at=now - 60 * count - 60)
    channel = parse_channel(definition)
    posts = [
        build_post(owner, channel, "news", f"{name} post {i}", created_at=now - 60 * (count - i)) for i in range(count)
    ]
    return channel.address, [definition, *posts]


def add_to_store(store_path: Path, events: list[Event]) -> None:
    """Store ``events`` in the store file (no node may be running on it)."""

    async def add() -> None:
        store = await SqliteStore.open(store_path, key=store_key(store_path.parent))
        try:
            for start in range(0, len(events), 5000):
                await store.add_many(events[start : start + 5000])
        finally:
            await store.close()

    asyncio.run(add())
