"""The decoy store kept in step while the real node serves (services/spare.py), in-process: a real encrypted node
serving on loopback, its decoy following a channel on a real relay on loopback. The decoy store gets the channel,
the real store does not, and serve closes the decoy's stores when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from pathlib import Path

import pytest

from samizdat.config import Config, load_config
from samizdat.core import kinds
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.core.sealing import NodeKeys
from samizdat.errors import UsageError
from samizdat.node import Node
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import keyring, spare
from samizdat.services.keyring import TEST_PARAMS
from samizdat.store.dbapi import connect
from samizdat.store.local import LocalState
from samizdat.testing import free_port, running_relay, wait_until

SYNCED = 30.0  # the decoy's first background pass runs as serve starts; this bounds it on a busy machine


def holds(directory: Path, keys: NodeKeys, event_id: str) -> bool:
    """Whether the store in ``directory`` (under ``keys``) holds the event, read beside a running node."""
    conn = connect(str(directory / "events.sqlite"), keys.events)
    try:
        return conn.execute("SELECT 1 FROM events WHERE id = ?", (bytes.fromhex(event_id),)).fetchone() is not None
    finally:
        conn.close()


def follow(directory: Path, keys: NodeKeys, address: str, relay: str) -> None:
    """Follow ``address`` on ``relay`` in the local state in ``directory`` (the decoy's, before serve starts)."""
    local = LocalState(directory / "local.sqlite", key=keys.local)
    try:
        local.follow(address, [relay], int(time.time()))
    finally:
        local.close()


def sync_relays(directory: Path, keys: NodeKeys, address: str, relay: str) -> bool:
    local = LocalState(directory / "local.sqlite", key=keys.local)
    try:
        return local.sync_row(relay, address) is not None
    finally:
        local.close()


async def test_serve_keeps_the_decoy_store_in_step_apart_from_the_real_one(tmp_path: Path) -> None:
    stranger = SecretKey(bytes([7]) * 32)
    home = tmp_path / "home"
    keys = keyring.create(home, "real", TEST_PARAMS)
    decoy_home = spare.directory(home)
    async with running_relay(tmp_path / "relays", negentropy=NegentropyService()) as mirror:
        now = int(time.time())
        definition = build_channel_event(stranger, "yard", "Yard", created_at=now - 60, mirrors=[mirror.url])
        post = build_post(stranger, parse_channel(definition), "news", "Gate closed", created_at=now - 30)
        await mirror.store.add_many([definition, post])
        address = f"{kinds.CHANNEL}:{stranger.public_key_hex}:yard"
        follow(decoy_home, keys.decoy, address, mirror.url)

        node = await Node.open(home, keys=keys.node)
        try:
            serving = asyncio.create_task(node.serve("127.0.0.1", 0, decoy=keys.decoy))
            try:
                await wait_until(  # the post stored, and the pass that brought it recorded (it ends after the store)
                    lambda: (
                        holds(decoy_home, keys.decoy, post.id)
                        and sync_relays(decoy_home, keys.decoy, address, mirror.url)
                    ),
                    timeout=SYNCED,
                    what="the decoy store in step",
                )
                assert not serving.done()
            finally:
                serving.cancel()  # as SIGTERM and `samizdat lock` stop it
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
        finally:
            await node.close()

    assert holds(decoy_home, keys.decoy, definition.id)
    assert not holds(home, keys.node, post.id)  # nothing of the decoy's channel in the real store
    assert not holds(home, keys.node, definition.id)
    assert sync_relays(decoy_home, keys.decoy, address, mirror.url)  # its progress in its own local state
    assert not sync_relays(home, keys.node, address, mirror.url)
    # Closed with serve: the last connection gone, SQLite has folded its write-ahead log back in.
    assert not (decoy_home / "events.sqlite-wal").exists()
    assert not (decoy_home / "local.sqlite-wal").exists()


def failures(directory: Path, keys: NodeKeys, relay: str) -> list[str]:
    local = LocalState(directory / "local.sqlite", key=keys.local)
    try:
        return [str(row.summary.get("error")) for row in local.sync_rows() if row.relay == relay and row.failures]
    finally:
        local.close()


async def test_the_decoy_syncs_through_the_real_nodes_proxy_only(tmp_path: Path) -> None:
    stranger = SecretKey(bytes([8]) * 32)
    home = tmp_path / "home"
    keys = keyring.create(home, "real", TEST_PARAMS)
    decoy_home = spare.directory(home)
    async with running_relay(tmp_path / "relays", negentropy=NegentropyService()) as mirror:
        now = int(time.time())
        definition = build_channel_event(stranger, "yard", "Yard", created_at=now - 60, mirrors=[mirror.url])
        await mirror.store.add_many([definition])
        follow(decoy_home, keys.decoy, f"{kinds.CHANNEL}:{stranger.public_key_hex}:yard", mirror.url)
        # A proxy that is not there: with it set, nothing may go to the relay directly, so every try fails.
        config = replace(load_config(home), proxy=f"socks5h://127.0.0.1:{free_port()}")

        node = await Node.open(home, config, keys=keys.node)
        try:
            serving = asyncio.create_task(node.serve("127.0.0.1", 0, decoy=keys.decoy))
            try:
                errors = await wait_until(
                    lambda: failures(decoy_home, keys.decoy, mirror.url), timeout=SYNCED, what="a failed decoy sync"
                )
            finally:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
        finally:
            await node.close()

    assert all("the proxy" in error for error in errors), errors  # each try went to the proxy
    assert not holds(decoy_home, keys.decoy, definition.id)  # not fetched around the proxy


def test_decoy_sync_can_be_switched_off(tmp_path: Path) -> None:
    decoy = NodeKeys.derive(bytes(32))
    assert spare.keys(Config(), decoy) is decoy  # on by default
    assert spare.keys(replace(Config(), decoy_sync=False), decoy) is None
    assert spare.keys(Config(), None) is None  # a plain node has no decoy store
    (tmp_path / "config.toml").write_text("[safety]\ndecoy_sync = false\n")
    assert load_config(tmp_path).decoy_sync is False
    (tmp_path / "config.toml").write_text('[safety]\ndecoy_sync = "no"\n')
    with pytest.raises(UsageError, match="decoy_sync must be true or false"):
        load_config(tmp_path)


def test_an_unlock_leaves_a_decoy_store_another_process_holds_locked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keys = keyring.create(home, "real", TEST_PARAMS)
    decoy_home = spare.directory(home)
    local = LocalState(decoy_home / "local.sqlite", key=keys.decoy.local)
    local.follow(f"{kinds.CHANNEL}:{'ab' * 32}:yard", [], 1)
    local.close()
    # A writer holding the decoy's event store (as a running serve's may, for a moment): a command's unlock must
    # not take the busy file for a damaged one and empty it.
    holder = connect(str(decoy_home / "events.sqlite"), keys.decoy.events)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("CREATE TABLE held (x)")
        assert keyring.unlock_keys(home, "real") == keys
        holder.execute("COMMIT")
    finally:
        holder.close()
    assert keyring.decoy_follow(home, keyring.open_slots(home, "real"), []) == [f"{kinds.CHANNEL}:{'ab' * 32}:yard"]
    conn = connect(str(decoy_home / "events.sqlite"), keys.decoy.events)
    try:
        assert conn.execute("SELECT count(*) FROM held").fetchone() == (0,)  # the same store, not a new one
    finally:
        conn.close()
