"""Bundle files: export a store's events to bundle parts on disk, and import them back (``docs/bundle-format.md``).

Theory of operation
-------------------

This module moves bytes between files and the sans-IO :mod:`samizdat.core.bundle`; the format and every safety
check live there. Everything that blocks (file reads and writes, compression, Schnorr verification) runs in a worker
thread one chunk at a time, so a node keeps serving while it imports, and memory stays constant whatever the file
size: export holds one page of events and one block; import holds one 64 KiB chunk, one block and one batch.

Export reads the store page by page (``events_since`` rowid paging for a full export; for filters, the store's
``query`` paged newest-first by ``until``), writes each part to ``<name>.tmp``, starts a new part when
:class:`~samizdat.core.bundle.BundleWriter` says the next event would cross ``max_part_bytes``, and at the end
writes every part's final header (event counts and total number of parts), syncs it to disk and renames it into
place. Part 1 is ``out_path`` itself; part N > 1 is ``out_path`` with ``.partN`` before its suffix
(``news.smz``, ``news.part2.smz``, ...); see :func:`part_path`.

Import reads each file independently (parts may come in any order, or not all), verifies every event with
:func:`~samizdat.core.event.parse_event`, refuses those over the relay's per-event limits
(:func:`~samizdat.core.admission.admit`: a bundle is no back door), and hands batches to ``ingest``
(``store.add_many``, or the relay's ingest so that live subscribers see imported posts). A damaged file gives
up only its damaged records; a file rejected as a whole (not a bundle, unknown version, truncated header,
decompression bomb) is reported with one sentence and the import moves on to the next file. Nothing is ever
deleted from the store.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from samizdat.core.admission import DEFAULT_EVENT_LIMITS, EventLimits, admit_all
from samizdat.core.bundle import (
    DEFAULT_LIMITS,
    MAGIC,
    MIN_PART_BYTES,
    BundleLimits,
    BundleWriter,
    Item,
    RawEvent,
)
from samizdat.core.bundle_blobs import BlobAssembler, BlobRecordError, BundledBlob, blob_records, is_blob_record
from samizdat.core.bundle_reader import BundleReader
from samizdat.core.bundle_seal import CHUNK, OpeningReader, SealingWriter, plain_capacity
from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.core.imeta import referenced_blobs, thumbnails
from samizdat.errors import BundleError, RemoteProtocolError, UsageError
from samizdat.store.base import AddOutcome

READ_CHUNK = 64 * 1024
EXPORT_PAGE = 1000
IMPORT_BATCH = 500

T = TypeVar("T")
Ingest = Callable[[list[Event]], Awaitable[Sequence[AddOutcome]]]
Clock = Callable[[], float]
#: The blob a bundle should carry, by hash (None: this node does not have it). Runs in a worker thread.
BlobLoader = Callable[[str], BundledBlob | None]
#: Store a blob read from a bundle after checking it: None when it was taken, else the one-line reason.
BlobTaker = Callable[[BundledBlob], Awaitable[str | None]]
#: Blob bytes an import holds, read but not yet stored, at most (then it stores them before reading on).
MAX_PENDING_BLOB_BYTES = 8 * 1024 * 1024
MAX_BLOB_BYTES = 2 * 1024 * 1024  #: one blob read from a bundle, at most (services/blobs.py says the same)
#: A file that does not start like a plain bundle, imported without a passphrase.
NOT_PLAIN = "this is not a Samizdat bundle (wrong magic bytes), or it is sealed and its passphrase is needed"
#: The smallest maximum size of a sealed part: two chunks hold a plain part of MIN_PART_BYTES.
MIN_SEALED_PART_BYTES = 2 * CHUNK
#: Reasons kept for a file's refused photos (all are counted): a hostile file may hold a million bad photo records.
REASONS_KEPT = 20


class _Queryable(Protocol):
    async def query(self, filters: Sequence[Filter]) -> list[Event]: ...


class _RowidPaged(Protocol):
    async def events_since(self, rowid: int, limit: int) -> list[tuple[int, Event]]: ...


# -- export ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportReport:
    files: tuple[Path, ...]  # part 1 first
    events: int  # events written
    file_bytes: int  # size of all parts together
    content_bytes: int  # uncompressed JSON records, newlines included
    skipped: int  # events too large to fit in any part (over the record limit or max_part_bytes)
    bundle_id: str  # 32 hex characters shared by every part's header
    blobs: int = 0  # photos written (format version 2 parts)
    blob_bytes: int = 0
    blobs_skipped: int = 0  # photos too large for a part of max_part_bytes, or missing here


def part_path(out_path: Path, part: int) -> Path:
    """Where part ``part`` of an export to ``out_path`` goes: ``news.smz``, ``news.part2.smz``, ..."""
    if part == 1:
        return out_path
    return out_path.with_name(f"{out_path.stem}.part{part}{out_path.suffix}")


class _PartSink:
    """The blocking half of export: a sequence of part files fed with events (runs in a worker thread)."""

    def __init__(
        self,
        out_path: Path,
        bundle_id: bytes,
        max_part_bytes: int | None,
        limits: BundleLimits,
        passphrase: str | None = None,
    ) -> None:
        self._out_path = out_path
        self._settings = (bundle_id, max_part_bytes, limits)
        self._passphrase = passphrase
        self._writers: list[BundleWriter] = []
        self._sealers: list[SealingWriter] = []  # one per part when sealed
        self._file: BinaryIO | None = None
        self.events = 0
        self.skipped = 0
        self.content_bytes = 0
        self.file_bytes = 0
        self.blobs = 0
        self.blob_bytes = 0
        self.blobs_skipped = 0

    def _tmp(self, part: int) -> Path:
        final = part_path(self._out_path, part)
        return final.with_name(final.name + ".tmp")

    def _start_part(self) -> BundleWriter:
        self._close_file()
        bundle_id, max_part_bytes, limits = self._settings
        plain_max = max_part_bytes
        if self._passphrase is not None:
            most = None if max_part_bytes is None else max_part_bytes // CHUNK
            self._sealers.append(SealingWriter(self._passphrase, os.urandom, max_chunks=most))
            plain_max = None if max_part_bytes is None else plain_capacity(max_part_bytes)
        writer = BundleWriter(
            created_at=0,  # the header says nothing of when: a stick's file should not date its courier's trip
            bundle_id=bundle_id,
            part=len(self._writers) + 1,
            max_part_bytes=plain_max,
            limits=limits,
        )
        self._writers.append(writer)
        self._file = open(self._tmp(len(self._writers)), "wb")  # closed in _close_file
        return writer

    def _put(self, data: bytes) -> None:
        """Write plain part bytes, sealed first when the export is."""
        assert self._file is not None
        self._file.write(self._sealers[-1].write(data) if self._sealers else data)

    def _close_file(self) -> None:
        if self._file is not None:
            self._put(self._writers[-1].finish())
            if self._sealers:
                self._file.write(self._sealers[-1].finish())
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def write(self, events: Iterable[Event]) -> None:
        writer = self._writers[-1] if self._writers else self._start_part()
        assert self._file is not None
        for event in events:
            if not writer.accepts(event):
                self.skipped += 1
                continue
            data = writer.add(event)
            if data is None:
                writer = self._start_part()
                data = writer.add(event)
                assert data is not None  # an empty part takes any event it accepts
            self._put(data)
            self.events += 1

    def write_blobs(self, hashes: Sequence[str], load: BlobLoader) -> None:
        """Add each blob ``load`` gives, whole within one part (a new part if this one is too full)."""
        for sha256 in hashes:
            blob = load(sha256)
            if blob is None:
                self.blobs_skipped += 1
                continue
            records = blob_records(blob)
            writer = self._writers[-1] if self._writers else self._start_part()
            data = writer.add_blob(records)
            if data is None and writer.events:
                writer = self._start_part()
                data = writer.add_blob(records)
            if data is None:
                self.blobs_skipped += 1
                continue
            self._put(data)
            self.blobs += 1
            self.blob_bytes += len(blob.data)

    def finish(self) -> list[Path]:
        if not self._writers:
            self._start_part()
        self._close_file()
        total = len(self._writers)
        finals = []
        self.content_bytes = sum(w.content_bytes for w in self._writers)
        self.file_bytes = sum(w.size for w in (self._sealers or self._writers))
        for part, writer in enumerate(self._writers, start=1):
            tmp = self._tmp(part)
            with open(tmp, "r+b") as f:
                header = writer.header(total_parts=total)
                f.write(self._sealers[part - 1].head(header) if self._sealers else header)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, part_path(self._out_path, part))
            finals.append(part_path(self._out_path, part))
        return finals

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for part in range(1, len(self._writers) + 1):
            try:
                self._tmp(part).unlink(missing_ok=True)
            except OSError:  # not ours (a directory in the way, say), or the disk is gone: nothing to undo
                pass


async def _all_events(store: _Queryable) -> AsyncIterator[list[Event]]:
    if hasattr(store, "events_since"):
        paged: _RowidPaged = store  # type: ignore[assignment]
        rowid = 0
        while True:
            rows = await paged.events_since(rowid, EXPORT_PAGE)
            if not rows:
                return
            rowid = rows[-1][0]
            yield [event for _, event in rows]
    else:
        async for page in _query_pages(store, Filter()):
            yield page


async def _given(events: Sequence[Event]) -> AsyncIterator[list[Event]]:
    for start in range(0, len(events), EXPORT_PAGE):
        yield list(events[start : start + EXPORT_PAGE])


async def _query_pages(store: _Queryable, flt: Filter) -> AsyncIterator[list[Event]]:
    """Every event matching ``flt`` (up to its ``limit``), newest first, one page at a time.

    Paging is by ``until``: the cursor is the last event returned, ``(created_at, id)``; the next page asks for
    ``until=created_at`` and drops what it already returned at that second (the store orders by created_at
    descending, then id ascending). A full page all at the cursor's second means more events share that second
    than a page holds, so the page grows until the second fits.
    """
    remaining = flt.limit
    until = flt.until
    seen_id: str | None = None  # at created_at == until, ids <= seen_id were returned
    size = EXPORT_PAGE
    while remaining is None or remaining > 0:
        batch = await store.query([replace(flt, until=until, limit=size)])
        fresh = [e for e in batch if seen_id is None or e.created_at != until or e.id > seen_id]
        if remaining is not None:
            fresh = fresh[:remaining]
            remaining -= len(fresh)
        if fresh:
            yield fresh
        if len(batch) < size:
            return
        if not fresh:
            size *= 2
            continue
        until, seen_id = batch[-1].created_at, batch[-1].id


async def _settle(task: asyncio.Task[Any] | None) -> None:
    """Wait for a worker-thread task we are abandoning (a thread cannot be interrupted) and drop its outcome."""
    if task is None:
        return
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: the error that matters is the one already being raised or reported


async def _on_disk(out: Path, fn: Callable[..., T], *args: object) -> T:
    """Run a blocking file operation of the export in a thread; OSError becomes one sentence for a person."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        raise UsageError(f"cannot write the bundle {out}: {exc.strerror or exc}") from exc


