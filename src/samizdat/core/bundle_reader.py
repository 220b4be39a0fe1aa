"""Reading bundles: :class:`BundleReader`, the streaming, bounded, damage-tolerant half of :mod:`samizdat.core.bundle`
(whose docstring gives the theory of operation and the two rules this reader follows)."""

from __future__ import annotations

import hashlib
import zlib

import orjson

from samizdat.core.bundle import (
    _BLOCK,
    _CRC,
    _HEADER,
    _KNOWN_FLAGS,
    _MAX_PROBLEMS,
    _TRAILER,
    BLOCK_HEADER_SIZE,
    BLOCK_MAGIC,
    DEFAULT_LIMITS,
    FLAG_COUNTS,
    HEADER_SIZE,
    KIB,
    MAGIC,
    READABLE_VERSIONS,
    TRAILER_MAGIC,
    TRAILER_SIZE,
    BundleHeader,
    BundleLimits,
    Damaged,
    Item,
    PartSummary,
    RawEvent,
    _crc,
    deflate_bound,
)
from samizdat.errors import BundleError, LocalProtocolError

# Reader states
_HEAD, _SYNC, _SCAN, _END = range(4)
#: What the block and the trailer magic begin with, and the bytes that end them.
_MAGIC_PREFIX = BLOCK_MAGIC[:3]
_MAGIC_ENDS = (BLOCK_MAGIC[3], TRAILER_MAGIC[3])
assert TRAILER_MAGIC[:3] == _MAGIC_PREFIX


