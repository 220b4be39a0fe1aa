"""The bundle format: round trips, part sizes, chunking independence, damage recovery and limits (sans-IO)."""

from __future__ import annotations

import random
import struct
import zlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samizdat.core.bundle import (
    BLOCK_HEADER_SIZE,
    DEFAULT_LIMITS,
    HEADER_SIZE,
    MAGIC,
    MIN_PART_BYTES,
    TRAILER_SIZE,
    BundleHeader,
    BundleLimits,
    BundleWriter,
    Damaged,
    Item,
    PartSummary,
    RawEvent,
    encode_block,
    encode_header,
    encode_trailer,
)
from samizdat.core.bundle_reader import BundleReader
from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import BundleError, LocalProtocolError

KEY = SecretKey(bytes.fromhex("02" * 32))
OTHER = SecretKey(bytes.fromhex("03" * 32))
BUNDLE_ID = bytes(range(16))


def _pool() -> list[Event]:
    rng = random.Random(7)
    contents = ["", "short", "Минск: новости\nстрочка", 'quotes " and \\ and \x00\x01 controls', "🙂" * 50]
    events = []
    for i in range(80):
        content = contents[i % len(contents)] + " " + "".join(rng.choice("abcdefghij ") for _ in range(i * 7))
        if i % 37 == 5:
            content = "x" * 20_000  # a long post
        tags = [["d", f"c{i % 3}"], ["t", "news"]] + [["g", "u9edq"]] * (i % 4)
        events.append(sign_event(KEY if i % 2 else OTHER, 2333, content, tags, created_at=1_700_000_000 + i))
    return events


POOL = _pool()


def write_parts(
    events: list[Event],
    max_part_bytes: int | None = None,
    *,
    block_bytes: int = 64 * 1024,
    limits: BundleLimits = DEFAULT_LIMITS,
    counts: bool = True,
) -> list[bytes]:
    """The bytes of every part, as an exporter would write them (headers patched when ``counts``)."""
    parts: list[bytes] = []
    writers: list[BundleWriter] = []
    current = bytearray()

    def new_writer() -> BundleWriter:
        writer = BundleWriter(
            created_at=1_700_000_000,
            bundle_id=BUNDLE_ID,
            part=len(writers) + 1,
            max_part_bytes=max_part_bytes,
            limits=limits,
            block_bytes=block_bytes,
        )
        writers.append(writer)
        return writer

    writer = new_writer()
    for event in events:
        data = writer.add(event)
        if data is None:
            current += writer.finish()
            parts.append(bytes(current))
            current = bytearray()
            writer = new_writer()
            data = writer.add(event)
            assert data is not None
        current += data
    current += writer.finish()
    parts.append(bytes(current))
    if counts:
        parts = [w.header(len(parts)) + p[HEADER_SIZE:] for w, p in zip(writers, parts, strict=True)]
    return parts


def read(
    data: bytes, chunks: list[int] | None = None, limits: BundleLimits = DEFAULT_LIMITS
) -> tuple[list[Item], PartSummary]:
    reader = BundleReader(limits)
    items: list[Item] = []
    pos = 0
    for size in chunks or []:
        items += reader.feed(data[pos : pos + size])
        pos += size
    items += reader.feed(data[pos:])
    items += reader.close()
    return items, reader.summary()


def events_of(items: list[Item]) -> list[Event]:
    return [parse_event(i.value) for i in items if isinstance(i, RawEvent)]


# -- round trips -------------------------------------------------------------------------------------------------


def test_round_trip_keeps_every_event_in_order_and_is_complete() -> None:
    (data,) = write_parts(POOL)
    items, summary = read(data)
    assert events_of(items) == POOL
    assert all(isinstance(i, RawEvent) for i in items)
    assert summary.complete
    assert summary.problems == ()
    assert summary.records == len(POOL)
    assert summary.lost == summary.malformed == summary.damaged_bytes == 0
    assert summary.header == BundleHeader(1, 1, BUNDLE_ID, 1_700_000_000, len(POOL), summary.header.content_bytes)
    assert summary.header.content_bytes == sum(len(e.to_json()) + 1 for e in POOL)


def test_records_are_canonical_event_json_lines() -> None:
    (data,) = write_parts(POOL[:5])
    block = data[HEADER_SIZE : len(data) - TRAILER_SIZE]
    content = zlib.decompress(block[BLOCK_HEADER_SIZE:], -15)
    assert content == b"".join(e.to_json() + b"\n" for e in POOL[:5])


