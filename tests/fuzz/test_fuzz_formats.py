"""Property tests of what arrives in a file or inside an event: events and filters as JSON, what a signed
event's tags say (channels, posts, labels, reports, relay lists), NIP-19 codes, bundles, mDNS announcements.
Round trips where a value can be written back: event JSON, filters, NIP-19, bundles."""

from __future__ import annotations

import fuzz_targets as targets
import orjson
import pytest
from fuzz_seeds import sample_events
from fuzz_strategies import (
    FUZZ,
    event_dicts,
    event_kinds,
    filter_dicts,
    hex32,
    identifiers,
    json_values,
    mutated,
    public_keys,
    relay_urls,
    small_text,
)
from hypothesis import given
from hypothesis import strategies as st

from samizdat.core import bech32, nip19
from samizdat.core.bundle import HEADER_SIZE, BundleWriter, RawEvent
from samizdat.core.bundle_reader import BundleReader
from samizdat.core.event import MAX_CREATED_AT, Event, parse_event_json, sign_event
from samizdat.core.relaylist import check_relay_url, parse_relay_list
from samizdat.errors import RemoteProtocolError, UsageError

EVENTS = sample_events()
tags = st.lists(st.lists(st.text(max_size=20), max_size=4), max_size=6)


# -- events ---------------------------------------------------------------------------------------------------


@FUZZ
@given(kind=event_kinds, content=st.text(max_size=200), tags=tags, created_at=st.integers(0, MAX_CREATED_AT))
def test_a_signed_event_round_trips_through_json(kind: int, content: str, tags: list[list[str]],
                                                 created_at: int) -> None:  # fmt: skip
    event = sign_event(targets.KEY, kind, content, tags, created_at=created_at)
    assert parse_event_json(event.to_json()) == event
    targets.event_json(event.to_json())


@FUZZ
@given(event=st.sampled_from(EVENTS), field=st.sampled_from(["content", "created_at", "kind", "tags"]),
       value=json_values)  # fmt: skip
def test_a_changed_event_is_refused(event: Event, field: str, value: object) -> None:
    raw = {**event.to_dict(), field: value}
    if raw == event.to_dict():
        return
    with pytest.raises(RemoteProtocolError):
        parse_event_json(orjson.dumps(raw))


@FUZZ
@given(event_dicts([e.to_dict() for e in EVENTS]))
def test_any_event_object_keeps_the_contract(raw: object) -> None:
    targets.event_json(orjson.dumps(raw))


@FUZZ
@given(kind=st.sampled_from([30078, 30333, 1985, 2340, 10002, 5, 1]), tags=tags | st.sampled_from(
    [[list(t) for t in e.tags] for e in EVENTS]
), content=small_text)  # fmt: skip
def test_what_tags_say_is_read_or_refused(kind: int, tags: list[list[str]], content: str) -> None:
    targets.event_content(orjson.dumps({"kind": kind, "tags": tags, "content": content}))


@pytest.mark.parametrize("url", ["wss://[", "ws://[::1", "wss://x]"])
def test_a_relay_list_skips_urls_urlsplit_refuses(url: str) -> None:
    """``urlsplit("wss://[")`` raises ValueError: a hostile kind-10002 event made parse_relay_list raise it."""
    event = sign_event(targets.KEY, 10002, "", [["r", url], ["r", "wss://relay.example.org"]], created_at=0)
    assert parse_relay_list(event).write == ("wss://relay.example.org",)
    with pytest.raises(UsageError):
        check_relay_url(url)


# -- filters --------------------------------------------------------------------------------------------------


@FUZZ
@given(filter_dicts())
def test_a_filter_is_parsed_or_refused_and_round_trips(raw: dict[str, object]) -> None:
    targets.filter_json(orjson.dumps(raw))


# -- NIP-19 ---------------------------------------------------------------------------------------------------


