"""Sealed bundle parts (core/bundle_seal.py): what an examiner sees of one (its size), and what a reader with the
passphrase still gets from a damaged one: every post outside the damaged 4 KiB, even when the damage hits the
plain header inside."""

from __future__ import annotations

import os
import re

import pytest

from samizdat.core.bundle import HEADER_SIZE, BundleWriter, RawEvent
from samizdat.core.bundle_reader import BundleReader
from samizdat.core.bundle_seal import (
    CHUNK,
    WRONG_PASSPHRASE,
    OpeningReader,
    SealingWriter,
    padded_chunks,
    plain_capacity,
    seal,
)
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import BundleError, LocalProtocolError

KEY = SecretKey(bytes([9]) * 32)
EVENTS = [sign_event(KEY, 1, f"post {i} " + "ab" * 200, created_at=1_700_000_000 + i) for i in range(200)]


def _plain(block_bytes: int = 4096) -> bytes:
    writer = BundleWriter(created_at=0, bundle_id=bytes(16), block_bytes=block_bytes)
    body = b"".join(writer.add(e) or b"" for e in EVENTS) + writer.finish()
    return writer.header(total_parts=1) + body[HEADER_SIZE:]


def _read(sealed: bytes, passphrase: str = "pw") -> list[str]:
    opener, reader = OpeningReader(passphrase), BundleReader()
    plain = b"".join(p for p in opener.feed(sealed) + opener.close() if isinstance(p, bytes))
    items = reader.feed(plain) + reader.close()
    return [str(item.value["id"]) for item in items if isinstance(item, RawEvent)]


def test_sizes_say_only_an_order_of_magnitude() -> None:
    assert [padded_chunks(n) for n in range(1, 14)] == [1, 2, 3, 4, 6, 6, 8, 8, 12, 12, 12, 12, 16]
    assert padded_chunks(13, most=14) == 14  # a part's maximum size comes first
    assert plain_capacity(2 * CHUNK) == 4062 + 4078


def test_a_sealed_part_opens_whole_and_the_wrong_passphrase_gives_nothing() -> None:
    sealed = seal(_plain(), "pw", os.urandom(16))
    assert len(sealed) % CHUNK == 0
    assert _read(sealed) == [e.id for e in EVENTS]
    opener = OpeningReader("pW")
    with pytest.raises(BundleError, match=re.escape(WRONG_PASSPHRASE)):
        opener.feed(sealed)  # refused after the first chunks: the rest is never tried


def test_damage_loses_its_own_chunk_only_even_in_the_header() -> None:
    plain = _plain(block_bytes=1024)
    sealed = bytearray(seal(plain, "pw", os.urandom(16)))
    sealed[100] ^= 1  # chunk 0: the plain header and the first blocks
    sealed[5 * CHUNK + 7] ^= 1  # and chunk 5
    got = _read(bytes(sealed))
    assert len(got) > len(EVENTS) * 3 // 4
    assert set(got) < {e.id for e in EVENTS}
    assert EVENTS[-1].id in got  # everything after the damage


def test_a_writer_keeps_within_its_chunks() -> None:
    writer = SealingWriter("pw", os.urandom, max_chunks=2)
    writer.write(bytes(plain_capacity(2 * CHUNK)) + b"x")
    with pytest.raises(LocalProtocolError):
        writer.finish()  # the store's part writer never gives it more than plain_capacity
