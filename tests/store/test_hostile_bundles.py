"""Hostile and damaged bundle files, generated here: every one is refused or salvaged with a one-line reason, and
the store keeps every event it had."""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from samizdat.core.bundle import HEADER_SIZE, MAGIC, BundleHeader, encode_block, encode_header, encode_trailer
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.store.bundles import FileReport, export_bundle, import_bundles
from samizdat.store.sqlite import SqliteStore

NOW = int(time.time())
KEY = SecretKey(bytes.fromhex("21" * 32))
EXISTING = [sign_event(KEY, 2333, f"already here {i}", [["t", "old"]], created_at=NOW - 5000 + i) for i in range(40)]
CARRIED = [
    sign_event(KEY, 2333, f"carried post {i} " + "лісты з Гомеля " * (i % 9), [["t", "new"]], created_at=NOW - i)
    for i in range(300)
]
ID = bytes(16)
MIB = 1024 * 1024


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "node.db")
    await store.add_many(EXISTING)
    yield store
    await store.close()


async def stored(store: SqliteStore) -> set[Event]:
    found: set[Event] = set()
    rowid = 0
    while rows := await store.events_since(rowid, 1000):
        rowid = rows[-1][0]
        found.update(event for _, event in rows)
    return found


async def import_one(store: SqliteStore, path: Path) -> FileReport:
    """Import ``path`` and check what must hold for every file, however hostile."""
    report = await import_bundles([path], store.add_many)
    (file,) = report.files
    assert file.error is None or (file.error and "\n" not in file.error)
    assert "\n" not in file.describe()
    assert all("\n" not in problem for problem in file.problems)
    held = await stored(store)
    assert set(EXISTING) <= held
    assert held <= set(EXISTING) | set(CARRIED)
    return file


def write(path: Path, *pieces: bytes) -> Path:
    path.write_bytes(b"".join(pieces))
    return path


def header(**changes: object) -> bytes:
    return encode_header(replace(BundleHeader(1, 1, ID, NOW, None, None), **changes))  # type: ignore[arg-type]


def records(events: list[Event]) -> bytes:
    return b"".join(e.to_json() + b"\n" for e in events)


def raw_block(index: int, content_len: int, payload: bytes, records: int = 0) -> bytes:
    """A block header that says whatever we like, with correct checksums, and ``payload`` after it."""
    head = struct.pack(">4sIIIII", b"SMZB", index, records, content_len, len(payload), zlib.crc32(payload))
    return head + struct.pack(">I", zlib.crc32(head)) + payload


@pytest.fixture
async def exported(tmp_path: Path) -> bytes:
    source = await SqliteStore.open(tmp_path / "source.db")
    try:
        await source.add_many(CARRIED)
        report = await export_bundle(source, tmp_path / "good.smz", created_at=NOW)
    finally:
        await source.close()
    return report.files[0].read_bytes()


# -- rejected as a whole ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"GIF89a" + bytes(100), "not a Samizdat bundle"),
        (b"\x1f\x8b\x08" + bytes(100), "not a Samizdat bundle"),
        (MAGIC[:5], "header is incomplete"),
        (header()[:40], "header is incomplete (40 of 64 bytes)"),
        (MAGIC + b"\x09" + bytes(200), "version 9 is not supported"),
    ],
)
async def test_not_a_bundle(store: SqliteStore, tmp_path: Path, content: bytes, message: str) -> None:
    report = await import_one(store, write(tmp_path / "x.smz", content))
    assert report.error is not None
    assert message in report.error
    assert report.new == report.invalid == 0
    assert report.describe().startswith("x.smz: 0 new, 0 duplicate, 0 invalid, 0 rejected; rejected: ")


async def test_unreadable_paths(store: SqliteStore, tmp_path: Path) -> None:
    missing = await import_one(store, tmp_path / "nope.smz")
    assert missing.error == "cannot read this file: No such file or directory"
    directory = await import_one(store, tmp_path)
    assert directory.error is not None
    assert directory.error.startswith("cannot read this file")