async def export_bundle(
    store: _Queryable,
    out_path: Path | str,
    *,
    filters: list[Filter] | None = None,
    max_part_bytes: int | None = None,
    created_at: int,
    limits: BundleLimits = DEFAULT_LIMITS,
    bundle_id: bytes | None = None,
    blobs: BlobLoader | None = None,
    passphrase: str | None = None,
    first: Sequence[Event] = (),
) -> ExportReport:
    """Write the store's events (those matching any of ``filters``, or all) to ``out_path`` and, when
    ``max_part_bytes`` splits it, to further parts named by :func:`part_path`.

    ``created_at`` (unix seconds) goes in every header and drops events already expired at that time. Existing
    files of the same names are replaced only once the whole export succeeded. Raises :class:`UsageError` if
    ``max_part_bytes`` is below :data:`~samizdat.core.bundle.MIN_PART_BYTES` or a file cannot be written; store
    errors propagate.

    With ``blobs``, the photos the written events reference follow the events, thumbnails before full images,
    each whole in one part (format version 2); one that fits in no part is skipped and counted.

    With ``passphrase``, every part is sealed (:mod:`samizdat.core.bundle_seal`): random-looking bytes, a multiple
    of 4 KiB; a sealed part needs at least :data:`MIN_SEALED_PART_BYTES`.

    ``first`` are written before everything else, in their order, and not again (a channel's posts in its fair
    order, so that the first part, which may travel alone, holds the owner's alerts whatever a flood added).
    """
    if max_part_bytes is not None and max_part_bytes < MIN_PART_BYTES:
        raise UsageError(f"a bundle part must be allowed at least {MIN_PART_BYTES} bytes")
    if passphrase is not None and max_part_bytes is not None and max_part_bytes < MIN_SEALED_PART_BYTES:
        raise UsageError(f"a sealed bundle part must be allowed at least {MIN_SEALED_PART_BYTES} bytes")
    out = Path(out_path)
    ident = bundle_id if bundle_id is not None else os.urandom(16)
    sink = _PartSink(out, ident, max_part_bytes, limits, passphrase)
    writing: asyncio.Task[None] | None = None
    wanted: dict[str, bool] = {}  # blob hash -> is a thumbnail, in the order the events name them
    try:
        if filters is None:
            pages = [_all_events(store)]
        else:
            pages = [_query_pages(store, f) for f in filters]
        written = frozenset(e.id for e in first)
        pages = [_given(first), *pages]
        for i, source in enumerate(pages):
            # An event matched by an earlier filter was written already; filters with a limit or a full-text
            # search cannot be re-checked with Filter.matches, so they do not count.
            earlier = [f for f in (filters or [])[: max(0, i - 1)] if f.limit is None and f.search is None]
            async for page in source:  # the store reads the next page while the last one is written
                again = written if i else frozenset()
                keep = [e for e in page if not e.is_expired(created_at) and e.id not in again
                        and not any(f.matches(e) for f in earlier)]  # fmt: skip
                if blobs is not None:
                    for event in keep:
                        thumbs = thumbnails(event)
                        for sha256 in sorted(referenced_blobs(event)):
                            wanted[sha256] = wanted.get(sha256, False) or sha256 in thumbs
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(_on_disk(out, sink.write, keep))
        if writing is not None:
            await writing
        if blobs is not None and wanted:
            order = [h for h, thumb in wanted.items() if thumb] + [h for h, thumb in wanted.items() if not thumb]
            await _on_disk(out, sink.write_blobs, order, blobs)
        files = await _on_disk(out, sink.finish)
    except BaseException:
        await _settle(writing)
        await asyncio.to_thread(sink.abort)
        raise
    return ExportReport(
        files=tuple(files),
        events=sink.events,
        file_bytes=sink.file_bytes,
        content_bytes=sink.content_bytes,
        skipped=sink.skipped,
        bundle_id=ident.hex(),
        blobs=sink.blobs,
        blob_bytes=sink.blob_bytes,
        blobs_skipped=sink.blobs_skipped,
    )