@st.composite
def entities(draw: st.DrawFn) -> str:
    relays = draw(st.lists(relay_urls, max_size=20))
    pubkey = draw(public_keys)
    which = draw(st.integers(0, 5))
    if which == 0:
        return nip19.npub_encode(pubkey)
    if which == 1:
        return nip19.note_encode(draw(hex32))
    if which == 2:
        return nip19.nsec_encode(draw(hex32))
    if which == 3:
        return nip19.nprofile_encode(pubkey, relays)
    if which == 4:
        author = draw(st.none() | st.just(pubkey))
        return nip19.nevent_encode(draw(hex32), relays, author=author, kind=draw(st.none() | event_kinds))
    return nip19.naddr_encode(draw(event_kinds), pubkey, draw(identifiers), relays)


@FUZZ
@given(entities())
def test_nip19_codes_round_trip(code: str) -> None:
    hrp, value = nip19.decode(code)
    assert nip19.decode(targets._reencode(hrp, value)) == (hrp, value)
    targets.nip19_text(code.encode())
    targets.nip19_text(f" nostr:{code.upper()}\n".encode())


@FUZZ
@given(code=entities(), at=st.integers(0, 10**4), char=st.sampled_from(bech32.CHARSET))
def test_one_mistyped_character_is_caught(code: str, at: int, char: str) -> None:
    start = code.rindex("1") + 1
    at = start + at % (len(code) - start)
    if code[at] == char:
        return
    with pytest.raises(UsageError, match="checksum"):
        nip19.decode(code[:at] + char + code[at + 1 :])


# -- bundles --------------------------------------------------------------------------------------------------


def _write(events: list[Event], block_bytes: int) -> bytes:
    writer = BundleWriter(created_at=targets.NOW, bundle_id=bytes(16), block_bytes=block_bytes)
    out = b"".join(writer.add(event) or b"" for event in events) + writer.finish()
    return writer.header(total_parts=1) + out[HEADER_SIZE:]


bundles = st.builds(_write, st.lists(st.sampled_from(EVENTS), max_size=30), st.sampled_from([256, 1024, 64 * 1024]))


@FUZZ
@given(events=st.lists(st.sampled_from(EVENTS), max_size=30), block_bytes=st.sampled_from([256, 1024, 64 * 1024]),
       chunk=st.integers(1, 5000))  # fmt: skip
def test_a_bundle_round_trips_in_any_chunks(events: list[Event], block_bytes: int, chunk: int) -> None:
    data = _write(events, block_bytes)
    reader = BundleReader()
    items = [item for at in range(0, len(data), chunk) for item in reader.feed(data[at : at + chunk])]
    items += reader.close()
    assert [targets.parse_event(item.value) for item in items if isinstance(item, RawEvent)] == events
    assert reader.summary().complete


@FUZZ
@given(st.data())
def test_a_damaged_bundle_keeps_the_contract(data: st.DataObject) -> None:
    bundle = data.draw(bundles, label="bundle")
    targets.bundle(data.draw(mutated([bundle]), label="damaged"))


# -- mDNS -----------------------------------------------------------------------------------------------------

txt_keys = st.sampled_from([b"id", b"name", b"hub", b"v", b""]) | st.binary(max_size=8)
txt_values = st.none() | st.sampled_from([b"1", b"0", b"abc123", b"\xff\xfe", "\u202e".encode()])


@FUZZ
@given(properties=st.dictionaries(txt_keys, txt_values | st.binary(max_size=300), max_size=6),
       addresses=st.lists(st.sampled_from(["10.42.0.7", "10.42.0.1", "10.42.0.255", "127.0.0.1", "169.254.3.9",
                                           "224.0.0.251", "192.168.1.20", "::1", "", "10.42.0.7 "]) | small_text,
                          max_size=20),
       port=st.none() | st.integers(-1, 70000) | st.booleans())  # fmt: skip
def test_any_announcement_is_a_sighting_on_our_networks_or_nothing(
    properties: dict[bytes, bytes | None], addresses: list[str], port: int | None
) -> None:
    sighting = targets.parse_service(properties, addresses, port, networks=targets.NETWORKS)
    if sighting is not None:
        assert sighting.url.removeprefix("ws://").rsplit(":", 1)[0] in addresses
        assert sighting.url.rsplit(":", 1)[1] == str(port)
        assert sighting.url.startswith(("ws://10.42.0.", "ws://192.168.1.", "ws://169.254.3."))
        assert sighting.name == "" or sighting.name.isprintable()
