"""Hypothesis strategies for the fuzz tests: byte-level mutations of the seeds (what a fuzzer does), and
structured inputs in each format's own shape (what gets past the first check of a parser)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

from samizdat.core import kinds
from samizdat.core.keys import SecretKey

#: A few seconds per test on a CI machine (SAMIZDAT_FUZZ_EXAMPLES scales every test; derandomized in CI by the
#: "ci" profile of tests/conftest.py). Every example is bounded in time: a parser that hangs fails the deadline.
EXAMPLES = int(os.environ.get("SAMIZDAT_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

HEX = "0123456789abcdef"
hex32 = st.text(HEX, min_size=64, max_size=64)
small_text = st.text(max_size=12)

#: Any JSON value orjson can write (integers within 64 bits, as orjson reads them).
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | small_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(small_text, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw: DrawFn, seeds: list[bytes]) -> bytes:
    """A seed after a few byte-level edits: flip, set, insert, delete, duplicate or truncate."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        edit = draw(st.integers(0, 5))
        at = draw(st.integers(0, len(data)))
        if edit == 0 and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == 1 and at < len(data):
            data[at] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, ord("{"), ord('"'), ord("\n"), ord("0")]))
        elif edit == 2:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == 3:
            del data[at : at + draw(st.integers(1, 64))]
        elif edit == 4:
            end = min(len(data), at + draw(st.integers(1, 64)))
            data[at:at] = data[at:end]
        else:
            del data[at:]
    return bytes(data)


# -- NIP-01 ---------------------------------------------------------------------------------------------------


def event_dicts(samples: list[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A real event, one with a field changed or missing, or an object of random fields."""
    fields = ("id", "pubkey", "created_at", "kind", "tags", "content", "sig")

    @st.composite
    def changed(draw: DrawFn) -> dict[str, Any]:
        event = dict(draw(st.sampled_from(samples)))
        name = draw(st.sampled_from(fields))
        if draw(st.booleans()):
            event.pop(name)
        else:
            event[name] = draw(json_values | hex32 | st.integers(0, 2**41) | st.lists(st.lists(small_text)))
        return event

    return st.sampled_from(samples) | changed() | st.dictionaries(st.sampled_from(fields), json_values)


filter_values = {
    "ids": st.lists(hex32, max_size=10),
    "authors": st.lists(hex32, max_size=10),
    "kinds": st.lists(st.integers(-1, 70000), max_size=10),
    "#e": st.lists(hex32 | small_text, max_size=10),
    "#t": st.lists(small_text, max_size=10),
    "since": st.integers(-1, 2**41),
    "until": st.integers(-1, 2**41),
    "limit": st.integers(-1, 10**6),
    "search": st.text(max_size=40),
}


@st.composite
def filter_dicts(draw: DrawFn) -> dict[str, Any]:
    """A filter of the known keys (each with a plausible or any JSON value), and maybe unknown ones."""
    out: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(sorted(filter_values)), max_size=5, unique=True)):
        out[key] = draw(filter_values[key] | json_values) if draw(st.integers(0, 4)) else draw(json_values)
    out.update(draw(st.dictionaries(st.text(max_size=3), json_values, max_size=2)))
    return out


sub_ids = st.sampled_from(["sub", "n", "", "x" * 65]) | small_text


def relay_messages(events: list[dict[str, Any]], negentropy_messages: list[bytes]) -> st.SearchStrategy[Any]:
    """One NIP-01 or NIP-77 client message, well formed or nearly."""
    hexes = st.sampled_from([m.hex() for m in negentropy_messages]) | st.text(HEX + "xG", max_size=80)
    return st.one_of(
        st.tuples(st.just("EVENT"), event_dicts(events)).map(list),
        st.tuples(st.just("REQ"), sub_ids, st.lists(filter_dicts(), max_size=4)).map(lambda t: [t[0], t[1], *t[2]]),
        st.tuples(st.just("COUNT"), sub_ids, st.lists(filter_dicts(), max_size=4)).map(lambda t: [t[0], t[1], *t[2]]),
        st.tuples(st.just("CLOSE"), sub_ids).map(list),
        st.tuples(st.just("NEG-OPEN"), sub_ids, filter_dicts(), hexes).map(list),
        st.tuples(st.just("NEG-MSG"), sub_ids, hexes).map(list),
        st.tuples(st.just("NEG-CLOSE"), sub_ids).map(list),
        st.lists(json_values, max_size=4),
        json_values,
    )


def lines(messages: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Several messages, one per line, as the fuzz targets take them."""
    return st.lists(messages.map(orjson.dumps), min_size=1, max_size=8).map(b"\n".join)


# -- keys, NIP-19 ---------------------------------------------------------------------------------------------

secret_keys = st.binary(min_size=32, max_size=32).filter(lambda b: 0 < int.from_bytes(b, "big") < 2**256 - 2**129)
public_keys = secret_keys.map(lambda b: SecretKey(b).public_key_hex)
relay_urls = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)
identifiers = st.text(max_size=80).filter(lambda t: len(t.encode()) <= 255)
event_kinds = st.integers(0, 65535)


# -- HTTP -----------------------------------------------------------------------------------------------------

HEADER_NAMES = ["Host", "Accept", "Accept-Encoding", "If-None-Match", "Connection", "Upgrade", "Origin",
                "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Content-Length", "X-Other"]  # fmt: skip
header_values = st.sampled_from(["10.42.0.1:4848", "application/nostr+json", "gzip", "Upgrade", "websocket", "",
                                 "http://10.42.0.1:4848", "[::1]:80", "13", "dGhlIHNhbXBsZSBub25jZQ=="]) | st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40
)  # fmt: skip


@st.composite
def http_requests(draw: DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "GET", "HEAD", "POST", "get", "GET /"]))
    path = draw(st.sampled_from(["/", "/index.html", "/api/status", "/app.js", "/status", "/op", "/x?y#z"]) | st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30
    ))  # fmt: skip
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=8))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + draw(st.binary(max_size=8))


# -- the operator's requests ----------------------------------------------------------------------------------

operator_kinds = st.sampled_from([kinds.POST, kinds.DELETION, kinds.LABEL, 1, True]) | json_values


@st.composite
def operator_messages(draw: DrawFn) -> bytes:
    template = {
        "kind": draw(operator_kinds),
        "content": draw(st.text(max_size=40) | json_values),
        "tags": draw(st.lists(st.lists(small_text, max_size=3), max_size=3) | json_values),
        "created_at": draw(st.integers(0, 2**40) | json_values),
    }
    message = {"id": draw(json_values), "sign": template if draw(st.integers(0, 5)) else draw(json_values)}
    return orjson.dumps(message if draw(st.integers(0, 9)) else draw(json_values))