# -- import ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class FileReport:
    path: Path
    new: int = 0  # stored for the first time
    duplicate: int = 0  # already in the store
    invalid: int = 0  # failed verification, malformed, or lost in a damaged block
    rejected: int = 0  # valid, but refused at the door (see ``refused``) or not kept (outdated, deleted, expired)
    error: str | None = None  # one sentence when the file was rejected as a whole (events before it are kept)
    problems: tuple[str, ...] = ()  # damage found, one sentence each (the first few)
    complete: bool = False  # every record arrived intact: the trailer's counts and SHA-256 match
    part: int | None = None  # from the header, when it is intact
    total_parts: int | None = None  # None when unknown
    bundle_id: str | None = None
    outcomes: Counter[str] = field(default_factory=Counter)  # AddOutcome value -> count
    #: the relay's ``OK false`` reply -> count, for events over a limit every door applies (core/admission.py)
    refused: Counter[str] = field(default_factory=Counter)
    blobs: int = 0  # photos stored (new or already here)
    blobs_refused: list[str] = field(default_factory=list)  # "why" for each photo refused (the first few)
    blobs_refused_count: int = 0  # photos refused in all (a hostile file may hold a million bad photo records)

    def refuse_blob(self, reason: str) -> None:
        """Count a photo refused, and keep why if it is among the first :data:`REASONS_KEPT`."""
        self.blobs_refused_count += 1
        if len(self.blobs_refused) < REASONS_KEPT:
            self.blobs_refused.append(reason)

    def describe(self) -> str:
        """One line for a person."""
        head = f"{self.path.name}"
        if self.part is not None:
            head += f" (part {self.part}" + (f" of {self.total_parts})" if self.total_parts else ")")
        counts = f"{self.new} new, {self.duplicate} duplicate, {self.invalid} invalid, {self.rejected} rejected"
        if self.refused:
            counts += " (" + ", ".join(f"{n} {reason}" for reason, n in self.refused.most_common()) + ")"
        if self.blobs or self.blobs_refused_count:
            refused = self.blobs_refused_count
            counts += f"; {self.blobs} photos" + (f", {refused} refused" if refused else "")
        if self.error:
            return f"{head}: {counts}; rejected: {self.error}"
        if not self.complete:
            first = self.problems[0] if self.problems else "damaged"
            return f"{head}: {counts}; damaged: {first}"
        return f"{head}: {counts}"


