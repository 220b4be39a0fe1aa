"""An encrypted node's photo files do not tell the photos' sizes, which every post's ``imeta`` tag makes public."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from samizdat.core.sealing import subkey
from samizdat.store.blobs import FILE_LABEL, MAGIC, NONCE_SIZE, PAD_STEP, BlobStore, padded_size

KEY = bytes(range(32))
SIZES = [1, 4000, 9_170, 39_404, 39_405, 120_000, 204_800, 2 * 1024 * 1024]


def test_a_blob_file_is_padded_to_a_step_of_the_ladder_and_reads_back(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", KEY)
    try:
        for n in SIZES:
            data = os.urandom(n)
            sha = hashlib.sha256(data).hexdigest()
            store.put(sha, data, "image/webp", thumb=False, now=1)
            size = store.path(sha).stat().st_size
            assert size == padded_size(n)
            assert size % PAD_STEP == 0
            assert size != n + 36
            assert store.get(sha) == data
            assert store.entry(sha) is not None
    finally:
        store.close()
    # A whole photo of the pipeline's sizes costs at most half as much again on the disk.
    assert all(padded_size(n) <= 1.5 * n + 2 * PAD_STEP for n in SIZES)
    # Photos a few hundred bytes apart share one size.
    assert len({padded_size(n) for n in range(36_000, 48_000, 97)}) == 1


def test_files_of_the_first_format_are_read_and_padded_at_the_next_open(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", KEY)
    photos = [os.urandom(n) for n in (9_170, 39_404)]
    try:
        for data in photos:
            sha = hashlib.sha256(data).hexdigest()
            store.put(sha, data, "image/webp", thumb=False, now=1)
            nonce = os.urandom(NONCE_SIZE)  # the file as the first format wrote it: its size the photo's + 36
            sealed = ChaCha20Poly1305(subkey(KEY, FILE_LABEL)).encrypt(nonce, data, MAGIC + sha.encode())
            store.path(sha).write_bytes(MAGIC + nonce + sealed)
            assert store.path(sha).stat().st_size == len(data) + 36
            assert store.get(sha) == data  # still read
        store.set_meta("padded", "")  # as a store of the first format has it
    finally:
        store.close()
    again = BlobStore(tmp_path / "blobs", KEY)
    try:
        for data in photos:
            sha = hashlib.sha256(data).hexdigest()
            assert again.path(sha).stat().st_size == padded_size(len(data))
            assert again.get(sha) == data
    finally:
        again.close()
