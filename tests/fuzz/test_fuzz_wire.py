"""Property tests of what arrives over a socket: NIP-01 and NIP-77 messages to the relay, Negentropy messages,
HTTP requests on the relay's port, and the operator's WebSocket. Each input goes through the fuzz target of
``fuzz_targets.py``, which checks the contract (a value or the project's error, never another exception; answers
that are well formed); byte-level mutations of the seeds and inputs in each format's own shape both go in."""

from __future__ import annotations

import fuzz_targets as targets
import pytest
from fuzz_seeds import sample_events, seeds
from fuzz_strategies import FUZZ, http_requests, lines, mutated, operator_messages, relay_messages
from hypothesis import given
from hypothesis import strategies as st
from websockets.datastructures import Headers

from samizdat.core.negentropy import Negentropy, VectorStorage
from samizdat.errors import RemoteProtocolError
from samizdat.relay.http import header, is_websocket_upgrade, wants_nip11
from samizdat.web.operator import check_template

SEEDS = seeds()
EVENTS = [event.to_dict() for event in sample_events()]
OPENINGS = [SEEDS["negentropy"]["initiate"], SEEDS["negentropy"]["reply"], b"\x61", b"\x60", b""]


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
@FUZZ
@given(data=st.data())
def test_mutated_seeds_keep_the_contract(name: str, data: st.DataObject) -> None:
    target = targets.TARGETS[name]
    target(data.draw(mutated(list(SEEDS[name].values())), label="input"))


@FUZZ
@given(st.binary(max_size=512))
def test_any_bytes_keep_the_contract(data: bytes) -> None:
    for target in targets.TARGETS.values():
        if target is not targets.bundle_file:  # a file per input: the mutations above cover it
            target(data)


@FUZZ
@given(lines(relay_messages(EVENTS, OPENINGS)))
def test_relay_answers_any_messages(data: bytes) -> None:
    targets.relay_message(data)


@FUZZ
@given(lines(relay_messages(EVENTS, OPENINGS)))
def test_relay_nip77_answers_any_messages(data: bytes) -> None:
    targets.relay_nip77(data)


@st.composite
def negentropy_messages(draw: st.DrawFn) -> bytes:
    """A client's opening over a random set, as sent or with a few bytes changed."""
    storage = VectorStorage()
    ids = draw(st.lists(st.binary(min_size=32, max_size=32), max_size=80, unique=True))
    for i, item_id in enumerate(ids):
        storage.insert(draw(st.integers(targets.NOW - 5, targets.NOW + 30)) if i % 3 else targets.NOW, item_id)
    storage.seal()
    opening = Negentropy(storage, draw(st.sampled_from([0, 4096]))).initiate()
    return draw(mutated([opening])) if draw(st.booleans()) else opening


@FUZZ
@given(negentropy_messages())
def test_negentropy_answers_any_opening(data: bytes) -> None:
    targets.negentropy(data)


@FUZZ
@given(http_requests())
def test_http_answers_any_request(data: bytes) -> None:
    targets.http_request(data)


@FUZZ
@given(operator_messages())
def test_operator_answers_any_request(data: bytes) -> None:
    targets.operator_request(data)


# -- regressions the fuzzers found (their inputs are in tests/fuzz/corpus/ too) ----------------------------------


def test_repeated_headers_are_read_not_raised() -> None:
    """Headers.get raised MultipleValuesError on a repeated header (two Host or Accept headers), which websockets
    turned into a 500 and a traceback in the log."""
    headers = Headers([("Host", "a"), ("Host", "b"), ("Accept", "text/html"), ("Accept", "application/nostr+json"),
                       ("Connection", "keep-alive"), ("Connection", "Upgrade"), ("Upgrade", "websocket")])  # fmt: skip
    assert header(headers, "Host") == "a, b"
    assert header(headers, "Origin") == ""
    assert wants_nip11(headers)
    assert is_websocket_upgrade(headers)
    twice = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nAccept: x\r\nAccept: y\r\n\r\n"
    targets.http_request(twice)


@pytest.mark.parametrize("kind", [[1], {"a": 1}, True, None, "1"])
def test_operator_refuses_a_kind_that_is_not_a_number(kind: object) -> None:
    """``kind not in SIGNABLE`` raised TypeError for a list or an object (unhashable)."""
    with pytest.raises(RemoteProtocolError, match="signs only"):
        check_template({"kind": kind, "content": "", "tags": [], "created_at": 0})
