"""Bundles: signed events in a file that travels on a USB stick or through a messenger (``docs/bundle-format.md``).

Theory of operation
-------------------

A bundle *part* is a fixed 64-byte header, a run of independent compressed *blocks*, and a 60-byte trailer::

    header | block 0 | block 1 | ... | block n-1 | trailer

Each block is a 28-byte block header (its own magic, index, record count, lengths and CRC-32s) followed by a
complete raw-deflate stream of whole records, one event's canonical JSON and ``\\n`` per record. Blocks share no
compression state, so damage stays inside the block it hits: the reader checks the block's CRC before it
decompresses anything, counts the block's records as lost when it fails, and scans forward for the next block
magic whose header checksum holds. The trailer repeats the counts and carries the SHA-256 of all records, so a
truncated or spliced part is noticed even when every block that arrived is fine.

:class:`BundleWriter` and :class:`BundleReader` are sans-IO: the writer takes events and hands out bytes, the
reader takes bytes in chunks of any size and hands out :class:`RawEvent` (decoded JSON, *not yet verified*: the
caller runs :func:`~samizdat.core.event.parse_event`) and :class:`Damaged` items. Neither touches a file.

Rule 1: the reader trusts no count it reads. Limits (:class:`BundleLimits`) are checked on declared sizes
*before* decompressing (a block declaring more than ``max_block_bytes``, a part expanding past
``max_content_bytes``, or past ``max_ratio``:1 once ``ratio_grace_bytes`` are out, is a decompression bomb and
raises :class:`~samizdat.errors.BundleError`), and every block is decompressed with ``max_length`` so that a block
lying about its size cannot expand further. Memory is bounded by one block, whatever the file size.

Rule 2: damage is reported, hostility is raised. A damaged block, a malformed record or a truncated file yields
:class:`Damaged` items and is summarised by :meth:`BundleReader.summary`; everything valid before and after it is
still returned. Only a file that is not a bundle, is of an unknown version, has an incomplete header, or breaks a
limit raises ``BundleError``, and events handed out before that remain valid.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from samizdat.core.event import Event
from samizdat.errors import LocalProtocolError

MAGIC = b"SMZDBNDL"
VERSION = 1  #: a part of events only, readable by every node
BLOB_VERSION = 2  #: a part that also carries blobs (photos: core/bundle_blobs.py)
READABLE_VERSIONS = (VERSION, BLOB_VERSION)
FLAG_COUNTS = 0x01  # the header's event and byte counts are filled in
_KNOWN_FLAGS = FLAG_COUNTS

BLOCK_MAGIC = b"SMZB"
TRAILER_MAGIC = b"SMZE"

_HEADER = struct.Struct(">8sBBHII16sQQQ")  # + CRC-32
_BLOCK = struct.Struct(">4sIIIII")  # + CRC-32
_TRAILER = struct.Struct(">4sIQQ32s")  # + CRC-32
_CRC = struct.Struct(">I")
HEADER_SIZE = _HEADER.size + 4  # 64
BLOCK_HEADER_SIZE = _BLOCK.size + 4  # 28
TRAILER_SIZE = _TRAILER.size + 4  # 60

KIB = 1024
MIB = 1024 * KIB
DEFAULT_BLOCK_BYTES = 64 * KIB
MIN_PART_BYTES = 4 * KIB
_MAX_PROBLEMS = 20  # problems remembered per part; the rest are only counted (memory stays constant)


@dataclass(frozen=True, slots=True)
class BundleLimits:
    """What a reader accepts, and therefore what a writer produces. All sizes are of uncompressed records.

    JSON nesting needs no limit of its own: a record must start with ``{`` and orjson stops at depth 1024 in
    constant stack, after which :func:`~samizdat.core.event.parse_event` accepts only the depth-3 event shape.
    """

    max_content_bytes: int = 1024 * MIB  # per part, decompressed
    max_ratio: int = 100  # decompressed : file bytes so far ...
    ratio_grace_bytes: int = 1 * MIB  # ... checked once this much is decompressed
    max_record_bytes: int = 512 * KIB  # one event's JSON line, newline included
    max_block_bytes: int = 1 * MIB  # one block, decompressed
    max_events: int = 1_000_000  # records per part
    max_problems: int = 10_000  # damaged spots per part before the part is given up as noise


DEFAULT_LIMITS = BundleLimits()


@dataclass(frozen=True, slots=True)
class BundleHeader:
    part: int  # 1-based
    total_parts: int  # 0 when the writer did not know
    bundle_id: bytes  # 16 bytes shared by all parts of one export
    created_at: int
    event_count: int | None  # None unless the writer filled the counts in (FLAG_COUNTS)
    content_bytes: int | None
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One record decoded as a JSON object; its id and signature are not checked yet."""

    value: dict[str, object]


@dataclass(frozen=True, slots=True)
class Damaged:
    """``records`` records (0 when unknown) that cannot be read, and why."""

    records: int
    reason: str


Item = RawEvent | Damaged


@dataclass(frozen=True, slots=True)
class PartSummary:
    header: BundleHeader | None
    records: int  # records read from intact blocks (each became a RawEvent or a malformed Damaged)
    malformed: int  # of those, not a JSON object, too long, or not UTF-8
    lost: int  # records in damaged or missing blocks: exact when the trailer or header counts survived
    damaged_bytes: int  # bytes skipped while looking for the next intact block
    complete: bool  # header, every block in order, trailer with matching counts and SHA-256, nothing after
    problems: tuple[str, ...]  # the first few problems, one sentence each


def _crc(data: bytes | bytearray | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def deflate_bound(size: int) -> int:
    """The most bytes raw deflate can turn ``size`` bytes into (zlib's compressBound, with margin)."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 32


def encode_header(header: BundleHeader) -> bytes:
    if len(header.bundle_id) != 16:
        raise LocalProtocolError("a bundle id is 16 bytes")
    counts = header.event_count is not None and header.content_bytes is not None
    body = _HEADER.pack(
        MAGIC,
        header.version,
        FLAG_COUNTS if counts else 0,
        0,
        header.part,
        header.total_parts,
        header.bundle_id,
        header.event_count or 0,
        header.content_bytes or 0,
        header.created_at,
    )
    return body + _CRC.pack(_crc(body))


def encode_block(index: int, content: bytes, records: int, level: int = 6) -> bytes:
    """One block: ``content`` is whole records, each ending in ``\\n``."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    payload = compressor.compress(content) + compressor.flush()
    head = _BLOCK.pack(BLOCK_MAGIC, index, records, len(content), len(payload), _crc(payload))
    return head + _CRC.pack(_crc(head)) + payload


def encode_trailer(blocks: int, events: int, content_bytes: int, sha256: bytes) -> bytes:
    body = _TRAILER.pack(TRAILER_MAGIC, blocks, events, content_bytes, sha256)
    return body + _CRC.pack(_crc(body))


class BundleWriter:
    """Turns events into the bytes of one bundle part.

    Call :meth:`add` for each event and write whatever bytes it returns, then :meth:`finish` and write those.
    ``add`` returns None when the event does not fit in this part (``max_part_bytes``, or the reader's default
    ``max_events``/``max_content_bytes``): nothing of that event was taken; finish this part and add it to a
    new writer with ``part + 1``. Bytes are only ever returned in file order, so a caller never reorders.

    The header goes out first with its counts empty (a pipe cannot seek); :meth:`header` gives the final header,
    counts filled in, to write over the first :data:`HEADER_SIZE` bytes when the output can seek.

    Size accounting is exact, not estimated: a block's size is only known once it is compressed, so when the
    worst case (:func:`deflate_bound`) of the pending block would cross ``max_part_bytes`` the writer
    compresses the pending block first and decides on the real size.
    """

    def __init__(
        self,
        *,
        created_at: int,
        bundle_id: bytes = bytes(16),
        part: int = 1,
        max_part_bytes: int | None = None,
        limits: BundleLimits = DEFAULT_LIMITS,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        level: int = 6,
    ) -> None:
        if max_part_bytes is not None and max_part_bytes < MIN_PART_BYTES:
            raise LocalProtocolError(f"a bundle part must be allowed at least {MIN_PART_BYTES} bytes")
        if block_bytes + limits.max_record_bytes > limits.max_block_bytes:
            raise LocalProtocolError("block_bytes + max_record_bytes must not exceed max_block_bytes")
        if part < 1:
            raise LocalProtocolError("parts are numbered from 1")
        self._first = BundleHeader(part, 0, bundle_id, created_at, None, None)
        self._max_part = max_part_bytes
        self._limits = limits
        self._block_bytes = block_bytes
        self._level = level
        self._out = bytearray(encode_header(self._first))
        self._size = len(self._out)  # bytes handed out or waiting in _out
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._blocks = 0
        self._events = 0
        self._content = 0
        self._hash = hashlib.sha256()
        self._finished = False
        self._version = VERSION  # BLOB_VERSION once a blob record is taken

    @property
    def events(self) -> int:
        return self._events

    @property
    def content_bytes(self) -> int:
        """Uncompressed bytes of the records taken so far."""
        return self._content

    @property
    def size(self) -> int:
        """Bytes of the part produced so far (all of it after :meth:`finish`)."""
        return self._size + (BLOCK_HEADER_SIZE + deflate_bound(self._pending_len) if self._pending else 0)

    def accepts(self, event: Event) -> bool:
        """Whether ``event`` can be written at all with these settings (else :meth:`add` raises)."""
        n = len(event.to_json()) + 1
        if n > self._limits.max_record_bytes:
            return False
        return self._max_part is None or (
            HEADER_SIZE + BLOCK_HEADER_SIZE + deflate_bound(n) + TRAILER_SIZE <= self._max_part
        )

    def add(self, event: Event) -> bytes | None:
        """Bytes to write (maybe empty), or None if the part is full. Raises LocalProtocolError if the event is
        not :meth:`accepts`-able or the part is finished."""
        if self._finished:
            raise LocalProtocolError("this bundle part is finished")
        if not self.accepts(event):
            raise LocalProtocolError("event is too large for a bundle with these limits")
        return self._add_record(event.to_json() + b"\n")

    def fits_blob(self, records: Sequence[bytes]) -> bool:
        """Whether the blob records ``records`` (one blob, see core/bundle_blobs.py) fit in this part after
        what it holds; the pending block is compressed first, so that the answer is exact."""
        if self._finished or any(len(r) + 1 > self._limits.max_record_bytes for r in records):
            return False
        total = sum(len(r) + 1 for r in records)
        if (
            self._events + len(records) > self._limits.max_events
            or self._content + total > self._limits.max_content_bytes
        ):
            return False
        if self._max_part is None:
            return True
        self._flush_block()
        need = sum(BLOCK_HEADER_SIZE + deflate_bound(len(r) + 1) for r in records)
        return self._size + need + TRAILER_SIZE <= self._max_part

    def add_blob(self, records: Sequence[bytes]) -> bytes | None:
        """Bytes to write for one blob's records (each a JSON object without its newline), or None when they do
        not all fit in this part (nothing is taken then). Marks the part as version :data:`BLOB_VERSION`."""
        if not self.fits_blob(records):
            return None
        out = b""
        for record in records:
            data = self._add_record(record + b"\n")
            if data is None:
                raise LocalProtocolError("a blob record did not fit after fits_blob() said it would")
            out += data
        self._version = BLOB_VERSION
        return out

    def _add_record(self, record: bytes) -> bytes | None:
        n = len(record)
        if self._events + 1 > self._limits.max_events or self._content + n > self._limits.max_content_bytes:
            return None
        if self._max_part is not None:
            bound = BLOCK_HEADER_SIZE + deflate_bound(self._pending_len + n)
            if self._size + bound + TRAILER_SIZE > self._max_part:
                self._flush_block()
                if self._size + BLOCK_HEADER_SIZE + deflate_bound(n) + TRAILER_SIZE > self._max_part:
                    return None
        self._pending.append(record)
        self._pending_len += n
        self._events += 1
        self._content += n
        self._hash.update(record)
        if self._pending_len >= self._block_bytes:
            self._flush_block()
        return self._take()

    def finish(self) -> bytes:
        """The rest of the part: the last block and the trailer."""
        if self._finished:
            raise LocalProtocolError("this bundle part is finished")
        self._flush_block()
        trailer = encode_trailer(self._blocks, self._events, self._content, self._hash.digest())
        self._out += trailer
        self._size += len(trailer)
        self._finished = True
        return self._take()

    def header(self, total_parts: int = 0) -> bytes:
        """The header with counts (after :meth:`finish`) and ``total_parts``, to overwrite the first one."""
        if not self._finished:
            raise LocalProtocolError("the final header is known only after finish()")
        first = self._first
        return encode_header(
            BundleHeader(
                first.part, total_parts, first.bundle_id, first.created_at, self._events, self._content, self._version
            )  # fmt: skip
        )

    def _flush_block(self) -> None:
        if not self._pending:
            return
        block = encode_block(self._blocks, b"".join(self._pending), len(self._pending), self._level)
        self._blocks += 1
        self._out += block
        self._size += len(block)
        self._pending.clear()
        self._pending_len = 0

    def _take(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data
