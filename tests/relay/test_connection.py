"""The sans-IO relay protocol: every client message gives the right actions, with no sockets involved."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import orjson
import pytest

import samizdat.relay.connection as connection_module
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.relay.connection import (
    CloseConnection,
    Count,
    NegRequest,
    RelayConnection,
    Send,
    StoreEvent,
    Subscribe,
    Unsubscribe,
    event_frame,
    event_frame_prefix,
    ok_for_outcome,
)
from samizdat.relay.limits import RelayInfo, RelayLimits, nip11_document
from samizdat.store.base import AddOutcome
from samizdat.testing import FakeClock

KEY = SecretKey(bytes.fromhex("02" * 32))
NOW = 1_800_000_000


def conn(clock: FakeClock | None = None, **limits: Any) -> RelayConnection:
    return RelayConnection(RelayLimits(**limits), clock=clock or FakeClock(NOW))


def event(created_at: int = NOW, **kw: Any) -> Event:
    return sign_event(KEY, kw.pop("kind", 1), kw.pop("content", "hi"), kw.pop("tags", ()), created_at=created_at)


def msg(*parts: Any) -> bytes:
    return orjson.dumps(list(parts))


def frames(actions: list[Any]) -> list[Any]:
    assert all(isinstance(a, Send) for a in actions), actions
    return [orjson.loads(a.frame) for a in actions]


def only_frame(actions: list[Any]) -> Any:
    (frame,) = frames(actions)
    return frame


def test_module_does_no_io() -> None:
    tree = ast.parse(Path(connection_module.__file__).read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"asyncio", "socket", "websockets", "sqlite3", "time"}


# EVENT


def test_valid_event_is_stored_and_ok_follows_outcome() -> None:
    ev = event()
    (action,) = conn().receive(msg("EVENT", ev.to_dict()))
    assert action == StoreEvent(ev)
    assert orjson.loads(ok_for_outcome(ev.id, AddOutcome.STORED)) == ["OK", ev.id, True, ""]
    assert orjson.loads(ok_for_outcome(ev.id, AddOutcome.DUPLICATE))[2:] == [True, "duplicate: already have this event"]
    assert orjson.loads(ok_for_outcome(ev.id, AddOutcome.DELETED))[2] is False


def test_event_accepts_str_and_bytes() -> None:
    ev = event()
    assert conn().receive(msg("EVENT", ev.to_dict()).decode()) == [StoreEvent(ev)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sig": "00" * 64}, "invalid: signature is wrong"),
        ({"content": "changed"}, "invalid: event id does not match its content"),
        ({"kind": "1"}, "invalid: kind must be an integer"),
        ({"created_at": 1.5}, "invalid: created_at must be an integer"),
        ({"created_at": -1}, "invalid: created_at out of range (-1)"),
        ({"created_at": True}, "invalid: created_at must be an integer"),
        ({"tags": [["t", 1]]}, "invalid: tags must be an array of arrays of strings"),
        ({"tags": "x"}, "invalid: tags must be an array of arrays of strings"),
        ({"pubkey": "AB" * 32}, "invalid: pubkey must be 64 lowercase hex characters"),
        ({"content": None}, "invalid: content must be a string"),
    ],
)
def test_bad_event_gets_ok_false_invalid(change: dict[str, Any], reason: str) -> None:
    raw = event().to_dict() | change
    assert only_frame(conn().receive(msg("EVENT", raw))) == ["OK", raw["id"], False, reason]


def test_missing_field_is_invalid() -> None:
    raw = event().to_dict()
    del raw["sig"]
    assert only_frame(conn().receive(msg("EVENT", raw)))[2:] == [False, "invalid: event has no 'sig' field"]


@pytest.mark.parametrize("bad_id", [None, 5, "xyz", "AB" * 32, "ab" * 33])
def test_unreadable_id_gets_notice(bad_id: Any) -> None:
    raw = event().to_dict() | {"id": bad_id}
    verb, text = only_frame(conn().receive(msg("EVENT", raw)))
    assert verb == "NOTICE"
    assert text.startswith("invalid:")


@pytest.mark.parametrize("message", [["EVENT"], ["EVENT", "x"], ["EVENT", [1]], ["EVENT", {}, {}]])
def test_malformed_event_message_gets_notice(message: list[Any]) -> None:
    assert only_frame(conn().receive(msg(*message)))[0] == "NOTICE"


def test_created_at_window() -> None:
    clock = FakeClock(NOW)
    c = conn(clock, created_at_future_seconds=900, created_at_past_seconds=3600)
    assert isinstance(c.receive(msg("EVENT", event(NOW + 900).to_dict()))[0], StoreEvent)
    future = event(NOW + 901)
    assert only_frame(c.receive(msg("EVENT", future.to_dict()))) == [
        "OK",
        future.id,
        False,
        "invalid: created_at too far in the future",
    ]
    old = event(NOW - 3601)
    assert only_frame(c.receive(msg("EVENT", old.to_dict())))[3] == "invalid: created_at too far in the past"
    clock.now += 10  # time moves on: the future event becomes acceptable
    assert isinstance(c.receive(msg("EVENT", future.to_dict()))[0], StoreEvent)


def test_tag_and_content_limits() -> None:
    c = conn(max_event_tags=3, max_content_length=5)
    many = event(tags=[["t", str(i)] for i in range(4)])
    assert only_frame(c.receive(msg("EVENT", many.to_dict())))[3] == "invalid: too many tags (4 > 3)"
    long = event(content="привет")  # 6 characters, 12 bytes
    assert only_frame(c.receive(msg("EVENT", long.to_dict())))[3] == "invalid: content longer than 5 characters"
    assert isinstance(c.receive(msg("EVENT", event(content="пять!").to_dict()))[0], StoreEvent)


def test_event_rate_limit_refills_with_time() -> None:
    clock = FakeClock(NOW)
    c = conn(clock, events_per_second=2, events_burst=3)
    ev = event()
    answers = [c.receive(msg("EVENT", ev.to_dict()))[0] for _ in range(5)]
    assert all(isinstance(a, StoreEvent) for a in answers[:3])
    assert frames(answers[3:]) == [["OK", ev.id, False, "rate-limited: too many events, slow down"]] * 2
    clock.now += 0.5  # one token back
    assert isinstance(c.receive(msg("EVENT", ev.to_dict()))[0], StoreEvent)
    assert isinstance(c.receive(msg("EVENT", ev.to_dict()))[0], Send)


def test_verify_false_leaves_only_the_signature_to_the_transport() -> None:
    c = RelayConnection(RelayLimits(), clock=FakeClock(NOW), verify=False)
    good = event()
    forged = good.to_dict() | {"sig": "00" * 64}
    assert c.receive(msg("EVENT", good.to_dict())) == [StoreEvent(good, verified=False)]
    (action,) = c.receive(msg("EVENT", forged))
    assert isinstance(action, StoreEvent)
    assert action.verified is False  # the transport must check it (and would refuse it)
    # Every cheaper check still happens here.
    changed = good.to_dict() | {"content": "changed"}
    assert only_frame(c.receive(msg("EVENT", changed)))[3] == "invalid: event id does not match its content"
    # The default checks it in the core, so no other user of the protocol gets an unchecked event.
    assert only_frame(conn().receive(msg("EVENT", forged)))[3] == "invalid: signature is wrong"
    assert conn().receive(msg("EVENT", good.to_dict())) == [StoreEvent(good, verified=True)]


def test_connections_sharing_a_bucket_share_the_event_rate() -> None:
    # The server gives every connection from one remote address the same bucket: opening more connections does
    # not multiply what a device may send.
    from samizdat.relay.connection import TokenBucket

    clock = FakeClock(NOW)
    shared = TokenBucket(rate=0.001, burst=3, now=clock())
    first, second = (RelayConnection(RelayLimits(), clock=clock, event_bucket=shared) for _ in range(2))
    ev = event()
    assert isinstance(first.receive(msg("EVENT", ev.to_dict()))[0], StoreEvent)
    assert isinstance(first.receive(msg("EVENT", ev.to_dict()))[0], StoreEvent)
    assert isinstance(second.receive(msg("EVENT", ev.to_dict()))[0], StoreEvent)
    assert only_frame(second.receive(msg("EVENT", ev.to_dict())))[3].startswith("rate-limited:")
    assert only_frame(first.receive(msg("EVENT", ev.to_dict())))[3].startswith("rate-limited:")
    assert isinstance(conn().receive(msg("EVENT", ev.to_dict()))[0], StoreEvent)  # others have their own


def test_bad_signature_is_checked_after_rate_limit() -> None:
    # A flood of bad signatures costs no verification once the bucket is empty.
    c = conn(events_per_second=0.001, events_burst=1)
    raw = event().to_dict() | {"sig": "00" * 64}
    assert only_frame(c.receive(msg("EVENT", raw)))[3] == "invalid: signature is wrong"
    assert only_frame(c.receive(msg("EVENT", raw)))[3].startswith("rate-limited:")


# framing


@pytest.mark.parametrize(
    "data",
    [b"", b"nonsense", b"[", b"{}", b"[]", b"[1]", b'"EVENT"', b"[null]", b'["REQ", "a", {}', b"\xef\xbb\xbf[]"],
)
def test_malformed_messages_get_notice(data: bytes) -> None:
    verb, text = only_frame(conn().receive(data))
    assert verb == "NOTICE"
    assert text.startswith("invalid:")


def test_deeply_nested_json_is_malformed() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert only_frame(conn().receive(deep))[0] == "NOTICE"
    nested_filter = b'["REQ","s",' + b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"]"
    assert only_frame(conn().receive(nested_filter))[0] == "NOTICE"


def test_invalid_utf8_closes_the_connection() -> None:
    (action,) = conn().receive(b'["REQ","\xff\xfe",{}]')
    assert action == CloseConnection(1007, "invalid UTF-8")


def test_oversized_message_gets_notice() -> None:
    c = conn(max_message_bytes=100)
    assert only_frame(c.receive(msg("REQ", "s", {"search": "x" * 200})))[0] == "NOTICE"


def test_unknown_message_type_gets_notice() -> None:
    assert only_frame(conn().receive(msg("AUTH", "x"))) == ["NOTICE", "invalid: unknown message type 'AUTH'"]
    text = only_frame(conn().receive(msg("Z" * 1000)))[1]
    assert len(text) < 200


# REQ / CLOSE


def test_req_subscribes_with_default_limit() -> None:
    (action,) = conn(default_limit=7).receive(msg("REQ", "s", {"kinds": [1]}, {"limit": 99999}))
    assert isinstance(action, Subscribe)
    assert action.sub_id == "s"
    assert [f.limit for f in action.filters] == [7, 5000]


def test_req_limit_leaves_room_for_every_id() -> None:
    ids = [f"{i:064x}" for i in range(20)]
    (action,) = conn(default_limit=5).receive(msg("REQ", "s", {"ids": ids}))
    assert isinstance(action, Subscribe)
    assert action.filters[0].limit == 20


def test_reused_sub_id_replaces_and_close_unsubscribes() -> None:
    c = conn(max_subscriptions=1)
    assert isinstance(c.receive(msg("REQ", "s", {}))[0], Subscribe)
    assert isinstance(c.receive(msg("REQ", "s", {"kinds": [1]}))[0], Subscribe)  # replaces: not a second one
    assert c.receive(msg("CLOSE", "s")) == [Unsubscribe("s")]
    assert c.receive(msg("CLOSE", "s")) == []  # closing an unknown subscription is harmless
    assert isinstance(c.receive(msg("REQ", "t", {}))[0], Subscribe)


def test_too_many_subscriptions_is_closed_blocked() -> None:
    c = conn(max_subscriptions=2)
    for sub in ("a", "b"):
        assert isinstance(c.receive(msg("REQ", sub, {}))[0], Subscribe)
    assert only_frame(c.receive(msg("REQ", "c", {}))) == ["CLOSED", "c", "blocked: too many subscriptions (limit 2)"]
    c.receive(msg("CLOSE", "a"))
    assert isinstance(c.receive(msg("REQ", "c", {}))[0], Subscribe)


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ([{"kinds": "1"}], "invalid: kinds must be an array"),
        ([{"authors": ["xyz"]}], "invalid: authors must be 64-character lowercase hex strings"),
        ([{"since": -5}], "invalid: since must be a non-negative integer timestamp"),
        ([{"limit": 1.5}], "invalid: limit must be a non-negative integer"),
        ([7], "invalid: filter must be a JSON object"),
        ([], "invalid: at least one filter is needed"),
        ([{}] * 11, "invalid: too many filters (11 > 10)"),
        ([{"ids": ["00" * 32] * 1001}], "invalid: ids has too many values (1001 > 1000)"),
    ],
)
def test_bad_filters_are_closed_invalid(filters: list[Any], reason: str) -> None:
    assert only_frame(conn().receive(msg("REQ", "s", *filters))) == ["CLOSED", "s", reason]


def test_bad_filter_on_open_id_ends_the_old_subscription() -> None:
    c = conn()
    c.receive(msg("REQ", "s", {}))
    actions = c.receive(msg("REQ", "s", {"kinds": "x"}))
    assert actions[0] == Unsubscribe("s")
    assert orjson.loads(actions[1].frame)[:2] == ["CLOSED", "s"]
    assert c.subscriptions == set()


@pytest.mark.parametrize("sub_id", ["", "x" * 65])
def test_bad_sub_id_string_is_closed(sub_id: str) -> None:
    verb, got, reason = only_frame(conn().receive(msg("REQ", sub_id, {})))
    assert (verb, got) == ("CLOSED", sub_id)
    assert reason.startswith("invalid: subscription id")


@pytest.mark.parametrize("message", [["REQ"], ["REQ", 5, {}], ["CLOSE"], ["CLOSE", 1], ["COUNT", None]])
def test_sub_id_not_a_string_gets_notice(message: list[Any]) -> None:
    assert only_frame(conn().receive(msg(*message)))[0] == "NOTICE"


def test_req_rate_limit() -> None:
    c = conn(reqs_per_second=0.001, reqs_burst=2)
    c.receive(msg("REQ", "a", {}))
    c.receive(msg("COUNT", "b", {}))
    assert only_frame(c.receive(msg("REQ", "c", {})))[:2] == ["CLOSED", "c"]
    actions = c.receive(msg("REQ", "a", {}))  # the refused REQ reuses "a": "a" is gone too
    assert actions[0] == Unsubscribe("a")
    assert orjson.loads(actions[1].frame)[2].startswith("rate-limited:")


def test_server_side_close() -> None:
    c = conn()
    c.receive(msg("REQ", "s", {}))
    assert orjson.loads(c.close_subscription("s", "error: too slow") or b"") == ["CLOSED", "s", "error: too slow"]
    assert c.close_subscription("s", "again") is None
    assert c.subscriptions == set()


# COUNT


def test_count_has_no_default_limit() -> None:
    (action,) = conn(default_limit=3).receive(msg("COUNT", "q", {"kinds": [1]}))
    assert isinstance(action, Count)
    assert action.filters[0].limit is None
    assert only_frame(conn().receive(msg("COUNT", "q", {"kinds": 1})))[:2] == ["CLOSED", "q"]


# NIP-77 extension point


def test_negentropy_disabled_answers_neg_err() -> None:
    frame = only_frame(conn().receive(msg("NEG-OPEN", "n", {}, "61")))
    assert frame[:2] == ["NEG-ERR", "n"]
    assert frame[2].startswith("error:")
    assert conn().receive(msg("NEG-CLOSE", "n")) == []


def test_negentropy_enabled_hands_requests_on() -> None:
    c = RelayConnection(RelayLimits(), clock=FakeClock(NOW), negentropy=True)
    assert c.receive(msg("NEG-OPEN", "n", {}, "61")) == [NegRequest("NEG-OPEN", "n", ({}, "61"))]
    assert c.receive(msg("NEG-MSG", "n", "62")) == [NegRequest("NEG-MSG", "n", ("62",))]


# frames and NIP-11


def test_event_frame_is_built_from_cached_json() -> None:
    ev = event()
    frame = event_frame(event_frame_prefix('a"b'), ev)
    assert orjson.loads(frame) == ["EVENT", 'a"b', ev.to_dict()]


def test_nip11_document() -> None:
    doc = nip11_document(RelayInfo(name="Minsk hub", pubkey="ab" * 32), RelayLimits(created_at_past_seconds=60))
    assert doc["name"] == "Minsk hub"
    assert doc["pubkey"] == "ab" * 32
    assert doc["supported_nips"] == [1, 9, 11, 40, 45, 50]
    assert doc["limitation"]["max_message_length"] == 256 * 1024
    assert doc["limitation"]["created_at_lower_limit"] == 60
    assert 77 in nip11_document(RelayInfo(), RelayLimits(), extra_nips=(77,))["supported_nips"]
    assert "software" not in doc


@pytest.mark.parametrize("outcome", list(AddOutcome))
def test_the_ok_for_each_outcome_is_the_json_a_client_expects(outcome: AddOutcome) -> None:
    event_id = "0123456789abcdef" * 4
    frame = connection_module.ok_for_outcome(event_id, outcome)
    assert orjson.loads(frame) == ["OK", event_id, outcome.accepted, outcome.reply]
    assert frame == orjson.dumps(["OK", event_id, outcome.accepted, outcome.reply])  # compact, as ever