async def test_a_bad_file_does_not_stop_the_others(store: SqliteStore, tmp_path: Path, exported: bytes) -> None:
    bad = write(tmp_path / "bad.smz", b"junk")
    good = write(tmp_path / "good2.smz", exported)
    report = await import_bundles([bad, good], store.add_many)
    assert report.files[0].error is not None
    assert report.files[1].new == len(CARRIED)
    assert [f.path for f in report.failed] == [bad]


# -- decompression bombs ---------------------------------------------------------------------------------------


async def test_framed_decompression_bomb_is_refused_quickly(store: SqliteStore, tmp_path: Path) -> None:
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = zeros.compress(bytes(MIB)) + zeros.flush()  # 1 MiB of zeros in about 1 KiB
    path = tmp_path / "bomb.smz"
    with path.open("wb") as f:  # 1 GiB of zeros, written one block at a time: the test stays small too
        f.write(header() + encode_block(0, records(CARRIED[:10]), 10))
        for i in range(1, 1025):
            f.write(raw_block(i, MIB, payload))
        f.write(encode_trailer(1025, 10, 1024 * MIB, bytes(32)))
    assert path.stat().st_size < 2 * MIB
    started = time.monotonic()
    report = await import_one(store, path)
    assert time.monotonic() - started < 5
    assert report.error is not None
    assert "looks like a decompression bomb" in report.error
    assert report.new == 10  # what came before the bomb is kept


async def test_one_block_claiming_a_gigabyte_is_refused(store: SqliteStore, tmp_path: Path) -> None:
    path = write(tmp_path / "big.smz", header(), raw_block(0, 1024 * MIB, b"\x03\x00"))
    report = await import_one(store, path)
    assert report.error is not None
    assert "decompression bomb" in report.error


async def test_bare_deflate_bomb_is_never_decompressed(store: SqliteStore, tmp_path: Path) -> None:
    # A raw deflate stream of 1 GiB of zeros without our framing: 1 MiB compressed once and repeated (a full
    # flush makes each copy independent), so that building it is as cheap as refusing it must be.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    path = tmp_path / "bare.smz"
    with path.open("wb") as f:
        f.write(header())
        for _ in range(1024):
            f.write(chunk)
        f.write(compressor.flush())
    started = time.monotonic()
    report = await import_one(store, path)
    assert time.monotonic() - started < 5
    assert report.new == 0
    assert not report.complete
    assert any("truncated" in p for p in report.problems)


# -- damage: keep what is intact ---------------------------------------------------------------------------------


