"""An encrypted node keeps its photos inside its encrypted photo index, not a file each: a file's size gave away the
photo's size, which every post's ``imeta`` tag makes public, and its birth time the second its author posted it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from samizdat.core.sealing import subkey
from samizdat.store.blobs import FILE_LABEL, INDEX, KEYCHECK, MAGIC, NONCE_SIZE, BlobStore

KEY = bytes(range(32))
SIZES = [1, 9_170, 39_404, 204_800, 2 * 1024 * 1024]


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_an_encrypted_store_keeps_no_file_per_photo_and_reads_every_one_back(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", KEY)
    photos = {hashlib.sha256(data).hexdigest(): data for data in (os.urandom(n) for n in SIZES)}
    try:
        for sha, data in photos.items():
            assert store.put(sha, data, "image/webp", thumb=False, now=1)
        assert [n for n in names(tmp_path / "blobs") if not n.startswith((INDEX, KEYCHECK))] == []
        for sha, data in photos.items():
            assert store.get(sha) == data
        everything = b"".join(p.read_bytes() for p in (tmp_path / "blobs").iterdir())
        assert not [sha for sha, data in photos.items() if (len(data) >= 64 and data[-64:] in everything)
                       or sha.encode() in everything]  # fmt: skip
        gone = next(iter(photos))
        assert store.delete(gone)
        assert store.get(gone) is None
        assert not store.has(gone)
    finally:
        store.close()
    again = BlobStore(tmp_path / "blobs", KEY)
    try:
        assert sorted(e.sha256 for e in again.entries()) == sorted(set(photos) - {gone})
        assert all(again.get(sha) == photos[sha] for sha in set(photos) - {gone})
    finally:
        again.close()


def test_the_files_of_an_earlier_version_are_taken_in_at_the_next_open_and_deleted(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", KEY)
    photos = [os.urandom(n) for n in (9_170, 39_404)]
    try:
        for data in photos:
            sha = hashlib.sha256(data).hexdigest()
            store.put(sha, data, "image/webp", thumb=False, now=1)
            nonce = os.urandom(NONCE_SIZE)  # the file as the first version wrote it: its size the photo's + 36
            sealed = ChaCha20Poly1305(subkey(KEY, FILE_LABEL)).encrypt(nonce, data, MAGIC + sha.encode())
            store.path(sha).write_bytes(MAGIC + nonce + sealed)
        store._db.execute("DELETE FROM data")  # as that version's index had it: no bytes of its own
        store.set_meta("inline", "")
    finally:
        store.close()
    assert len([n for n in names(tmp_path / "blobs") if not n.startswith((INDEX, KEYCHECK))]) == 2
    again = BlobStore(tmp_path / "blobs", KEY)
    try:
        assert [n for n in names(tmp_path / "blobs") if not n.startswith((INDEX, KEYCHECK))] == []
        for data in photos:
            assert again.get(hashlib.sha256(data).hexdigest()) == data
    finally:
        again.close()
