"""Negentropy V1: reconciliation results, known answers from the reference, malformed input, misuse."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samizdat.core.negentropy import (
    INFINITY,
    MAX_TIMESTAMP,
    Bound,
    Negentropy,
    Storage,
    SubRangeStorage,
    VectorStorage,
    encode_varint,
    fingerprint_of,
    id_sum,
)
from samizdat.errors import LocalProtocolError, RemoteProtocolError

# --- helpers ------------------------------------------------------------------------------------------------


def kat_id(i: int) -> bytes:
    return hashlib.sha256(f"samizdat-negentropy-kat-{i}".encode()).digest()


def kat_storage(indices: range) -> VectorStorage:
    """The item set of the known-answer script: three items per timestamp, ids hashed from their index."""
    storage = VectorStorage()
    for i in indices:
        storage.insert(1_700_000_000 + i // 3, kat_id(i))
    storage.seal()
    return storage


def vector(items: list[tuple[int, bytes]]) -> VectorStorage:
    storage = VectorStorage()
    for timestamp, item_id in items:
        storage.insert(timestamp, item_id)
    storage.seal()
    return storage


def sync(
    client: Storage, server: Storage, client_limit: int = 0, server_limit: int = 0
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Run a whole session in memory: (have ids, need ids, every message in order). Checks frame limits."""
    ne_client = Negentropy(client, client_limit)
    ne_server = Negentropy(server, server_limit)
    have: list[bytes] = []
    need: list[bytes] = []
    message: bytes | None = ne_client.initiate()
    transcript: list[bytes] = []
    for _ in range(10_000):
        if message is None:
            return have, need, transcript
        assert not client_limit or len(message) <= client_limit
        transcript.append(message)
        reply = ne_server.reconcile(message)
        assert not server_limit or len(reply) <= server_limit
        transcript.append(reply)
        message, new_have, new_need = ne_client.reconcile_client(reply)
        have += new_have
        need += new_need
    raise AssertionError("reconciliation did not finish")