def test_empty_bundle_is_valid() -> None:
    (data,) = write_parts([])
    assert len(data) == HEADER_SIZE + TRAILER_SIZE
    items, summary = read(data)
    assert items == []
    assert summary.complete
    assert summary.header is not None
    assert summary.header.event_count == 0


def test_streamed_header_without_counts_still_reads_completely() -> None:
    (data,) = write_parts(POOL, counts=False)
    items, summary = read(data)
    assert events_of(items) == POOL
    assert summary.complete
    assert summary.header is not None
    assert summary.header.event_count is None
    assert summary.header.total_parts == 0


@settings(max_examples=40, deadline=None)
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), max_size=120),
    max_part=st.sampled_from([None, MIN_PART_BYTES, 6000, 9000, 30_000, 200_000]),
    block_bytes=st.sampled_from([512, 4096, 64 * 1024]),
)
def test_parts_respect_max_size_and_together_hold_every_event(
    picks: list[int], max_part: int | None, block_bytes: int
) -> None:
    events = [POOL[i] for i in picks]
    fits = [e for e in events if max_part is None or len(e.to_json()) + 200 < max_part]
    parts = write_parts(fits, max_part, block_bytes=block_bytes)
    got: list[Event] = []
    for number, part in enumerate(parts, start=1):
        if max_part is not None:
            assert len(part) <= max_part
        items, summary = read(part)
        assert summary.complete, summary.problems
        assert summary.header is not None
        assert (summary.header.part, summary.header.total_parts) == (
            number,
            len(parts),
        )
        got += events_of(items)
    assert got == fits


@settings(max_examples=40, deadline=None)
@given(picks=st.lists(st.integers(0, len(POOL) - 1), max_size=60), seed=st.integers(0, 2**32))
def test_any_chunking_gives_the_same_result(picks: list[int], seed: int) -> None:
    (data,) = write_parts([POOL[i] for i in picks], block_bytes=2048)
    rng = random.Random(seed)
    chunks = []
    total = 0
    while total < len(data):
        chunks.append(rng.choice([0, 1, 2, 3, 7, 28, 100, 1000, 5000]))
        total += chunks[-1]
    assert read(data, chunks) == read(data)


def test_byte_by_byte_gives_the_same_result() -> None:
    (data,) = write_parts(POOL, block_bytes=4096)
    assert read(data, [1] * len(data)) == read(data)


def test_parts_fill_up_to_the_limit() -> None:
    parts = write_parts([e for e in POOL if len(e.content) < 5000] * 3, 20_000)
    assert len(parts) > 3
    assert all(len(p) <= 20_000 for p in parts)
    assert all(len(p) > 15_000 for p in parts[:-1])  # exact accounting, not a pessimistic estimate


# -- writer rules --------------------------------------------------------------------------------------------


def test_writer_refuses_events_that_can_never_fit() -> None:
    writer = BundleWriter(created_at=0, max_part_bytes=MIN_PART_BYTES)
    big = POOL[5]
    assert len(big.to_json()) > MIN_PART_BYTES
    assert not writer.accepts(big)
    with pytest.raises(LocalProtocolError):
        writer.add(big)
    assert writer.accepts(POOL[0])
    with pytest.raises(LocalProtocolError):
        BundleWriter(created_at=0, max_part_bytes=100)


def test_writer_splits_at_max_events() -> None:
    limits = BundleLimits(max_events=10)
    parts = write_parts(POOL[:25], limits=limits)
    assert len(parts) == 3
    assert [read(p, limits=limits)[1].records for p in parts] == [10, 10, 5]


def test_writer_is_unusable_after_finish() -> None:
    writer = BundleWriter(created_at=0)
    with pytest.raises(LocalProtocolError):
        writer.header()
    writer.finish()
    with pytest.raises(LocalProtocolError):
        writer.add(POOL[0])


# -- whole-file rejections ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"PK\x03\x04 a zip file", "not a Samizdat bundle"),
        (b"SMZ", "header is incomplete"),
        (MAGIC + b"\x01" + bytes(20), "header is incomplete"),
        (MAGIC + b"\x03" + bytes(80), "version 3 is not supported"),
    ],
)
def test_not_a_bundle_is_rejected_with_one_sentence(data: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message) as info:
        read(data)
    assert "\n" not in str(info.value)


def test_wrong_magic_is_rejected_from_the_first_bytes() -> None:
    with pytest.raises(BundleError, match="not a Samizdat bundle"):
        BundleReader().feed(b"SMZX")