@dataclass(slots=True)
class ImportReport:
    files: list[FileReport]

    @property
    def new(self) -> int:
        return sum(f.new for f in self.files)

    @property
    def duplicate(self) -> int:
        return sum(f.duplicate for f in self.files)

    @property
    def invalid(self) -> int:
        return sum(f.invalid for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def refused(self) -> dict[str, int]:
        """Why events were refused at the door (the relay's ``OK false`` reply) -> how many, over all files."""
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.refused)
        return dict(total.most_common())

    @property
    def failed(self) -> list[FileReport]:
        """Files rejected as a whole."""
        return [f for f in self.files if f.error is not None]

    @property
    def missing_parts(self) -> dict[str, list[int]]:
        """For each bundle (id in hex) with a known number of parts: the part numbers none of the files were."""
        seen: dict[str, set[int]] = {}
        totals: dict[str, int] = {}
        for f in self.files:
            if f.bundle_id is None or f.part is None:
                continue
            seen.setdefault(f.bundle_id, set()).add(f.part)
            if f.total_parts:
                totals[f.bundle_id] = max(totals.get(f.bundle_id, 0), f.total_parts)
        return {
            bundle: missing
            for bundle, total in totals.items()
            if (missing := [p for p in range(1, total + 1) if p not in seen[bundle]])
        }


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file; OSError with a sentence otherwise. A named pipe (or a
    device) on a stick would otherwise keep the import waiting for ever, in a thread nothing can interrupt: it is
    opened without waiting and looked at before a byte is read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file (a directory, a pipe or a device)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _PartSource:
    """The blocking half of import: one file read in chunks, its events verified (runs in a worker thread)."""

    def __init__(self, path: Path, limits: BundleLimits, passphrase: str | None = None) -> None:
        self._file = _open_regular(path)  # closed in close()
        self.reader = BundleReader(limits)
        self._head = self._file.read(len(MAGIC))  # plain or sealed? (read again as the first chunk)
        self._opener: OpeningReader | None = None
        self._plain_end = False  # the sealed file has ended; the plain reader is still to be closed
        if self._head and not MAGIC.startswith(self._head):
            if passphrase is None:
                self._file.close()
                raise BundleError(NOT_PLAIN)
            self._opener = OpeningReader(passphrase)
        self.unverified = 0
        self._ready: list[Event] = []
        self._eof = False
        self._assembler = BlobAssembler(MAX_BLOB_BYTES)
        self.blobs: list[BundledBlob] = []  # read, waiting to be stored
        self.blob_problems: list[str] = []  # the first REASONS_KEPT problems with blob records since taken
        self.blob_problem_count = 0  # ... and how many there were

    def next_batch(self, size: int) -> list[Event]:
        """Up to ``size`` verified events; an empty list at the end. Raises BundleError or OSError."""
        pending = sum(len(b.data) for b in self.blobs)
        while len(self._ready) < size and not self._eof and pending < MAX_PENDING_BLOB_BYTES:
            for item in self._items():
                if isinstance(item, RawEvent) and is_blob_record(item.value):
                    try:
                        blob = self._assembler.feed(item.value)
                    except BlobRecordError as exc:
                        self._blob_problem(str(exc))
                        continue
                    for dropped in self._assembler.dropped:  # a blob left incomplete by this record
                        self._blob_problem(dropped)
                    self._assembler.dropped.clear()
                    if blob is not None:
                        self.blobs.append(blob)
                        pending += len(blob.data)
                elif isinstance(item, RawEvent):
                    try:
                        self._ready.append(parse_event(item.value, verify=True))
                    except RemoteProtocolError:
                        self.unverified += 1
        if self._eof and (reason := self._assembler.finish()) is not None:
            self._blob_problem(reason)
        batch, self._ready = self._ready[:size], self._ready[size:]
        return batch

    def _items(self) -> list[Item]:
        """The plain reader's items from the next chunk of the file (opened first when sealed); sets _eof.
        The plain reader is fed once a call, so that an error it holds back is raised by the next call."""
        if self._plain_end:
            self._eof = True
            return self.reader.close()
        chunk, self._head = self._head + self._file.read(READ_CHUNK - len(self._head)), b""
        if self._opener is None:
            if chunk:
                return self.reader.feed(chunk)
            self._eof = True
            return self.reader.close()
        pieces = self._opener.feed(chunk) if chunk else self._opener.close()
        self._plain_end = not chunk
        return self.reader.feed(b"".join(p for p in pieces if isinstance(p, bytes)))

    def _blob_problem(self, reason: str) -> None:
        self.blob_problem_count += 1
        if len(self.blob_problems) < REASONS_KEPT:
            self.blob_problems.append(reason)

    def take_blobs(self) -> tuple[list[BundledBlob], list[str], int]:
        """The blobs read so far, the first problems met with blob records and how many there were, handed over
        once."""
        blobs, self.blobs = self.blobs, []
        problems, self.blob_problems = self.blob_problems, []
        count, self.blob_problem_count = self.blob_problem_count, 0
        return blobs, problems, count

    def drain(self) -> list[Event]:
        """The events verified before a failure, so that they are not lost with the rest of the file."""
        batch, self._ready = self._ready, []
        return batch

    def close(self) -> None:
        self._file.close()


