"""The one rule every door applies to an event: the relay's per-event limits, with the relay's own words."""

from __future__ import annotations

import pytest

from samizdat.core.admission import DEFAULT_EVENT_LIMITS, EventLimits, admit, admit_all
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError
from samizdat.relay.limits import RelayLimits

KEY = SecretKey(bytes([5]) * 32)
NOW = 1_700_000_000
YEAR_2100 = 4_102_444_800


def event(content: str = "hello", tags: list[list[str]] | None = None, created_at: int = NOW, kind: int = 1) -> Event:
    return sign_event(KEY, kind, content, tags or [], created_at=created_at)


def reply(e: Event, limits: EventLimits = DEFAULT_EVENT_LIMITS, now: int = NOW) -> str | None:
    try:
        admit(e, now, limits)
    except RemoteProtocolError as exc:
        return exc.reply
    return None


def test_an_ordinary_event_passes() -> None:
    assert reply(event()) is None
    assert reply(event(created_at=NOW + 900)) is None  # clock skew allowance
    assert reply(event(created_at=0)) is None  # any age, by default


@pytest.mark.parametrize(
    ("hostile", "answer"),
    [
        (event(created_at=YEAR_2100), "invalid: created_at too far in the future"),
        (event(created_at=NOW + 901), "invalid: created_at too far in the future"),
        (event("x" * 450_000), "invalid: content longer than 65536 characters"),
        (event(tags=[["t", str(i)] for i in range(2001)]), "invalid: too many tags (2001 > 2000)"),
        (event(tags=[["t", "x" * 1000] for _ in range(300)]), "invalid: event larger than 262134 bytes"),
    ],
)
def test_what_no_door_lets_in(hostile: Event, answer: str) -> None:
    assert reply(hostile) == answer


def test_optional_limits() -> None:
    limits = EventLimits(past_seconds=3600, kinds=frozenset({1}))
    assert reply(event(created_at=NOW - 3601), limits) == "invalid: created_at too far in the past"
    assert reply(event(kind=7), limits) == "blocked: events of kind 7 are not accepted here"


def test_the_relays_limits_are_the_doors_limits() -> None:
    assert RelayLimits().event_limits == DEFAULT_EVENT_LIMITS
    tight = RelayLimits(max_event_tags=3, max_content_length=5, created_at_future_seconds=60, max_message_bytes=1000)
    assert tight.event_limits == EventLimits(max_tags=3, max_content_length=5, future_seconds=60, max_event_bytes=990)


def test_admit_all_keeps_the_order_and_says_why() -> None:
    good = [event(f"good {i}") for i in range(3)]
    bad = event(created_at=YEAR_2100)
    admitted, refused = admit_all([good[0], bad, good[1], good[2]], NOW)
    assert admitted == good
    assert [(e, exc.reply) for e, exc in refused] == [(bad, "invalid: created_at too far in the future")]