def test_reader_is_unusable_after_rejection() -> None:
    reader = BundleReader()
    with pytest.raises(BundleError):
        reader.feed(b"nope nope")
    with pytest.raises(LocalProtocolError):
        reader.feed(b"")


def test_unknown_flags_are_rejected() -> None:
    (data,) = write_parts(POOL[:2])
    body = bytearray(data[: HEADER_SIZE - 4])
    body[9] = 0x80
    header = bytes(body) + struct.pack(">I", zlib.crc32(body))
    with pytest.raises(BundleError, match="does not understand"):
        read(header + data[HEADER_SIZE:])


# -- damage ------------------------------------------------------------------------------------------------------


def test_truncation_at_every_offset_keeps_whole_blocks_and_counts_the_rest() -> None:
    small = [e for e in POOL if len(e.content) < 500][:30]
    (data,) = write_parts(small, block_bytes=2048)
    for cut in range(len(data)):
        if cut < HEADER_SIZE:
            with pytest.raises(BundleError, match="empty|truncated"):
                read(data[:cut])
            continue
        items, summary = read(data[:cut])
        got = [i.value["id"] for i in items if isinstance(i, RawEvent)]  # verified elsewhere; keep this fast
        assert got == [e.id for e in small[: len(got)]]
        assert not summary.complete
        assert summary.records + summary.lost == 30
        assert any("truncated" in p for p in summary.problems)


def test_damaged_block_is_skipped_and_counted_and_later_blocks_are_kept() -> None:
    (data,) = write_parts(POOL[:40], block_bytes=2048)
    good_items, _ = read(data)
    # Find the second block and flip a byte in the middle of its payload.
    pos = HEADER_SIZE
    (_, _, records0, _, payload0, _) = struct.unpack(">4sIIIII", data[pos : pos + 24])
    second = pos + BLOCK_HEADER_SIZE + payload0
    (_, index, records, _, payload, _) = struct.unpack(">4sIIIII", data[second : second + 24])
    assert index == 1
    damaged = bytearray(data)
    damaged[second + BLOCK_HEADER_SIZE + payload // 2] ^= 0x55
    items, summary = read(bytes(damaged))
    got = events_of(items)
    assert got == POOL[:records0] + POOL[records0 + records : 40]
    assert summary.lost == records
    assert summary.records == 40 - records
    assert not summary.complete
    assert Damaged(records, f"block 1 is damaged; its {records} events are lost") in items


def test_random_corruption_never_raises_past_the_header_and_never_invents_events() -> None:
    (data,) = write_parts(POOL[:40], block_bytes=1024)
    rng = random.Random(1)
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 2, 5, 40])):
            damaged[rng.randrange(HEADER_SIZE, len(data))] = rng.randrange(256)
        if rng.random() < 0.3:  # lose or duplicate a stretch too
            a = rng.randrange(HEADER_SIZE, len(data))
            b = rng.randrange(a, len(data))
            damaged = damaged[:a] + damaged[b:] if rng.random() < 0.5 else damaged[:b] + damaged[a:]
        items, summary = read(bytes(damaged), [rng.randrange(1, 3000) for _ in range(5)])
        for event in events_of(items):  # every event handed out is one of ours, intact
            assert event in POOL
        if bytes(damaged) != data:
            assert summary.records - summary.malformed <= 40 * 2


def test_damaged_header_still_reads_the_blocks() -> None:
    (data,) = write_parts(POOL[:10])
    damaged = bytearray(data)
    damaged[30] ^= 1  # inside the bundle id: header CRC fails
    items, summary = read(bytes(damaged))
    assert events_of(items) == POOL[:10]
    assert summary.header is None
    assert not summary.complete
    assert "header is damaged" in summary.problems[0]


def test_missing_block_is_reported_and_counted_from_the_trailer() -> None:
    (data,) = write_parts(POOL[:30], block_bytes=2048)
    pos = HEADER_SIZE
    (_, _, records0, _, payload0, _) = struct.unpack(">4sIIIII", data[pos : pos + 24])
    cut = data[:pos] + data[pos + BLOCK_HEADER_SIZE + payload0 :]
    items, summary = read(cut)
    assert events_of(items) == POOL[records0:30]
    assert summary.lost == records0
    assert "blocks 0 to 0 are missing" in summary.problems


def test_trailing_garbage_is_reported() -> None:
    (data,) = write_parts(POOL[:3])
    items, summary = read(data + b"junk")
    assert events_of(items) == POOL[:3]
    assert not summary.complete
    assert summary.damaged_bytes == 4


# -- hostile content ---------------------------------------------------------------------------------------------


