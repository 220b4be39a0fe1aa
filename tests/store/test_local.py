"""The node's own state: follows and the outbox survive a restart; retries are scheduled, not lost."""

from __future__ import annotations

from pathlib import Path

from samizdat.store.local import LocalState


def test_follows_merge_hints_and_survive_reopen(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "local.sqlite")
    assert state.follow("30333:aa:x", ["wss://a"], now=1)
    assert not state.follow("30333:aa:x", ["wss://b", "wss://a"], now=2)
    state.close()
    again = LocalState(tmp_path / "local.sqlite")
    assert again.follows() == {"30333:aa:x": ["wss://a", "wss://b"]}
    assert again.unfollow("30333:aa:x")
    assert not again.unfollow("30333:aa:x")
    again.close()


def test_outbox_lifecycle(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "local.sqlite")
    assert state.enqueue("e1", ["wss://a", "wss://b"], now=10) == 2
    assert state.enqueue("e1", ["wss://a"], now=11) == 0
    assert {r.relay for r in state.due(now=10)} == {"wss://a", "wss://b"}
    state.record_attempt("e1", "wss://a", accepted=True, message="", final=True, next_attempt=10)
    state.record_attempt("e1", "wss://b", accepted=False, message="error: down", final=False, next_attempt=50)
    assert state.due(now=20) == []
    assert state.next_due() == 50
    state.close()
    again = LocalState(tmp_path / "local.sqlite")
    [row] = again.due(now=50)
    assert (row.relay, row.attempts, row.last_message) == ("wss://b", 1, "error: down")
    assert [r.state for r in again.outbox()] == ["accepted", "pending"]
    again.close()


def test_sync_rows_count_failures(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "local.sqlite")
    state.record_sync("wss://a", "*", now=1, ok=False, next_attempt=31, summary={"error": "x"})
    state.record_sync("wss://a", "*", now=31, ok=False, next_attempt=91, summary={"error": "x"})
    row = state.sync_row("wss://a", "*")
    assert row is not None
    assert row.failures == 2
    assert row.last_success is None
    state.record_sync("wss://a", "*", now=91, ok=True, next_attempt=391, summary={"need": 3})
    row = state.sync_row("wss://a", "*")
    assert row is not None
    assert row.failures == 0
    assert row.last_success == 91
    assert row.summary == {"need": 3}
    state.close()


def test_peers_are_remembered_with_their_counters(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "local.sqlite")
    assert state.add_peer("ws://10.0.0.2:4848", "manual", now=5)
    assert not state.add_peer("ws://10.0.0.2:4848", "mdns", now=6, name="Block 7 hub")
    assert state.add_peer("ws://10.0.0.3:4848", "mdns", now=7)
    state.update_peer("ws://10.0.0.2:4848", state="live", last_sync=9, events_in=3, events_out=1)
    state.update_peer("ws://10.0.0.2:4848", events_in=2, bytes_in=100)
    state.update_peer("ws://nobody:1", state="live")  # unknown peers are ignored
    state.close()
    again = LocalState(tmp_path / "local.sqlite")
    first = again.peer("ws://10.0.0.2:4848")
    assert first is not None
    assert (first.source, first.name, first.state, first.last_sync) == ("manual", "Block 7 hub", "live", 9)
    assert (first.events_in, first.events_out, first.bytes_in) == (5, 1, 100)
    assert [p.url for p in again.peers()] == ["ws://10.0.0.2:4848", "ws://10.0.0.3:4848"]
    assert again.remove_peer("ws://10.0.0.3:4848")
    assert not again.remove_peer("ws://10.0.0.3:4848")
    again.close()