async def test_truncated_at_many_offsets(store: SqliteStore, tmp_path: Path, exported: bytes) -> None:
    cuts = sorted({*range(0, 200, 13), *range(HEADER_SIZE, len(exported), len(exported) // 40), len(exported) - 1})
    for cut in cuts:
        report = await import_one(store, write(tmp_path / f"cut{cut}.smz", exported[:cut]))
        if cut < HEADER_SIZE:
            assert report.error is not None
            continue
        assert report.error is None
        assert not report.complete
        # the header was patched with the counts, so every missing record is accounted for
        assert report.new + report.duplicate + report.invalid == len(CARRIED)


async def test_corrupted_middle_keeps_the_rest(store: SqliteStore, tmp_path: Path) -> None:
    blocks = [encode_block(i, records(CARRIED[i * 30 : i * 30 + 30]), 30) for i in range(10)]
    data = bytearray(header(event_count=300, content_bytes=len(records(CARRIED)), total_parts=1) + b"".join(blocks))
    data += encode_trailer(10, 300, len(records(CARRIED)), hashlib.sha256(records(CARRIED)).digest())
    middle = HEADER_SIZE + sum(len(b) for b in blocks[:4]) + len(blocks[4]) // 2
    data[middle : middle + 20] = b"\x00" * 20  # block 4
    data[middle + len(blocks[4]) : middle + len(blocks[4]) + 3] = b"XYZ"  # block 5
    report = await import_one(store, write(tmp_path / "hit.smz", bytes(data)))
    assert report.error is None
    assert (report.new, report.invalid) == (240, 60)
    assert not report.complete
    assert "block 4 is damaged; its 30 events are lost" in report.problems
    assert set(CARRIED[:120]) | set(CARRIED[180:]) <= await stored(store)


async def test_giant_line_without_newline(store: SqliteStore, tmp_path: Path) -> None:
    path = write(
        tmp_path / "line.smz",
        header(),
        encode_block(0, b"{" + b"a" * 900_000, 1),
        encode_block(1, records(CARRIED[:5]), 5),
    )
    report = await import_one(store, path)
    assert (report.new, report.invalid) == (5, 1)


async def test_line_longer_than_any_block(store: SqliteStore, tmp_path: Path) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(b"[" * (10 * MIB)) + compressor.flush()
    report = await import_one(store, write(tmp_path / "l.smz", header(), raw_block(0, 10 * MIB, payload)))
    assert report.error is not None
    assert "decompression bomb" in report.error


async def test_deeply_nested_json(store: SqliteStore, tmp_path: Path) -> None:
    lines = [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"id":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ]
    content = b"".join(line + b"\n" for line in lines) + records(CARRIED[:3])
    report = await import_one(store, write(tmp_path / "deep.smz", header(), encode_block(0, content, 6)))
    assert (report.new, report.invalid) == (3, 3)


def forged(event: Event, **changes: object) -> bytes:
    raw = orjson.loads(event.to_json())
    raw.update(changes)
    return orjson.dumps(raw) + b"\n"


async def test_bad_signatures_and_ids(store: SqliteStore, tmp_path: Path) -> None:
    good = CARRIED[:20]
    bad = CARRIED[20:24]
    content = (
        forged(bad[0], sig="ab" * 64)
        + records(good[:10])
        + forged(bad[1], content="the police left, come out")  # the id no longer matches
        + forged(bad[2], pubkey=SecretKey(bytes.fromhex("22" * 32)).public_key_hex)
        + forged(bad[3], kind="1")
        + records(good[10:])
    )
    report = await import_one(store, write(tmp_path / "forged.smz", header(), encode_block(0, content, 24)))
    assert (report.new, report.invalid) == (20, 4)
    assert not report.complete
    held = await stored(store)
    assert set(good) <= held
    assert {e.id for e in held}.isdisjoint(e.id for e in bad)


async def test_non_utf8_records(store: SqliteStore, tmp_path: Path) -> None:
    bad = CARRIED[0].to_json().replace(b"carried", b"carr\xff\xfeied")
    content = bad + b"\n" + b"\xc3\x28\xa0\xa1\n" + records(CARRIED[1:4])
    report = await import_one(store, write(tmp_path / "utf.smz", header(), encode_block(0, content, 5)))
    assert (report.new, report.invalid) == (3, 2)


async def test_random_garbage_after_a_good_header(store: SqliteStore, tmp_path: Path) -> None:
    garbage = hashlib.shake_256(b"seed").digest(300_000)
    report = await import_one(store, write(tmp_path / "g.smz", header(), garbage))
    assert report.error is None
    assert report.new == 0
    assert not report.complete


async def test_events_the_relay_would_refuse_are_refused_with_its_words(store: SqliteStore, tmp_path: Path) -> None:
    """A bundle is no back door: an event dated in 2100 and one of 450 KB would sit at the top of every list and
    spread by sync. They are signed and intact, so they are not invalid: they are counted as rejected, with the
    relay's reason, and the rest of the file gets in."""
    from_2100 = sign_event(KEY, 2333, "the future", [["t", "new"]], created_at=4_102_444_800)
    huge = sign_event(KEY, 2333, "lists " * 75_000, [["t", "new"]], created_at=NOW - 10)  # 450 KB
    content = records([*CARRIED[:5], from_2100, huge, *CARRIED[5:10]])
    report = await import_one(store, write(tmp_path / "far.smz", header(), encode_block(0, content, 12)))
    assert (report.new, report.invalid, report.rejected) == (10, 0, 2)
    assert dict(report.refused) == {
        "invalid: created_at too far in the future": 1,
        "invalid: content longer than 65536 characters": 1,
    }
    assert "2 rejected (1 invalid: created_at too far in the future, 1 invalid: content longer" in report.describe()
    assert await store.has([from_2100.id, huge.id]) == set()