class BundleReader:
    """Turns the bytes of one bundle part, fed in chunks of any size, into :class:`RawEvent` and :class:`Damaged`.

    Call :meth:`feed` with each chunk and :meth:`close` at the end of the input; then :meth:`summary`. Both
    raise :class:`~samizdat.errors.BundleError` when the part is rejected as a whole (see the module's Rule 2);
    the reader is unusable afterwards. The result does not depend on how the input was chunked.
    """

    def __init__(self, limits: BundleLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buf = bytearray()
        self._pos = 0  # parse position in _buf
        self._offset = 0  # file offset of _buf[0]
        self._state = _HEAD
        self._need = HEADER_SIZE
        self._failed = False
        self._error: BundleError | None = None  # found after good items; raised by the next call
        self._closed = False
        self.header: BundleHeader | None = None
        self._header_ok = False
        self._next_block = 0
        self._blocks_ok = True  # every block so far intact and in order
        self._records = 0
        self._malformed = 0
        self._lost = 0
        self._content = 0
        self._checked = 0  # payload bytes checked (CRC), intact or not
        self._furthest = 0  # the end, in the file, of the furthest block checked
        self._inflated = 0  # bytes declared by every block inflated, whether it turned out intact or not
        self._damaged_bytes = 0
        self._hash = hashlib.sha256()
        self._trailer_ok = False
        self._trailer_events = 0
        self._problems: list[str] = []
        self._problem_count = 0

    # -- public ----------------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Item]:
        """Items found in ``data`` and what came before it. A rejection found in ``data`` is raised here when no
        item precedes it, else by the next call (so that every good item is handed out first)."""
        self._check_usable()
        self._buf += data
        out: list[Item] = []
        try:
            self._run(out)
        except BundleError as exc:
            if not out:
                self._failed = True
                raise
            self._error = exc
        return out

    def close(self) -> list[Item]:
        """Signal the end of the input; returns the last items (a truncated tail is reported as damage)."""
        self._check_usable()
        self._closed = True
        out: list[Item] = []
        left = len(self._buf) - self._pos
        if self._state == _HEAD:
            self._failed = True
            if self._offset + left == 0:
                raise BundleError("the file is empty")
            raise BundleError(f"the file is truncated: its header is incomplete ({left} of {HEADER_SIZE} bytes)")
        if self._state == _END:
            if left:
                self._damage(0, f"{left} unexpected bytes after the end of the bundle", skipped=left)
            return out
        if self._state == _SYNC and left:
            self._damage(0, "the file is truncated in the middle of a block", skipped=left)
            out.append(Damaged(0, "the file is truncated in the middle of a block"))
        else:
            self._damaged_bytes += left
            self._damage(0, "the file is truncated: the end of the bundle is missing")
            out.append(Damaged(0, "the file is truncated: the end of the bundle is missing"))
        return out

    def summary(self) -> PartSummary:
        """Counts so far; final after :meth:`close`."""
        expected = None
        if self._trailer_ok:
            expected = self._trailer_events
        elif self.header is not None and self.header.event_count is not None:
            expected = self.header.event_count
        lost = self._lost
        if expected is not None and self._closed:
            lost = max(lost, expected - self._records)
        complete = (
            self._header_ok and self._blocks_ok and self._trailer_ok and self._problem_count == 0 and self._closed
        )
        return PartSummary(
            self.header,
            self._records,
            self._malformed,
            lost,
            self._damaged_bytes,
            complete,
            tuple(self._problems),
        )

    # -- the state machine -----------------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._failed = True
            raise error
        if self._failed:
            raise LocalProtocolError("this bundle reader has rejected its input")
        if self._closed:
            raise LocalProtocolError("this bundle reader is closed")

    def _damage(self, records: int, reason: str, *, skipped: int = 0) -> None:
        self._lost += records
        self._damaged_bytes += skipped
        self._problem_count += 1
        if self._problem_count > self._limits.max_problems:
            raise BundleError(f"the file is too damaged to read (more than {self._limits.max_problems} problems)")
        if len(self._problems) < _MAX_PROBLEMS:
            self._problems.append(reason)

    def _compact(self) -> None:
        if self._pos > 64 * KIB and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._offset += self._pos
            self._pos = 0

    def _run(self, out: list[Item]) -> None:
        while True:
            available = len(self._buf) - self._pos
            if self._state == _HEAD:
                head = bytes(self._buf[: min(available, len(MAGIC))])
                if not MAGIC.startswith(head):
                    raise BundleError("this is not a Samizdat bundle (wrong magic bytes)")
                if available < HEADER_SIZE:
                    return
                self._read_header()
            elif self._state == _END:
                return
            elif self._state == _SCAN:
                if not self._scan():
                    return
            else:  # _SYNC: a block or the trailer starts at _pos
                if available < self._need:
                    return
                if not self._read_unit(out):
                    return
            self._compact()

    def _read_header(self) -> None:
        raw = bytes(self._buf[:HEADER_SIZE])
        fields = _HEADER.unpack_from(raw)
        magic, version, flags, _reserved, part, total, bundle_id, events, content, created_at = fields
        if version not in READABLE_VERSIONS:
            readable = " and ".join(map(str, READABLE_VERSIONS))
            raise BundleError(f"bundle format version {version} is not supported (this node reads versions {readable})")
        self._pos = HEADER_SIZE
        self._state = _SYNC
        self._need = 4
        if _CRC.unpack_from(raw, _HEADER.size)[0] != _crc(raw[: _HEADER.size]):
            self._damage(0, "the bundle header is damaged; its part number and counts are unknown")
            return
        if flags & ~_KNOWN_FLAGS:
            raise BundleError(f"the bundle uses features this node does not understand (flags {flags:#04x})")
        counted = bool(flags & FLAG_COUNTS)
        if counted and (events > self._limits.max_events or content > self._limits.max_content_bytes):
            raise BundleError(
                f"the bundle holds {events} events in {content} bytes, more than this node accepts in one part"
            )
        self.header = BundleHeader(
            part, total, bundle_id, created_at, events if counted else None, content if counted else None, version
        )
        self._header_ok = part >= 1 and (total == 0 or part <= total)
        if not self._header_ok:
            self._damage(0, f"the bundle header says part {part} of {total}")

    def _scan(self) -> bool:
        """Skip to the next block or trailer magic; False when more input is needed.

        Both magics begin with the same three bytes, so one forward search finds the nearer of them, and the
        search never goes past it: many damaged spots in one large buffer cost time linear in the file, not the
        buffer's size for each spot."""
        buf, end = self._buf, len(self._buf)
        start = self._pos
        while True:
            start = buf.find(_MAGIC_PREFIX, start)
            if start < 0 or start + len(BLOCK_MAGIC) > end:  # none, or its last byte has not arrived yet
                keep = min(end - self._pos, len(BLOCK_MAGIC) - 1) if start < 0 else end - start
                skip = end - self._pos - keep
                self._damaged_bytes += skip
                self._pos += skip
                return False
            if buf[start + len(_MAGIC_PREFIX)] in _MAGIC_ENDS:
                break
            start += 1
        self._damaged_bytes += start - self._pos
        self._pos = start
        self._state = _SYNC
        self._need = 4
        return True

    def _lose_sync(self, records: int, reason: str, out: list[Item]) -> None:
        """The unit at _pos is unreadable: report it and look for the next one from the following byte."""
        self._blocks_ok = False
        self._damage(records, reason, skipped=1)
        out.append(Damaged(records, reason))
        self._pos += 1
        self._state = _SCAN

    def _read_unit(self, out: list[Item]) -> bool:
        buf, pos = self._buf, self._pos
        magic = bytes(buf[pos : pos + 4])
        if magic == TRAILER_MAGIC:
            if self._need < TRAILER_SIZE:
                self._need = TRAILER_SIZE
                return True
            self._read_trailer(out)
            return True
        if magic != BLOCK_MAGIC:
            self._lose_sync(0, f"unreadable data at byte {self._offset + pos}", out)
            return True
        if self._need < BLOCK_HEADER_SIZE:
            self._need = BLOCK_HEADER_SIZE
            return True
        head = bytes(buf[pos : pos + _BLOCK.size])
        if _CRC.unpack_from(buf, pos + _BLOCK.size)[0] != _crc(head):
            self._lose_sync(0, f"a damaged block header at byte {self._offset + pos}", out)
            return True
        _magic, index, records, content_len, payload_len, payload_crc = _BLOCK.unpack(head)
        limits = self._limits
        if content_len > limits.max_block_bytes:
            raise BundleError(
                f"a block declares {content_len} bytes, more than the {limits.max_block_bytes} allowed; "
                "the file looks like a decompression bomb"
            )
        if payload_len > deflate_bound(content_len):
            self._lose_sync(records, f"block {index} has inconsistent lengths", out)
            return True
        total = BLOCK_HEADER_SIZE + payload_len
        if self._need < total:
            self._need = total
            if len(buf) - pos < total:
                return False
        self._need = 4
        self._check_work(payload_len, self._offset + pos + total)
        payload = bytes(buf[pos + BLOCK_HEADER_SIZE : pos + total])
        if _crc(payload) != payload_crc:
            self._need = 4
            self._lose_sync(records, f"block {index} is damaged; its {records} events are lost", out)
            return True
        self._check_expansion(content_len, self._offset + pos + total)
        decompressor = zlib.decompressobj(-15)
        try:
            content = decompressor.decompress(payload, content_len + 1)
        except zlib.error:
            content = b""
        if len(content) != content_len or not decompressor.eof or decompressor.unused_data:
            self._lose_sync(records, f"block {index} does not decompress; its {records} events are lost", out)
            return True
        self._pos = pos + total
        if index != self._next_block:
            self._blocks_ok = False
            if index > self._next_block:
                reason = f"blocks {self._next_block} to {index - 1} are missing"
            else:
                reason = f"block {index} is out of order"
            self._damage(0, reason)
            out.append(Damaged(0, reason))
        self._next_block = index + 1
        self._content += content_len
        self._hash.update(content)
        self._split_records(content, records, index, out)
        return True

    def _check_work(self, payload_len: int, end: int) -> None:
        """Blocks lie one after another, so the payloads checked add up to at most the end of the furthest block
        checked (``end``: where this one ends in the file). Block headers placed inside one another's payloads
        would have every resync check a large payload again (a file of a megabyte costing minutes): past twice
        that, the file is refused. (Measured against the file's blocks, not the bytes read so far, so that a file
        read whole and one read in small pieces get the same answer.)"""
        self._checked += payload_len
        self._furthest = max(self._furthest, end)
        if self._checked > 2 * self._furthest + BLOCK_HEADER_SIZE:
            raise BundleError("the file is too damaged to read (its blocks overlap one another)")

    def _check_expansion(self, content_len: int, file_bytes: int) -> None:
        """Declared sizes against the limits, before inflating. The ratio counts every block inflated, also
        those that then turn out not to be intact (each costs its declared size all the same)."""
        limits = self._limits
        expanded = self._content + content_len
        if expanded > limits.max_content_bytes:
            raise BundleError(
                f"the bundle expands to more than {limits.max_content_bytes} bytes; "
                "it looks like a decompression bomb or is too large for this node"
            )
        inflated = self._inflated + content_len
        if inflated > limits.ratio_grace_bytes and inflated > limits.max_ratio * file_bytes:
            raise BundleError(f"the bundle expands more than {limits.max_ratio}:1; it looks like a decompression bomb")
        self._inflated = inflated

    def _split_records(self, content: bytes, declared: int, index: int, out: list[Item]) -> None:
        lines = content.split(b"\n")
        if lines[-1]:
            self._blocks_ok = False
            self._damage(0, f"block {index} does not end with a newline")
        else:
            lines.pop()
        if len(lines) != declared:
            self._blocks_ok = False
            self._damage(0, f"block {index} holds {len(lines)} records but says {declared}")
        max_record = self._limits.max_record_bytes
        for line in lines:
            self._records += 1
            if self._records > self._limits.max_events:
                raise BundleError(f"the bundle holds more than {self._limits.max_events} events in one part")
            if len(line) + 1 > max_record:
                self._malformed_record(f"a record of {len(line) + 1} bytes is longer than {max_record}", out)
                continue
            if not line.startswith(b"{"):
                self._malformed_record("a record is not a JSON object", out)
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                self._malformed_record(f"a record is not valid JSON ({exc})", out)
                continue
            out.append(RawEvent(value))

    def _malformed_record(self, reason: str, out: list[Item]) -> None:
        self._malformed += 1
        self._damage(0, reason)
        out.append(Damaged(1, reason))

    def _read_trailer(self, out: list[Item]) -> None:
        buf, pos = self._buf, self._pos
        body = bytes(buf[pos : pos + _TRAILER.size])
        if _CRC.unpack_from(buf, pos + _TRAILER.size)[0] != _crc(body):
            self._need = 4
            self._lose_sync(0, f"a damaged trailer at byte {self._offset + pos}", out)
            return
        _magic, blocks, events, content, digest = _TRAILER.unpack(body)
        self._pos = pos + TRAILER_SIZE
        self._state = _END
        self._trailer_ok = True
        self._trailer_events = events
        if blocks != self._next_block or events != self._records or content != self._content:
            if blocks > self._next_block:
                self._blocks_ok = False
            self._damage(0, f"the bundle should hold {events} events in {blocks} blocks, not {self._records}")
        elif digest != self._hash.digest():
            self._damage(0, "the bundle's content does not match its SHA-256")
