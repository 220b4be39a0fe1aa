"""Hostile files, sealed (docs/bundle-format.md, "Sealed parts"): whoever knows a sealed file's passphrase can put a
bomb or a giant record inside it, and the node must refuse it exactly as it refuses the same plain file, with the
same sentence and the same events kept; two sealed files glued together give only what each was sealed with."""

from __future__ import annotations

import os
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_hostile_bundles import CARRIED, EXISTING, MIB, header, raw_block, records, stored

from samizdat.core.bundle import encode_block, encode_trailer
from samizdat.core.bundle_seal import seal
from samizdat.core.event import Event
from samizdat.store.bundles import FileReport, import_bundles
from samizdat.store.sqlite import SqliteStore

PASSPHRASE = "rain over the square"


def _bomb() -> bytes:
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = zeros.compress(bytes(MIB)) + zeros.flush()
    blocks = b"".join(raw_block(i, MIB, payload) for i in range(1, 200))
    return header() + encode_block(0, records(CARRIED[:10]), 10) + blocks + encode_trailer(200, 10, 0, bytes(32))


HOSTILE = {
    "a framed decompression bomb": _bomb,
    "a block claiming a gigabyte": lambda: header() + raw_block(0, 1024 * MIB, b"\x03\x00"),
    "a giant line": lambda: (
        header() + encode_block(0, b"{" + b"a" * 900_000, 1) + encode_block(1, records(CARRIED[:5]), 5)
    ),
    "nested JSON": lambda: header() + encode_block(0, b"[" * 100_000 + b"]" * 100_000 + b"\n", 1),
    "garbage after a good header": lambda: header() + bytes(range(256)) * 64,
}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "node.db")
    await store.add_many(EXISTING)
    yield store
    await store.close()


async def _import(store: SqliteStore, path: Path) -> FileReport:
    (report,) = (await import_bundles([path], store.add_many, passphrase=PASSPHRASE)).files
    return report


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_a_sealed_hostile_file_is_refused_as_the_plain_one(store: SqliteStore, tmp_path: Path, name: str) -> None:
    plain = HOSTILE[name]()
    (tmp_path / "plain.smz").write_bytes(plain)
    (tmp_path / "sealed.bin").write_bytes(seal(plain, PASSPHRASE, os.urandom(16)))
    as_plain = await _import(store, tmp_path / "plain.smz")
    as_sealed = await _import(store, tmp_path / "sealed.bin")
    assert as_sealed.error == as_plain.error
    assert (as_sealed.new + as_sealed.duplicate, as_sealed.invalid) == (as_plain.new, as_plain.invalid)
    assert as_sealed.problems == as_plain.problems


def _sealed_blocks(events: list[Event], per_block: int) -> bytes:
    blocks = [encode_block(i, records(events[at : at + per_block]), len(events[at : at + per_block]))
              for i, at in enumerate(range(0, len(events), per_block))]  # fmt: skip
    return seal(header() + b"".join(blocks), PASSPHRASE, os.urandom(16))


async def test_two_sealed_files_glued_give_only_their_own_posts(store: SqliteStore, tmp_path: Path) -> None:
    first, second = _sealed_blocks(CARRIED[:100], 5), _sealed_blocks(CARRIED[100:], 5)
    (tmp_path / "glued.bin").write_bytes(first[: len(first) // 2 // 4096 * 4096] + second[len(second) // 2 :])
    report = await _import(store, tmp_path / "glued.bin")
    assert report.error is None
    assert not report.complete
    new = await stored(store) - set(EXISTING)
    assert 0 < len(new) < 100
    assert new <= set(CARRIED[:100])  # none of the second file's chunks opens under the first's key
