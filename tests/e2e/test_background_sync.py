"""``samizdat serve`` keeps followed channels in step with their mirrors, in the background.

Node A owns a channel whose mirror is A's own relay; node B follows it (``samizdat follow naddr``) and serves. With
``[sync] interval = 2`` in B's ``config.toml``, B's background sync pulls the channel's posts from A, later posts
too; when A goes away, B records the failures (``samizdat status --json``) and keeps running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

pytestmark = pytest.mark.slow

FIRST_SYNC = 60.0  # B's first background pass, including start-up
# A later post reaches B within B's sync interval plus A's negentropy cache min_staleness, with room to spare.
LATER_POST = 90.0
FAILURES = 60.0


def texts(cli: Cli, naddr: str) -> set[str]:
    result = cli("feed", naddr, "--json")
    if result.code != 0:  # B has not got the channel's definition yet
        return set()
    return {item["text"] for item in result.json()}


def sync_rows(cli: Cli, relay: str) -> list[dict[str, Any]]:
    return [row for row in cli.json("status")["sync"] if row["relay"] == relay]


def test_followed_channel_is_kept_in_sync_in_the_background(
    make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess], wait_until: Callable[..., Any]
) -> None:
    owner, reader = make_cli("owner"), make_cli("reader")
    owner.ok("init")
    reader.ok("init")
    node_a = serve(owner.home)
    created = owner.json("channel", "create", "news", "--name", "Frunzenski news", "--mirror", node_a.url)
    naddr = created["naddr"]
    owner.ok("post", "news", "Metro station closed")
    owner.ok("post", "news", "Water at the church")

    config = reader.home / "config.toml"
    config.write_text(config.read_text().replace("interval = 300", "interval = 2"))
    assert "interval = 2\n" in config.read_text()
    followed = reader.json("follow", naddr)
    assert followed["relays"] == [node_a.url]
    node_b = serve(reader.home)

    # The background loop fetches the channel (definition and posts) from its mirror.
    wait_until(
        lambda: texts(reader, naddr) == {"Metro station closed", "Water at the church"}, FIRST_SYNC, "first sync"
    )

    # A post made later on A arrives at B by itself.
    owner.ok("post", "news", "Metro open again")
    wait_until(lambda: "Metro open again" in texts(reader, naddr), LATER_POST, "the later post reaching B")
    rows = sync_rows(reader, node_a.url)
    assert rows
    assert all(row["failures"] == 0 for row in rows)
    assert all(row["last_success"] for row in rows)

    # A goes away: B's attempts fail, are recorded and counted, and B keeps running.
    node_a.stop()
    first = wait_until(
        lambda: max((row["failures"] for row in sync_rows(reader, node_a.url)), default=0), FAILURES, "a failure"
    )
    wait_until(
        lambda: max(row["failures"] for row in sync_rows(reader, node_a.url)) > first,
        FAILURES,
        "failures counting up",
    )
    failing = [row for row in sync_rows(reader, node_a.url) if row["failures"]]
    assert failing
    assert all("error" in row["summary"] for row in failing)
    assert node_b.process.poll() is None, node_b.output()
    assert texts(reader, naddr) >= {"Metro station closed", "Water at the church", "Metro open again"}
    assert "Traceback" not in node_b.output()