def hostile(*blocks: bytes, trailer: bytes = b"") -> bytes:
    header = encode_header(BundleHeader(1, 1, BUNDLE_ID, 0, None, None))
    return header + b"".join(encode_block(i, b, b.count(b"\n")) for i, b in enumerate(blocks)) + trailer


def test_malformed_records_are_counted_and_the_rest_kept() -> None:
    good = POOL[0].to_json() + b"\n"
    bad_sig = orjson.loads(POOL[1].to_json())
    bad_sig["sig"] = "00" * 64
    lines = [
        good,
        b"[1,2,3]\n",
        b"{not json\n",
        b'{"content": "\xff\xfe"}\n',
        b"[" * 100_000 + b"]" * 100_000 + b"\n",
        b"{" + b'"a":{' * 5000 + b"}" * 5001 + b"\n",
        orjson.dumps(bad_sig) + b"\n",
        b"\n",
        POOL[2].to_json() + b"\n",
    ]
    items, summary = read(hostile(b"".join(lines)))
    raw = [i for i in items if isinstance(i, RawEvent)]
    assert len(raw) == 3  # two good, one well-formed with a bad signature (for parse_event to refuse)
    assert summary.malformed == 6
    assert sum(i.records for i in items if isinstance(i, Damaged)) == 6
    assert parse_event(raw[0].value) == POOL[0]
    assert parse_event(raw[2].value) == POOL[2]


def test_giant_line_is_refused_by_the_record_limit() -> None:
    items, summary = read(hostile(b"a" * 600_000, (POOL[0].to_json() + b"\n")))
    assert summary.malformed == 1
    assert events_of(items) == [POOL[0]]
    assert any("longer than" in p for p in summary.problems)


def test_block_declaring_more_than_the_block_limit_is_a_bomb() -> None:
    with pytest.raises(BundleError, match="decompression bomb"):
        read(hostile(b"\n" * (2 * 1024 * 1024)))


def test_decompression_bomb_is_refused_before_it_expands() -> None:
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = zeros.compress(bytes(1024 * 1024)) + zeros.flush()

    def block(i: int) -> bytes:
        head = struct.pack(">4sIIIII", b"SMZB", i, 0, 1024 * 1024, len(payload), zlib.crc32(payload))
        return head + struct.pack(">I", zlib.crc32(head)) + payload

    good = encode_block(0, POOL[0].to_json() + b"\n", 1)
    header = encode_header(BundleHeader(1, 1, BUNDLE_ID, 0, None, None))
    reader = BundleReader()
    # the good block and the first bomb block arrive in one chunk: the good event still comes out first
    items = reader.feed(header + good + b"".join(block(i) for i in range(1, 4)))
    assert events_of(items) == [POOL[0]]
    # ... and the bomb, found in that same chunk, is raised by the next call
    with pytest.raises(BundleError, match="decompression bomb") as info:
        reader.feed(block(4))
    assert "\n" not in str(info.value)


def test_absolute_expansion_limit() -> None:
    limits = BundleLimits(max_content_bytes=50_000)
    (data,) = write_parts(POOL[:60], limits=BundleLimits(), counts=False)
    with pytest.raises(BundleError, match="more than 50000 bytes"):
        read(data, limits=limits)


def test_max_events_per_part() -> None:
    (data,) = write_parts(POOL[:30], counts=False)
    with pytest.raises(BundleError, match="more than 20 events"):
        read(data, limits=BundleLimits(max_events=20))
    (counted,) = write_parts(POOL[:30])
    with pytest.raises(BundleError, match="30 events"):
        read(counted, limits=BundleLimits(max_events=20))


def test_lying_block_length_cannot_expand_past_its_declaration() -> None:
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = zeros.compress(bytes(50_000_000)) + zeros.flush()
    head = struct.pack(">4sIIIII", b"SMZB", 0, 1, 100_000, len(payload), zlib.crc32(payload))
    data = hostile() + head + struct.pack(">I", zlib.crc32(head)) + payload
    items, summary = read(data + encode_trailer(1, 1, 100_000, bytes(32)))
    assert events_of(items) == []
    assert "does not decompress" in summary.problems[0]
    assert summary.lost == 1


def test_a_file_of_decoy_magics_is_given_up_as_noise() -> None:
    decoys = encode_header(BundleHeader(1, 1, BUNDLE_ID, 0, None, None)) + b"SMZB" * 20_000
    with pytest.raises(BundleError, match="too damaged"):
        read(decoys, [4096] * 20)
