"""The photo store in PostgreSQL (store/pgblobs.py) beyond what the blob tests run on both stores
(tests/services/test_blobs.py): two stores on one database see one set of photos, a connection the server dropped
is replaced, and errors are one sentence without the password."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import psycopg
import pytest

from samizdat.errors import StoreError
from samizdat.store.pgblobs import PgBlobStore
from samizdat.testing import clean_photo


@pytest.fixture
def pair(postgres_url: str) -> Iterator[tuple[PgBlobStore, PgBlobStore]]:
    """Two photo stores on one database: two nodes."""
    first = PgBlobStore(postgres_url)
    try:
        second = PgBlobStore(postgres_url)
        try:
            yield first, second
        finally:
            second.close()
    finally:
        first.close()


def test_two_nodes_share_photos_uploaders_references_and_retries(pair: tuple[PgBlobStore, PgBlobStore]) -> None:
    a, b = pair
    data = clean_photo(seed=50)
    sha256 = hashlib.sha256(data).hexdigest()
    assert a.put(sha256, data, "image/webp", thumb=False, now=10, owner="aa" * 32)
    assert not b.put(sha256, data, "image/webp", thumb=True, now=11, owner="bb" * 32)  # stored already
    assert b.get(sha256) == data
    entry = b.entry(sha256)
    assert entry is not None
    assert entry.thumb  # a later upload as a thumbnail marks it
    assert a.owners(sha256) == {"aa" * 32, "bb" * 32}
    assert [e.uploaded for e in b.listing("aa" * 32)] == [10]
    a.add_refs("cd" * 32, [sha256, "ef" * 32])
    assert b.referenced_by(sha256) == {"cd" * 32}
    assert b.missing(now=0, limit=10) == [("ef" * 32, "cd" * 32)]
    a.missed("ef" * 32, now=100, delay=60)
    assert b.missing(now=159, limit=10) == []
    assert b.missing(now=160, limit=10) == [("ef" * 32, "cd" * 32)]
    b.missed("ef" * 32, now=160, delay=60)
    assert a.missing(now=279, limit=10) == []  # the second miss doubles the wait
    assert b.drop_refs("cd" * 32) == {sha256, "ef" * 32}
    a.set_meta("cursor", "42")
    assert b.meta("cursor") == "42"
    assert b.total_bytes() == len(data)
    assert b.disown(sha256, "bb" * 32)
    assert b.delete(sha256)
    assert a.get(sha256) is None
    assert not a.has(sha256)
    assert not a.delete(sha256)


def test_a_connection_the_server_dropped_is_replaced(pair: tuple[PgBlobStore, PgBlobStore], postgres_url: str) -> None:
    store, _ = pair
    data = clean_photo(seed=51)
    sha256 = hashlib.sha256(data).hexdigest()
    store.put(sha256, data, "image/webp", thumb=False, now=1)
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # a server restart, as the store sees it
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'samizdat-blobs'"
        ).fetchone()
    assert ended == (2,)
    assert store.get(sha256) == data
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get(sha256)  # a closed store does not open a new connection behind its owner's back


def test_an_unreachable_database_is_one_sentence_without_the_password(postgres_url: str) -> None:
    unreachable = postgres_url.replace("postgres@", "postgres:secret@").rsplit(":", 1)[0] + ":1/nothing"
    with pytest.raises(StoreError) as failed:
        PgBlobStore(unreachable)
    message = str(failed.value)
    assert message.startswith("Cannot open the photo store at postgresql://postgres:***@127.0.0.1:1/nothing")
    assert "secret" not in message
    assert "\n" not in message