async def _import_one(
    path: Path,
    ingest: Ingest,
    limits: BundleLimits,
    batch_size: int,
    door: tuple[EventLimits, Clock],
    take_blob: BlobTaker | None = None,
    passphrase: str | None = None,
) -> FileReport:
    report = FileReport(path)
    try:
        source = await asyncio.to_thread(_PartSource, path, limits, passphrase)
    except OSError as exc:
        report.error = f"cannot read this file: {exc.strerror or exc}"
        return report
    except BundleError as exc:
        report.error = str(exc)
        return report
    ahead: asyncio.Task[list[Event]] | None = None
    try:
        ahead = asyncio.ensure_future(asyncio.to_thread(source.next_batch, batch_size))
        while ahead is not None:
            try:
                batch = await ahead
            except BundleError as exc:
                report.error = str(exc)
                batch = source.drain()
            except OSError as exc:
                report.error = f"cannot read this file: {exc.strerror or exc}"
                batch = source.drain()
            ahead = None
            blobs, problems, count = source.take_blobs()  # taken before the next batch is read: no race on the list
            if (batch or blobs) and report.error is None:  # read the next batch while the store takes this one
                ahead = asyncio.ensure_future(asyncio.to_thread(source.next_batch, batch_size))
            if batch:
                batch = _admitted(batch, report, door)
            if batch:
                for outcome in await ingest(batch):
                    report.outcomes[outcome.value] += 1
            for problem in problems:
                report.refuse_blob(problem)
            report.blobs_refused_count += count - len(problems)
            for blob in blobs:  # after the posts that reference them
                reason = await take_blob(blob) if take_blob is not None else "this import does not take photos"
                if reason is None:
                    report.blobs += 1
                else:
                    report.refuse_blob(f"{blob.sha256[:12]}…: {reason}")
    finally:
        await _settle(ahead)
        await asyncio.to_thread(source.close)
    summary = source.reader.summary()
    header = summary.header
    report.new = report.outcomes[AddOutcome.STORED.value]
    report.duplicate = report.outcomes[AddOutcome.DUPLICATE.value]
    report.rejected = sum(report.outcomes.values()) - report.new - report.duplicate + sum(report.refused.values())
    report.invalid = source.unverified + summary.malformed + summary.lost
    report.problems = summary.problems
    report.complete = summary.complete and report.error is None and source.unverified == 0
    if header is not None:
        report.part = header.part
        report.total_parts = header.total_parts or None
        report.bundle_id = header.bundle_id.hex()
    return report


