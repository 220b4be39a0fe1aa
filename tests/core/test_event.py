"""Events: canonical serialisation, ids, signatures, and every way a hostile event is refused."""

from __future__ import annotations

import hashlib
from types import MappingProxyType

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samizdat.core.event import canonical, parse_event, parse_event_json, sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError

KEY = SecretKey(bytes.fromhex("01" * 32))


def signed(**overrides: object) -> dict[str, object]:
    event = sign_event(KEY, 1, "hello", [["t", "minsk"]], created_at=1_700_000_000)
    raw = orjson.loads(event.to_json())
    raw.update(overrides)
    return raw


def test_nip01_escaping_rules() -> None:
    # NIP-01: \n \" \\ \r \t \b \f escaped, everything else verbatim (other controls as \u00XX, as JSON requires).
    data = canonical("ab" * 32, 1, 1, (), 'a\n"\\\r\t\b\f\x01é/\u2028')
    assert data == b'[0,"' + b"ab" * 32 + b'",1,1,[],"a\\n\\"\\\\\\r\\t\\b\\f\\u0001\xc3\xa9/\xe2\x80\xa8"]'


def test_signed_event_round_trips_and_verifies() -> None:
    event = sign_event(KEY, 1, "привет\nмир", [["p", KEY.public_key_hex], ["t", "x"]], created_at=5)
    again = parse_event_json(event.to_json())
    assert again == event
    assert event.id == hashlib.sha256(canonical(event.pubkey, 5, 1, event.tags, event.content)).hexdigest()


def test_known_vector_from_nostr_sdk_key() -> None:
    # The public key of secret 0x01...01 is fixed by BIP-340; signing must be reproducible with fixed aux data.
    assert KEY.public_key_hex == "1b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("id", "00" * 32, "id does not match"),
        ("sig", "00" * 64, "signature is wrong"),
        ("content", "tampered", "id does not match"),
        ("created_at", -1, "out of range"),
        ("created_at", 1.5, "must be an integer"),
        ("created_at", "1700000000", "must be an integer"),
        ("created_at", True, "must be an integer"),
        ("kind", 70000, "out of range"),
        ("tags", [["t", 1]], "tags must be"),
        ("tags", "t", "tags must be"),
        ("pubkey", "AB" * 32, "pubkey must be"),
        ("id", "zz", "id must be"),
        ("content", 5, "content must be"),
        # The hex checks: exactly 64 (128) of 0-9 a-f, nothing after them, no other digits.
        ("id", "ab" * 32 + "\n", "id must be"),
        ("id", "ab" * 31 + "a", "id must be"),
        ("pubkey", "\u0663" * 64, "pubkey must be"),
        ("pubkey", 10**64, "pubkey must be"),
        ("sig", "AB" * 64, "sig must be"),
        ("sig", "ab" * 63 + "a", "sig must be"),
        ("sig", "ab" * 63 + "a ", "sig must be"),
        ("sig", "ab" * 64 + "\n", "sig must be"),
        ("sig", None, "sig must be"),
        # The tag checks: every tag an array, every value a string, at most MAX_TAG_VALUES values.
        ("tags", ["t"], "tags must be"),
        ("tags", [["t", "x"], ["e", None]], "tags must be"),
        ("tags", [["t", "x"], [["nested"]]], "tags must be"),
        ("tags", [["t"] * 101], "too many values"),
    ],
)
def test_hostile_fields_are_refused_with_a_reason(field: str, value: object, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason) as info:
        parse_event(signed(**{field: value}))
    assert info.value.reply.startswith("invalid: ")


def test_missing_field_and_non_object() -> None:
    raw = signed()
    del raw["sig"]
    with pytest.raises(RemoteProtocolError, match="no 'sig' field"):
        parse_event(raw)
    with pytest.raises(RemoteProtocolError, match="must be a JSON object"):
        parse_event([1, 2])


def test_any_mapping_parses_not_only_a_dict() -> None:
    raw = signed()
    assert parse_event(MappingProxyType(raw)) == parse_event(raw)
    bare = sign_event(KEY, 1, "", [], created_at=1)
    assert parse_event(orjson.loads(bare.to_json())) == bare


def test_pubkey_not_on_curve_is_a_bad_signature_not_a_crash() -> None:
    raw = signed(pubkey="ff" * 32)
    with pytest.raises(RemoteProtocolError):
        parse_event(raw)


def test_malformed_and_deep_json() -> None:
    with pytest.raises(RemoteProtocolError, match="malformed JSON"):
        parse_event_json(b'{"id": ')
    with pytest.raises(RemoteProtocolError, match="malformed JSON"):
        parse_event_json(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(RemoteProtocolError, match="malformed JSON"):
        parse_event_json(b'{"content": "\xff\xfe"}')


@settings(max_examples=50, deadline=None)
@given(
    content=st.text(max_size=200),
    tags=st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=4), max_size=5),
    kind=st.integers(0, 65535),
    created_at=st.integers(0, 2**33),
)
def test_any_signed_event_parses_back_identically(
    content: str, tags: list[list[str]], kind: int, created_at: int
) -> None:
    event = sign_event(KEY, kind, content, tags, created_at=created_at)
    assert parse_event_json(event.to_json()) == event
    assert event.to_json() == orjson.dumps(event.to_dict())  # the bytes stored and sent: the same either way


def test_expiration_and_tags() -> None:
    event = sign_event(KEY, 30333, "", [["d", "x"], ["expiration", "100"]], created_at=1)
    assert event.d_tag == "x"
    assert event.expiration == 100
    assert event.is_expired(100)
    assert not event.is_expired(99)


def test_expiration_with_unicode_digits_is_ignored_not_a_crash() -> None:
    event = sign_event(KEY, 1, "", [["expiration", "²"], ["expiration", "١٢٣"]], created_at=1)
    assert event.expiration is None


def test_a_cached_events_json_takes_about_its_own_size_in_memory() -> None:
    """Fan-out, queues and caches keep each event's JSON for as long as the event lives; it must cost what it
    weighs (orjson 3.13's own output sat in a buffer about 8 times as large)."""
    import tracemalloc

    key = SecretKey(bytes([3]) * 32)
    events = [sign_event(key, 1, "x" * 1000, [["t", str(i)]], created_at=1_700_000_000 + i) for i in range(500)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sizes = sum(len(event.to_json()) for event in events)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 1.5 * sizes, (held, sizes)
