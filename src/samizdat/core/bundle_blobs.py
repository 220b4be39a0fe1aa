"""Blobs (photos) inside bundles: records of bundle format version 2 (``docs/bundle-format.md``).

A blob travels as one or more **blob records** in the same blocks as events, each a JSON object on its own line::

    {"blob": <sha256 hex>, "type": "image/webp", "thumb": true, "size": <bytes>, "offset": <bytes>,
     "data": <base64 of at most CHUNK_BYTES bytes>}

An event record always has an ``id`` and never a ``blob`` key, so the two cannot be confused. A blob's records
follow each other in order (``offset`` 0, then each chunk's end) within one part: a part stays importable alone.
:class:`BlobAssembler` puts them back together and refuses, with one sentence, anything out of order, larger than
``max_blob_bytes``, or whose bytes do not hash to the name; the caller then checks the image like any upload.

Pure: records in, blobs out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

import orjson

#: Bytes of a blob per record: base64 makes it 4/3 larger, well under the reader's record limit (512 KiB).
CHUNK_BYTES = 192 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class BundledBlob:
    sha256: str
    mime: str
    thumb: bool
    data: bytes


class BlobRecordError(ValueError):
    """A blob record that cannot be used; ``str()`` is the reason."""


def is_blob_record(value: dict[str, object]) -> bool:
    return "blob" in value


def blob_records(blob: BundledBlob) -> list[bytes]:
    """The records (without newlines) that carry ``blob``."""
    records = []
    for offset in range(0, max(len(blob.data), 1), CHUNK_BYTES):
        chunk = blob.data[offset : offset + CHUNK_BYTES]
        records.append(
            orjson.dumps(
                {
                    "blob": blob.sha256,
                    "type": blob.mime,
                    "thumb": blob.thumb,
                    "size": len(blob.data),
                    "offset": offset,
                    "data": base64.b64encode(chunk).decode(),
                }  # fmt: skip
            )
        )
    return records


class BlobAssembler:
    """Turns blob records back into blobs; one blob is assembled at a time (memory: ``max_blob_bytes``)."""

    def __init__(self, max_blob_bytes: int) -> None:
        self.max_blob_bytes = max_blob_bytes
        self._current: dict[str, object] | None = None
        self._data = bytearray()
        self.dropped: list[str] = []  # reasons for blobs left incomplete when the next one began

    def feed(self, value: dict[str, object]) -> BundledBlob | None:
        """The blob this record completes, or None if more records are to come. Raises
        :class:`BlobRecordError`; a blob left incomplete by a new one is dropped, with its reason in
        :attr:`dropped`."""
        sha256, mime, thumb = value.get("blob"), value.get("type"), value.get("thumb")
        size, offset, data = value.get("size"), value.get("offset"), value.get("data")
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise BlobRecordError("a blob record's hash is not 64 lowercase hex characters")
        if not isinstance(mime, str) or not isinstance(thumb, bool) or not isinstance(data, str):
            raise BlobRecordError("a blob record is malformed")
        if not isinstance(size, int) or not isinstance(offset, int) or not 0 <= offset < max(size, 1):
            raise BlobRecordError("a blob record's size or offset is malformed")
        if size > self.max_blob_bytes:
            raise BlobRecordError(f"a blob of {size} bytes is larger than the {self.max_blob_bytes} allowed")
        if offset == 0:
            if self._current is not None:
                self.dropped.append(f"blob {str(self._current['blob'])[:12]}… is incomplete (a record is missing)")
            self._current, self._data = {"blob": sha256, "type": mime, "thumb": thumb, "size": size}, bytearray()
        elif self._current is None or self._current["blob"] != sha256 or offset != len(self._data):
            self._current, self._data = None, bytearray()
            raise BlobRecordError("a blob's records are out of order or incomplete")
        try:
            chunk = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self._current, self._data = None, bytearray()
            raise BlobRecordError("a blob record's data is not base64") from None
        if len(self._data) + len(chunk) > size:
            self._current, self._data = None, bytearray()
            raise BlobRecordError("a blob's records hold more bytes than its size")
        self._data += chunk
        if len(self._data) < size:
            return None
        blob = bytes(self._data)
        self._current, self._data = None, bytearray()
        if hashlib.sha256(blob).hexdigest() != sha256:
            raise BlobRecordError(f"blob {sha256[:12]}…'s bytes do not match its hash")
        return BundledBlob(sha256, mime, thumb, blob)

    def finish(self) -> str | None:
        """At the end of a part: the reason if a blob was left incomplete, else None."""
        if self._current is None:
            return None
        sha256 = str(self._current["blob"])
        self._current, self._data = None, bytearray()
        return f"blob {sha256[:12]}… is incomplete (the part ends before its last record)"