def _admitted(batch: list[Event], report: FileReport, door: tuple[EventLimits, Clock]) -> list[Event]:
    """The events of ``batch`` within the limits every door applies; the others are counted by reason."""
    event_limits, clock = door
    admitted, refused = admit_all(batch, clock(), event_limits)
    for _event, exc in refused:
        report.refused[exc.reply] += 1
    return admitted


async def import_bundles(
    paths: Iterable[Path | str],
    ingest: Ingest,
    *,
    limits: BundleLimits = DEFAULT_LIMITS,
    batch_size: int = IMPORT_BATCH,
    event_limits: EventLimits = DEFAULT_EVENT_LIMITS,
    clock: Clock = time.time,
    take_blob: BlobTaker | None = None,
    passphrase: str | None = None,
) -> ImportReport:
    """Import bundle parts, in any order, each on its own: verified events go to ``ingest`` in batches.

    Each event must also pass ``event_limits`` at ``clock()`` (:func:`samizdat.core.admission.admit`, the relay's
    own rule): one dated too far ahead, too large or with too many tags is counted as rejected, with the relay's
    reason, and not stored. Photos (format version 2) go to ``take_blob`` after the posts read before them, which
    checks and stores each (a refusal is counted with its reason). A sealed file (:func:`looks_sealed`) is opened
    with ``passphrase``; when it does not open, the file's report says so and nothing of it is imported. Never
    raises for a bad file (its :class:`FileReport` says what was wrong); exceptions from ``ingest`` (a full disk,
    say) propagate, and what was ingested before stays.
    """
    reports = []
    for path in paths:
        door = (event_limits, clock)
        reports.append(await _import_one(Path(path), ingest, limits, batch_size, door, take_blob, passphrase))
    return ImportReport(reports)


def looks_sealed(path: Path | str) -> bool:
    """Whether ``path`` is a file that does not start like a plain bundle, so its import needs a passphrase.
    False for what cannot be read (the import says why) and for an empty file."""
    try:
        with _open_regular(Path(path)) as f:
            head = f.read(len(MAGIC))
    except OSError:
        return False
    return bool(head) and not MAGIC.startswith(head)
