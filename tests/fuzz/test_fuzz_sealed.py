"""Sealed bundles (core/bundle_seal.py) fed damaged bytes: the opener raises only its one sentence, reads the same
however the file is chunked, and hands on only bytes that were sealed, so that every event an import takes from a
damaged sealed file was in it (a flipped, inserted or cut byte never turns into an event of someone else's);
``import_bundles`` of such a file never raises and its report adds up.

scrypt costs a fifth of a second a call: while this module runs, the key of a passphrase and salt already seen is
taken from a cache (the same key, sooner)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import fuzz_targets as targets
import pytest
from fuzz_seeds import sample_events
from fuzz_strategies import FUZZ, mutated
from hypothesis import given
from hypothesis import strategies as st

from samizdat.core import bundle_seal
from samizdat.core.bundle import HEADER_SIZE, BundleWriter, RawEvent
from samizdat.core.bundle_reader import BundleReader
from samizdat.core.bundle_seal import WRONG_PASSPHRASE, Lost, OpeningReader, seal
from samizdat.core.event import Event, parse_event
from samizdat.errors import BundleError, RemoteProtocolError
from samizdat.store.bundles import import_bundles

EVENTS = sample_events()
PASSPHRASE = "rain over the square"
SALT = bytes(range(16))


@pytest.fixture(scope="module", autouse=True)
def _cached_keys() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bundle_seal, "derive_key", functools.lru_cache(maxsize=32)(bundle_seal.derive_key))
        yield


def _plain(events: list[Event], block_bytes: int) -> bytes:
    writer = BundleWriter(created_at=0, bundle_id=bytes(16), block_bytes=block_bytes)
    out = b"".join(writer.add(event) or b"" for event in events) + writer.finish()
    return writer.header(total_parts=1) + out[HEADER_SIZE:]


sealed_bundles = st.builds(
    lambda events, block_bytes: seal(_plain(events, block_bytes), PASSPHRASE, SALT),
    st.lists(st.sampled_from(EVENTS), min_size=1, max_size=60),
    st.sampled_from([256, 1024]),
)


def _open(data: bytes, chunk: int) -> tuple[bytes, int, str | None]:
    """The plain bytes, the chunks lost and the rejection of opening ``data`` fed ``chunk`` bytes at a time."""
    reader = OpeningReader(PASSPHRASE)
    pieces: list[bytes | Lost] = []
    try:
        for at in range(0, len(data), chunk):
            pieces += reader.feed(data[at : at + chunk])
        pieces += reader.close()
    except BundleError as exc:
        return b"", 0, str(exc)
    plain = b"".join(p for p in pieces if isinstance(p, bytes))
    return plain, sum(isinstance(p, Lost) for p in pieces), None


def _events(plain: bytes) -> list[Event]:
    reader = BundleReader()
    items = []
    try:
        items = reader.feed(plain) + reader.close()
    except BundleError:
        pass
    out = []
    for item in items:
        if isinstance(item, RawEvent):
            try:
                out.append(parse_event(item.value, verify=True))
            except RemoteProtocolError:
                pass
    return out


@FUZZ
@given(sealed=sealed_bundles, chunk=st.integers(1, 9000))
def test_a_sealed_bundle_opens_to_its_plain_part_in_any_chunks(sealed: bytes, chunk: int) -> None:
    plain, lost, error = _open(sealed, chunk)
    assert (lost, error) == (0, None)
    assert _events(plain)  # every event, in a complete part
    reader = BundleReader()
    reader.feed(plain)
    reader.close()
    assert reader.summary().complete


@FUZZ
@given(st.data())
def test_a_damaged_sealed_bundle_gives_only_what_was_sealed(data: st.DataObject) -> None:
    sealed = data.draw(sealed_bundles, label="sealed")
    damaged = data.draw(mutated([sealed]), label="damaged")
    whole = _open(damaged, max(len(damaged), 1))
    assert whole == _open(damaged, data.draw(st.integers(1, 5000), label="chunk"))
    plain, _lost, error = whole
    assert error in (None, WRONG_PASSPHRASE)
    targets.bundle(plain)  # the plain reader's own contract holds on whatever came out
    assert {e.id for e in _events(plain)} <= {e.id for e in EVENTS}


@FUZZ
@given(st.data())
def test_importing_a_damaged_sealed_file_never_raises(data: st.DataObject) -> None:
    damaged = data.draw(mutated([data.draw(sealed_bundles, label="sealed")]), label="damaged")
    path = Path(targets._BUNDLE_DIR.name) / "sealed.bin"
    path.write_bytes(damaged)
    report = targets._run(import_bundles([path], targets._ingest, batch_size=7, passphrase=PASSPHRASE))
    (part,) = report.files
    assert part.new == sum(part.outcomes.values()) <= 60
    assert part.error is None or part.error
