"""The seizure rule (core/recovery.py): a recovery key's claim takes the owner key's power from ``since`` on, the
first recovery key a node saw stays the one it honours, and a claim that does not prove itself does nothing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import parse_event
from samizdat.core.posts import parse_vouch
from samizdat.core.recovery import SEIZED, build_claim, drop_linked, judge, parse_claim, vouched_key
from samizdat.core.thread import Status, post_verdict
from samizdat.core.trust import witnesses
from samizdat.errors import RemoteProtocolError, UsageError

_CASES = Path(__file__).with_name("recovery_cases.py")
_spec = importlib.util.spec_from_file_location("samizdat_recovery_cases", _CASES)
assert _spec is not None
assert _spec.loader is not None
rc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rc)
ADDRESS, NEW_OWNER, OWNER, RECOVERY, SUCCESSOR, T = rc.ADDRESS, rc.NEW_OWNER, rc.OWNER, rc.RECOVERY, rc.SUCCESSOR, rc.T
VECTORS, cases, claim, definition, to_json = rc.VECTORS, rc.cases, rc.claim, rc.definition, rc.to_json

CASES = cases()


def _from_file() -> list[dict[str, Any]]:
    loaded = json.loads(VECTORS.read_text(encoding="utf-8"))
    for case in loaded:
        for name in ("definitions", "claims", "posts", "vouches"):
            case[name] = [parse_event(e) for e in case[name]]
    return loaded


@pytest.mark.parametrize("case", [*CASES, *_from_file()], ids=[f"{c['name']} ({i})" for i, c in enumerate(
    [*CASES, *_from_file()])])  # fmt: skip
def test_each_case_is_judged_as_the_vectors_say(case: dict[str, Any]) -> None:
    vouches = witnesses(case["vouches"], case["verifiers"], case["now"]).get(case["address"], [])
    judgement = judge(case["address"], case["definitions"], case["claims"], case["remembered"], vouches)
    expect = case["expect"]
    channel = judgement.channel
    assert (channel is not None) == expect["readable"]
    assert channel is not None
    assert channel.seized_since == expect["seized_since"]
    assert channel.successor == expect["successor"]
    assert judgement.remember == expect["remember"]
    disputes = [[d.key, list(d.verifiers), d.successor] for d in channel.recovery_disputes]
    assert disputes == expect["disputes"], case["name"]
    if "name" in expect:
        assert channel.name == expect["name"]
    verdicts = [post_verdict(p, channel, case["now"]) for p in case["posts"]]
    assert [[v.ok, v.role] for v in verdicts] == expect["posts"]


def test_the_vector_file_has_these_cases() -> None:
    loaded = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert [(c["name"], c["expect"]) for c in loaded] == [(c["name"], c["expect"]) for c in json.loads(
        to_json(CASES))], "run: python tests/core/recovery_cases.py"  # fmt: skip


def test_a_post_of_the_seized_key_after_since_is_revoked_not_forged() -> None:
    first = definition(T, RECOVERY)
    channel = judge(ADDRESS, [first], [claim(RECOVERY, first, since=T + 10, created_at=T + 20)]).channel
    assert channel is not None
    fake = build_channel_event(OWNER, "other", "x", created_at=T)  # any event of the owner key after since
    verdict = post_verdict(fake, channel, T + 100)
    assert verdict.status is Status.NOT_A_POST  # kind first, as for every post
    from samizdat.core.posts import build_post

    post = build_post(OWNER, parse_channel(first), "news", "Gather at the square", created_at=T + 30)
    verdict = post_verdict(post, channel, T + 100)
    assert verdict.status is Status.REVOKED
    assert "seized" in verdict.reason


def test_without_a_recovery_key_in_the_definition_nothing_can_be_claimed() -> None:
    plain = definition(T, None)
    assert parse_channel(plain).recovery == ""
    with pytest.raises(UsageError, match="recovery key"):
        build_claim(RECOVERY, plain, SUCCESSOR, since=T, created_at=T + 1)


def test_a_claim_must_point_at_another_owner_key_and_not_reach_past_itself() -> None:
    first = definition(T, RECOVERY)
    with pytest.raises(UsageError, match="another owner key"):
        build_claim(RECOVERY, first, ADDRESS.replace(":yard", ":yard2"), since=T, created_at=T + 1)
    with pytest.raises(UsageError, match="no later than the claim"):
        build_claim(RECOVERY, first, SUCCESSOR, since=T + 5, created_at=T + 1)


def test_a_claim_carries_the_channels_area_and_is_found_by_its_t_tag() -> None:
    event = claim(RECOVERY, definition(T, RECOVERY), since=T, created_at=T + 1)
    assert ["g", "u9ed", "area"] in [list(t) for t in event.tags]
    assert SEIZED in event.tag_values("t")
    assert parse_claim(event).successor == SUCCESSOR


def test_a_bad_recovery_tag_names_no_key_and_keeps_the_definition_readable() -> None:
    from samizdat.core.event import sign_event

    event = sign_event(OWNER, 30333, "", [["d", "yard"], ["name", "Yard"], ["recovery", "zz"]], created_at=T)
    assert parse_channel(event).recovery == ""
    own = sign_event(OWNER, 30333, "", [["d", "yard"], ["name", "Yard"], ["recovery", OWNER.public_key_hex]],
                     created_at=T)  # fmt: skip
    assert parse_channel(own).recovery == ""
    with pytest.raises(RemoteProtocolError):
        parse_claim(own)


def test_a_successor_linked_by_a_claim_is_not_a_lookalike_of_the_seized_channel() -> None:
    pairs = {ADDRESS: (SUCCESSOR, "30333:" + NEW_OWNER.public_key_hex + ":x"), SUCCESSOR: (ADDRESS,)}
    assert drop_linked(pairs, {ADDRESS: SUCCESSOR}) == {ADDRESS: ("30333:" + NEW_OWNER.public_key_hex + ":x",)}


def test_a_vouch_names_the_recovery_key_it_saw_and_one_without_it_is_still_a_vouch() -> None:
    vouch = rc.vouch(rc.VERIFIER, definition(T, RECOVERY), T + 1000)
    assert ["recovery", RECOVERY.public_key_hex] in [list(t) for t in vouch.tags]
    assert vouched_key(vouch, OWNER.public_key_hex) == RECOVERY.public_key_hex
    assert not any(t[0] == "recovery" for t in rc.vouch(rc.VERIFIER, definition(T, None), T + 1000).tags)
    for bad in ("", OWNER.public_key_hex, "ab" * 31, RECOVERY.public_key_hex.upper()):
        odd = rc.vouch(rc.VERIFIER, definition(T, RECOVERY), T + 1000, recovery=bad)
        assert parse_vouch(odd).channel == ADDRESS  # still a vouch
        assert vouched_key(odd, OWNER.public_key_hex) == ""  # that names no key
        assert witnesses([odd], [rc.VERIFIER.public_key_hex], T + 2000) == {ADDRESS: [odd]}
