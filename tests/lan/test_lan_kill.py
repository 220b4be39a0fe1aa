"""A node killed (SIGKILL, as in a power cut) in the middle of its first sync with a LAN neighbour that holds
20,000 posts loses nothing it had stored, and after a restart catches up on the rest by itself."""

from __future__ import annotations

import time

import pytest
from lan_data import add_to_store, channel_posts
from lan_netns import Lab, wait_for

pytestmark = pytest.mark.slow

SEEDED = 20_000
KILL_DEADLINE = 90.0
CATCH_UP_TIMEOUT = 180.0


def test_a_node_killed_mid_sync_loses_nothing_and_catches_up(lab: Lab) -> None:
    lan = lab.lan()
    archive, newcomer = lab.node(lan, "archive"), lab.node(lan, "newcomer")
    address, events = channel_posts(SEEDED, now=int(time.time()), name="archive")
    add_to_store(archive.store_path, events)
    seeded = {e.id for e in events}
    newcomer.ok("follow", address)  # a followed channel: the carry quota never drops its posts
    newcomer.json("channel", "create", "flat", "--name", "Flat 12")
    own = newcomer.post("flat", "Our own post, written before the node ever ran")
    own_before = newcomer.ids()

    archive.start("--lan")
    newcomer.start("--lan")
    deadline = time.monotonic() + KILL_DEADLINE
    got = 0
    while time.monotonic() < deadline and newcomer.running:
        got = len(newcomer.ids() & seeded)
        if got > 0:
            break
        time.sleep(0.02)
    assert 0 < got, f"the newcomer received nothing within {KILL_DEADLINE:.0f} s"
    assert newcomer.kill() == -9
    kept = newcomer.ids()
    print(f"\nkilled with {len(kept & seeded)} of {SEEDED} posts stored")
    assert own_before <= kept
    assert len(kept & seeded) < len(seeded), "the sync finished before the kill: nothing was interrupted"

    newcomer.start("--lan")
    started = time.monotonic()
    wait_for(lambda: seeded <= newcomer.ids(), CATCH_UP_TIMEOUT, "the newcomer holding all 20,000 posts")
    print(f"caught up in {time.monotonic() - started:.1f} s after the restart")
    assert kept <= newcomer.ids()  # nothing stored before the kill went missing
    wait_for(lambda: archive.has(own), 60, "the newcomer's own post on the archive")
    assert newcomer.count() == len(seeded | own_before)