def random_sets(
    seed: int, count: int, p_client: float, p_server: float, clustered_ids: bool
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """Items split between client only, server only and both; timestamps collide, ids may share prefixes."""
    rng = random.Random(seed)
    spread = rng.choice([1, 2, max(1, count // 8), max(1, count * 2)])
    shared_prefix = rng.randbytes(31)
    client: list[tuple[int, bytes]] = []
    server: list[tuple[int, bytes]] = []
    seen: set[bytes] = set()
    for _ in range(count):
        if clustered_ids:
            keep = rng.randrange(32)
            item_id = shared_prefix[:keep] + rng.randbytes(32 - keep)
        else:
            item_id = rng.randbytes(32)
        if item_id in seen:
            continue
        seen.add(item_id)
        item = (rng.randrange(spread), item_id)
        draw = rng.random()
        if draw < p_client:
            client.append(item)
        elif draw < p_client + p_server:
            server.append(item)
        else:
            client.append(item)
            server.append(item)
    return client, server


# --- known answers from the reference implementation --------------------------------------------------------
#
# Produced once by hoytech/negentropy's js/Negentropy.js (commit 6edb041) under node 20, for items
# (1700000000 + i // 3, sha256("samizdat-negentropy-kat-{i}")): the client holds indices [a, b), the server
# [c, d); the client runs `initiate`, then server `reconcile` and client `reconcile` alternate until the
# client returns null. Transcript digests are sha256 of the hex messages joined by "\n".

KAT_SMALL = [  # client [0, 3), server [1, 4): both send IdLists
    "6100000203c83b15bc4f482a84b375023266d87c7a629d63bcbdd448a6c888d3d8abde6ffde5b0fdfe90934ea232ea013515a8c72b"
    "c31390ef499c426580bfc92f79483758eff3253efbdb6a08f2f48f7b2f2bd7fefce0a54bbd35900d148d6a7ad1765eeb",
    "6100000203c83b15bc4f482a84b375023266d87c7a629d63bcbdd448a6c888d3d8abde6ffdeff3253efbdb6a08f2f48f7b2f2bd7fe"
    "fce0a54bbd35900d148d6a7ad1765eebd87286bcef7b73288cee35679570b70813b27bb51decd988f9b0b6bcae6bbfa4",
]
KAT_BUCKETS = [  # client [0, 40), server [5, 45): 16 fingerprint buckets, with id prefixes in the bounds
    "6186aacfe20200010f26544dea7e6a4eed0a89202150a68a020001e171fc9a7fbd454fcff973a1a96698ed020001626fc5e79a69b4eb"
    "5a3d900b94bfa09d020001bba4612893eaa462e59d714731c9166a0200011f7b366b92dfba1f87fd557f448156aa020001faa91ebb35"
    "64b95a5e14f183ed5282360200019e91dc36989f07d229c7e24a1136e40c020001906b2add7d1f93fe33145199dd6cb5180101b70180"
    "785abbebdbad8d72b2f47ac642609702018601e907d6661181b690078b67e04af3484f0200013bbef4c0bbd1ccb302eb39f4cf474049"
    "0101f401733f2b18cee4129d3b04812ccbebb63f0201f50107dc6f42cba41baa9e5e688c32f9080f020001fbbf47cc88e8762051b0ea"
    "25959a09c80101d3016bd738ad3b0fce2eceeb27770c8da3ef00000172a4008d9439f180c34101d0dac63ef0",
    "6186aacfe20200020002000201813b9703a34b2bce0fe863333ddff6aa822f7f0c77e7cb317dccb0d25cbb78a40b01d30000000207d3"
    "989e2cb649ff48a2a81ac17fe463503204a56962e5325975924eef0c9d9f00465b94874a18510960a380cf633b17d7c39fd75326956d"
    "0ea47b921efa4f26ba89fd9f0720dcd026cbc8945dae303127f16abf5cdf5026f5c06470902bae6ad2fe693d6568ac6fb2562a69252e"
    "a56e3673b2ec98ab50eeae83e25ae0e03f2e4ea8345b6bd6a9e47b4523027c1dfcd8d4598ab8fabc86a781d788d245468bb8c7ca2a78"
    "5b98a99eac4f8a26524eeba60480f802b67803e0a26219cd24a2f3e840d21e74960d0e3694793a4ac2c767aba262a8b5193ba45100a9"
    "bc6661597d3722",
]
# client [0, 3000), server [1500, 4500)
KAT_FRAMED_4096 = ("491642677869b3cf686e9334f0cd0e38f5641689ccb0ce0060291898f88b2dff", 14)  # (digest, rounds)
KAT_UNFRAMED = ("3f14318913cfc266d46bd525fec9126f6c2ef39872cc425bab427f512afb35a6", 2)


def transcript_digest(transcript: list[bytes]) -> str:
    return hashlib.sha256("\n".join(m.hex() for m in transcript).encode()).hexdigest()


def test_known_answer_id_lists() -> None:
    have, need, transcript = sync(kat_storage(range(0, 3)), kat_storage(range(1, 4)))
    assert [m.hex() for m in transcript] == KAT_SMALL
    assert have == [kat_id(0)]
    assert need == [kat_id(3)]


def test_known_answer_buckets() -> None:
    have, need, transcript = sync(kat_storage(range(0, 40)), kat_storage(range(5, 45)))
    assert [m.hex() for m in transcript] == KAT_BUCKETS
    assert set(have) == {kat_id(i) for i in range(0, 5)}
    assert set(need) == {kat_id(i) for i in range(40, 45)}


@pytest.mark.parametrize(("limit", "expected"), [(4096, KAT_FRAMED_4096), (0, KAT_UNFRAMED)])
def test_known_answer_transcripts(limit: int, expected: tuple[str, int]) -> None:
    have, need, transcript = sync(kat_storage(range(0, 3000)), kat_storage(range(1500, 4500)), limit, limit)
    assert (transcript_digest(transcript), len(transcript) // 2) == expected
    assert set(have) == {kat_id(i) for i in range(0, 1500)}
    assert set(need) == {kat_id(i) for i in range(3000, 4500)}


def test_empty_client_message_is_an_empty_id_list() -> None:
    assert Negentropy(vector([])).initiate() == bytes.fromhex("6100000200")


# --- reconciliation properties ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    count=st.one_of(st.integers(0, 70), st.integers(200, 2500)),
    p_client=st.sampled_from([0.0, 0.01, 0.1, 0.3, 1.0]),
    p_server=st.sampled_from([0.0, 0.01, 0.1, 0.3]),
    clustered_ids=st.booleans(),
    limits=st.sampled_from([(0, 0), (4096, 4096), (4096, 0), (0, 4096), (5000, 9000)]),
)
def test_reconciles_to_the_symmetric_difference(
    seed: int, count: int, p_client: float, p_server: float, clustered_ids: bool, limits: tuple[int, int]
) -> None:
    client_items, server_items = random_sets(seed, count, p_client, p_server, clustered_ids)
    have, need, _ = sync(vector(client_items), vector(server_items), *limits)
    client_ids = {item_id for _, item_id in client_items}
    server_ids = {item_id for _, item_id in server_items}
    assert set(have) == client_ids - server_ids
    assert set(need) == server_ids - client_ids
    if limits == (0, 0):
        assert len(have) == len(set(have))
        assert len(need) == len(set(need))


@pytest.mark.parametrize("limits", [(0, 0), (4096, 4096)])
def test_large_sets_with_few_differences(limits: tuple[int, int]) -> None:
    client_items, server_items = random_sets(7, 5000, 0.002, 0.002, clustered_ids=False)
    have, need, transcript = sync(vector(client_items), vector(server_items), *limits)
    assert set(have) == {i for _, i in client_items} - {i for _, i in server_items}
    assert set(need) == {i for _, i in server_items} - {i for _, i in client_items}
    assert len(transcript) <= 2 * 6  # a few rounds, not one per item


@pytest.mark.parametrize(("client_count", "server_count"), [(0, 0), (0, 100), (100, 0), (0, 5000), (5000, 0)])
def test_one_side_empty(client_count: int, server_count: int) -> None:
    client = [(i // 2, kat_id(i)) for i in range(client_count)]
    server = [(i // 2, kat_id(-1 - i)) for i in range(server_count)]
    for limits in [(0, 0), (4096, 4096)]:
        have, need, _ = sync(vector(client), vector(server), *limits)
        assert set(have) == {item_id for _, item_id in client}
        assert set(need) == {item_id for _, item_id in server}


def test_many_items_with_one_timestamp_use_id_prefixes() -> None:
    client = [(5, kat_id(i)) for i in range(300)]
    server = [(5, kat_id(i)) for i in range(1, 301)]
    have, need, transcript = sync(vector(client), vector(server))
    assert (have, need) == ([kat_id(0)], [kat_id(300)])
    # After the version byte, the first bound is timestamp 5 (encoded 6) with a short id prefix.
    assert transcript[0][1] == 6
    assert 1 <= transcript[0][2] <= 3


def test_sub_range_storage_reconciles_a_window() -> None:
    base = vector([(i, kat_id(i)) for i in range(1000)])
    window = SubRangeStorage(base, Bound(100), Bound(200))
    assert window.size() == 100
    assert window.get_item(0).timestamp == 100
    client = vector([(i, kat_id(i)) for i in range(100, 200) if i != 150] + [(199, kat_id(5000))])
    have, need, _ = sync(client, window)
    assert (have, need) == ([kat_id(5000)], [kat_id(150)])


def test_fingerprints_match_a_direct_computation() -> None:
    rng = random.Random(3)
    items = [(rng.randrange(50), rng.randbytes(32)) for _ in range(500)]
    storage = vector(items)
    ordered = sorted(items)
    for _ in range(200):
        begin = rng.randrange(501)
        end = rng.randrange(begin, 501)
        expected = fingerprint_of(id_sum(item_id for _, item_id in ordered[begin:end]), end - begin)
        assert storage.fingerprint(begin, end) == expected
        bound = Bound(rng.randrange(51), rng.randbytes(rng.randrange(33)))
        naive = next((i for i, item in enumerate(ordered) if item >= bound.key()), len(ordered))
        assert storage.find_lower_bound(0, len(ordered), bound) == naive


def test_fingerprint_of_the_empty_range() -> None:
    assert fingerprint_of(0, 0) == hashlib.sha256(bytes(33)).digest()[:16]


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8100"), (16383, "ff7f"), (2**64 - 1, "81ffffffffffffffff7f")],
)
def test_varint_encoding(value: int, encoded: str) -> None:
    assert encode_varint(value).hex() == encoded


# --- protocol versions --------------------------------------------------------------------------------------


def test_server_answers_an_unknown_version_with_its_own_and_then_accepts_v1() -> None:
    # What the reference suite's protoversion.pl checks.
    server = Negentropy(kat_storage(range(1)))
    assert server.reconcile(bytes.fromhex("62aabbccddeeff")) == b"\x61"
    expected = Negentropy(kat_storage(range(1))).reconcile(bytes.fromhex("6100000200"))
    assert server.reconcile(bytes.fromhex("6100000200")) == expected
    assert expected == bytes.fromhex("6100000201") + kat_id(0)


def test_client_rejects_another_version() -> None:
    client = Negentropy(kat_storage(range(1)))
    client.initiate()
    with pytest.raises(RemoteProtocolError, match="unsupported negentropy protocol version 0x62"):
        client.reconcile_client(b"\x62")


@pytest.mark.parametrize("version", [0x00, 0x5F, 0x70, 0xFF])
def test_both_sides_reject_a_byte_that_is_no_version(version: int) -> None:
    with pytest.raises(RemoteProtocolError, match="invalid negentropy protocol version byte"):
        Negentropy(vector([])).reconcile(bytes((version,)))
    client = Negentropy(vector([]))
    client.initiate()
    with pytest.raises(RemoteProtocolError, match="invalid negentropy protocol version byte"):
        client.reconcile_client(bytes((version,)))


def test_client_is_done_when_it_has_nothing_to_say() -> None:
    client = Negentropy(vector([]))
    client.initiate()
    assert client.reconcile_client(b"\x61") == (None, [], [])


# --- malformed messages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_message", "error"),
    [
        ("", "truncated inside the protocol version"),
        ("6180", "truncated inside a bound timestamp"),
        ("61" + "80" * 10 + "00", "longer than 10 bytes"),
        ("61" + "ff" * 9 + "7f", "exceeds 64 bits"),
        ("610021" + "00" * 33 + "00", "bound id prefix of 33 bytes"),
        ("61000201", "truncated inside a bound id prefix"),
        ("610000", "truncated inside a range mode"),
        ("61000003", "unexpected negentropy range mode 3"),
        ("61000001" + "00" * 15, "truncated inside a fingerprint"),
        ("61000002", "truncated inside an id list length"),
        ("610000028fffffff7f", "truncated inside a list of 4294967295 ids"),
        ("61000002" + "02" + "00" * 63, "truncated inside a list of 2 ids"),
        ("6106018000" + "01011000", "ranges out of order"),
    ],
)
@pytest.mark.parametrize("as_client", [False, True])
def test_malformed_messages_raise(hex_message: str, error: str, as_client: bool) -> None:
    ne = Negentropy(kat_storage(range(50)))
    receive: Callable[[bytes], object] = ne.reconcile
    if as_client:
        ne.initiate()
        receive = ne.reconcile_client
    with pytest.raises(RemoteProtocolError, match=error) as info:
        receive(bytes.fromhex(hex_message))
    assert info.value.prefix == "invalid"


def test_equal_consecutive_bounds_are_accepted() -> None:
    # The reference emits them: an IdList up to infinity followed by the closing fingerprint of a frame limit.
    empty_fingerprint = fingerprint_of(0, 0).hex()
    message = bytes.fromhex("6100000200" + "000001" + empty_fingerprint)
    client = Negentropy(vector([]))
    client.initiate()
    assert client.reconcile_client(message) == (None, [], [])


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), limit=st.sampled_from([0, 4096]), as_client=st.booleans())
def test_garbage_raises_only_remote_protocol_errors(body: bytes, limit: int, as_client: bool) -> None:
    ne = Negentropy(kat_storage(range(100)), limit)
    try:
        if as_client:
            ne.initiate()
            reply = ne.reconcile_client(b"\x61" + body)[0] or b""
        else:
            reply = ne.reconcile(b"\x61" + body)
    except RemoteProtocolError:
        return
    assert not limit or len(reply) <= limit


def test_server_reply_to_many_ranges_stays_within_the_frame_limit() -> None:
    # 2000 mismatched fingerprint ranges, each of which would be answered by 16 buckets.
    items = [(i, kat_id(i)) for i in range(20_000)]
    ranges = b"".join(encode_varint(11) + b"\x00\x01" + bytes(16) for _ in range(2000))
    reply = Negentropy(vector(items), 4096).reconcile(b"\x61" + ranges)
    assert 3000 < len(reply) <= 4096
    # Closing range: infinity bound, fingerprint of everything not answered.
    assert reply[-19:-16] == encode_varint(0) + b"\x00\x01"


# --- misuse -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 4095, -1])
def test_frame_size_limit_must_be_zero_or_at_least_4096(limit: int) -> None:
    with pytest.raises(LocalProtocolError, match="frame size limit"):
        Negentropy(vector([]), limit)


def test_session_call_order() -> None:
    ne = Negentropy(vector([]))
    with pytest.raises(LocalProtocolError):
        ne.reconcile_client(b"\x61")
    ne.initiate()
    with pytest.raises(LocalProtocolError):
        ne.initiate()
    with pytest.raises(LocalProtocolError):
        ne.reconcile(b"\x61")
    other = Negentropy(vector([]))
    other.set_initiator()
    assert other.reconcile_client(b"\x61")[0] is None


def test_storage_misuse() -> None:
    storage = VectorStorage()
    with pytest.raises(LocalProtocolError, match="not sealed"):
        Negentropy(storage).initiate()
    with pytest.raises(LocalProtocolError, match="32 bytes"):
        storage.insert(1, b"short")
    with pytest.raises(LocalProtocolError, match="timestamp out of range"):
        storage.insert(MAX_TIMESTAMP, kat_id(0))
    storage.insert(1, kat_id(0))
    storage.insert(1, kat_id(0))
    with pytest.raises(LocalProtocolError, match="duplicate"):
        storage.seal()
    sealed = vector([(1, kat_id(0))])
    with pytest.raises(LocalProtocolError, match="already sealed"):
        sealed.insert(2, kat_id(1))
    with pytest.raises(LocalProtocolError, match="out of bounds"):
        sealed.fingerprint(0, 2)
    with pytest.raises(LocalProtocolError, match="out of range"):
        sealed.get_item(1)
    with pytest.raises(LocalProtocolError):
        SubRangeStorage(sealed, INFINITY, Bound(0))


# --- the reference-suite harness ----------------------------------------------------------------------------

HARNESS = Path(__file__).resolve().parents[2] / "tools" / "negentropy-harness"


def run_harness(lines: list[str], frame_size_limit: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRAMESIZELIMIT": frame_size_limit}
    return subprocess.run(
        [str(HARNESS)],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_harness_speaks_the_reference_line_protocol() -> None:
    items = [f"item,{1_700_000_000 + i // 3},{kat_id(i).hex()}" for i in range(3)]
    client = run_harness([*items, "seal", "initiate", f"msg,{KAT_SMALL[1]}"], "4096")
    assert client.returncode == 0, client.stderr
    assert client.stdout.splitlines() == [
        f"msg,{KAT_SMALL[0]}",
        f"have,{kat_id(0).hex()}",
        f"need,{kat_id(3).hex()}",
        "done",
    ]
    server_items = [f"item,{1_700_000_000 + i // 3},{kat_id(i).hex()}" for i in range(1, 4)]
    server = run_harness([*server_items, "seal", "msg,62aabbccddeeff", f"msg,{KAT_SMALL[0]}"])
    assert server.stdout.splitlines() == ["msg,61", f"msg,{KAT_SMALL[1]}"]


@pytest.mark.parametrize("bad_line", ["bogus", "msg,6180", "item,1,00"])
def test_harness_fails_like_an_uncaught_exception(bad_line: str) -> None:
    result = run_harness(["seal", bad_line] if bad_line.startswith("msg") else [bad_line])
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
