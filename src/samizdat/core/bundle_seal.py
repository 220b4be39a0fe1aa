"""Sealed bundles: a bundle part under a passphrase, as bytes that look random (``docs/bundle-format.md``).

Theory of operation
-------------------

A plain part starts with ``SMZDBNDL`` and its blocks are readable deflate: whoever looks at a stick at a checkpoint
knows what it is. A sealed part is the same plain part, cut into pieces and each piece encrypted on its own::

    salt (16) | chunk 0 (4080) | chunk 1 (4096) | ... | chunk n-1 (4096)

so the file is ``n * 4096`` bytes, salt included, and nothing in it is readable. The key is
``scrypt(NFKC(passphrase), salt, N=2^16, r=8, p=1)`` (64 MiB of memory a guess: the web app's PIN vault pays the
same on a phone). Chunk ``i`` is ChaCha20-Poly1305 with nonce ``0000 0000 || u64 i`` of a plaintext of the
chunk's size less the 16-byte tag: ``u16 n | n bytes of the plain part | zeros``. The salt is new for every part,
so a key never meets a nonce twice.

Rule 1: a chunk that does not authenticate is lost, alone. Chunks sit at fixed places, so damage to one cannot
move the others; the plain part inside sees a gap and its own reader (``core/bundle_reader.py``) resyncs after it
and counts what was lost, exactly as for a damaged plain file. Every limit of the plain reader holds inside.

Rule 2: wrong passphrase and damage are told apart by the first chunks: when none of the first
:data:`CHUNKS_TO_OPEN` opens (or the file ends first), the passphrase is wrong or the file is not a sealed bundle,
and nothing at all comes out. A file of random bytes costs one key derivation and at most that many chunks.

The number of chunks is padded up to the next 1, 2, 3, 4, 6, 8, 12, 16, ... (a power of two, or 1.5 times
one), at most the part's maximum size: the size says little more than its order of magnitude.

Pure: bytes in, bytes out; the salt and the placeholder of chunk 0 come from the caller's ``random_bytes``.
"""

from __future__ import annotations

import hashlib
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from samizdat.errors import BundleError, LocalProtocolError

CHUNK = 4096  #: bytes of the file per chunk (chunk 0 shares them with the salt)
SALT = 16
TAG = 16
LOG_N = 16  #: scrypt's cost: N = 2^16, r = 8, p = 1 (64 MiB), the web app's PIN vault's
CHUNKS_TO_OPEN = 8  #: chunks tried from the start before a passphrase is said to be wrong
_LEN = struct.Struct(">H")
WRONG_PASSPHRASE = "the passphrase does not open this file (or it is not a Samizdat bundle)"


def derive_key(passphrase: str, salt: bytes) -> bytes:
    """The 32-byte key of a sealed part (scrypt, about 0.1 s here, a second on a phone)."""
    n = 1 << LOG_N
    data = unicodedata.normalize("NFKC", passphrase).encode("utf-8")
    return hashlib.scrypt(data, salt=salt, n=n, r=8, p=1, maxmem=129 * 8 * n + (1 << 20), dklen=32)


def _capacity(index: int) -> int:
    """Bytes of the plain part chunk ``index`` carries."""
    return CHUNK - TAG - _LEN.size - (SALT if index == 0 else 0)


def _nonce(index: int) -> bytes:
    return bytes(4) + index.to_bytes(8, "big")


def padded_chunks(chunks: int, most: int | None = None) -> int:
    """``chunks`` rounded up to the next 1, 2, 3, 4, 6, 8, 12, ... but not past ``most``."""
    size = 1
    while size < chunks:  # 1 -> 2 -> 3 -> 4 -> 6 -> 8 -> 12 -> ...
        power = size & (size - 1) == 0
        size = size * 3 // 2 if power and size >= 2 else (size // 3 * 4 if size % 3 == 0 else size * 2)
    return max(chunks, size if most is None else min(size, most))


def plain_capacity(max_sealed_bytes: int) -> int:
    """The largest plain part that seals into at most ``max_sealed_bytes``."""
    chunks = max_sealed_bytes // CHUNK
    return sum(_capacity(i) for i in range(chunks))


class SealingWriter:
    """Turns the bytes of one plain part into a sealed part.

    Call :meth:`write` with the plain bytes in order and write what it returns, then :meth:`finish`. Chunk 0 goes
    out as random bytes and is kept: :meth:`head` seals it with the plain part's final header (written over the
    first 64 plain bytes) and gives the :data:`CHUNK` bytes to write at offset 0.
    """

    def __init__(self, passphrase: str, random_bytes: Callable[[int], bytes], *, max_chunks: int | None = None):
        if max_chunks is not None and max_chunks < 2:
            raise LocalProtocolError("a sealed part needs at least two chunks")
        self._salt = random_bytes(SALT)
        self._aead = ChaCha20Poly1305(derive_key(passphrase, self._salt))
        self._random = random_bytes
        self._max = max_chunks
        self._pending = bytearray()
        self._first = b""  # chunk 0's plain bytes, until head()
        self._chunks = 0
        self._finished = False

    def write(self, data: bytes) -> bytes:
        if self._finished:
            raise LocalProtocolError("this sealed part is finished")
        self._pending += data
        out = bytearray()
        while len(self._pending) >= (room := _capacity(self._chunks)):
            out += self._emit(bytes(self._pending[:room]))
            del self._pending[:room]
        return bytes(out)

    def finish(self) -> bytes:
        """The last chunk and the padding."""
        if self._finished:
            raise LocalProtocolError("this sealed part is finished")
        out = bytearray()
        if self._pending or self._chunks == 0:
            out += self._emit(bytes(self._pending))
            self._pending.clear()
        target = padded_chunks(self._chunks, self._max)
        while self._chunks < target:
            out += self._emit(b"")
        self._finished = True
        return bytes(out)

    @property
    def size(self) -> int:
        return self._chunks * CHUNK

    def head(self, header: bytes) -> bytes:
        """Salt and chunk 0, its first plain bytes replaced by ``header``: to write at offset 0."""
        if not self._finished:
            raise LocalProtocolError("the head of a sealed part is known only after finish()")
        plain = header + self._first[len(header) :]
        return self._salt + self._seal(0, plain)

    def _emit(self, data: bytes) -> bytes:
        index = self._chunks
        self._chunks += 1
        if self._max is not None and self._chunks > self._max:
            raise LocalProtocolError("the plain part is larger than the sealed part may be")
        if index == 0:
            self._first = data
            placeholder = self._random(CHUNK - SALT)
            if len(placeholder) != CHUNK - SALT:
                raise LocalProtocolError("random_bytes gave the wrong number of bytes")
            return self._salt + placeholder
        return self._seal(index, data)

    def _seal(self, index: int, data: bytes) -> bytes:
        room = _capacity(index)
        plain = _LEN.pack(len(data)) + data + bytes(room - len(data))
        return self._aead.encrypt(_nonce(index), plain, None)


def seal(plain: bytes, passphrase: str, salt: bytes) -> bytes:
    """A whole plain part sealed at once with ``salt`` (the web app's way; tests and the shared vectors use it)."""
    if len(salt) != SALT:
        raise LocalProtocolError(f"a salt is {SALT} bytes")
    writer = SealingWriter(passphrase, lambda n: salt if n == SALT else bytes(n))  # chunk 0's placeholder is replaced
    body = writer.write(plain) + writer.finish()
    return writer.head(plain[:64]) + body[CHUNK:]


@dataclass(frozen=True, slots=True)
class Lost:
    """Chunk ``index`` of the sealed part did not open (damaged, or missing at the end): its bytes are gone."""

    index: int


class OpeningReader:
    """Turns a sealed part, fed in pieces of any size, into the plain part's bytes and :class:`Lost` gaps.

    :meth:`feed` and :meth:`close` return a list of ``bytes`` and :class:`Lost` in file order; both raise
    :class:`~samizdat.errors.BundleError` (:data:`WRONG_PASSPHRASE`) when none of the first chunks opens. When
    chunk 0 is lost and a later one opens, a stand-in plain header with a wrong checksum comes first, so that the
    plain reader reads on as after a damaged header.
    """

    def __init__(self, passphrase: str) -> None:
        self._passphrase = passphrase
        self._aead: ChaCha20Poly1305 | None = None
        self._buf = bytearray()
        self._index = 0
        self._opened = False
        self._held: list[bytes | Lost] = []  # items before the first chunk opened
        self.lost = 0

    def feed(self, data: bytes) -> list[bytes | Lost]:
        self._buf += data
        out: list[bytes | Lost] = []
        if self._aead is None:
            if len(self._buf) < SALT:
                return out
            self._aead = ChaCha20Poly1305(derive_key(self._passphrase, bytes(self._buf[:SALT])))
            del self._buf[:SALT]
        while len(self._buf) >= self._size(self._index):
            size = self._size(self._index)
            self._open(bytes(self._buf[:size]), out)
            del self._buf[:size]
        return self._release(out)

    def close(self) -> list[bytes | Lost]:
        out: list[bytes | Lost] = []
        if self._buf or (self._aead is None and not self._opened):
            self._lost(out)  # a chunk cut short, or a file too short to hold one
            self._buf.clear()
        if not self._opened:
            raise BundleError(WRONG_PASSPHRASE)
        return self._release(out)

    def _size(self, index: int) -> int:
        return CHUNK - (SALT if index == 0 else 0)

    def _open(self, sealed: bytes, out: list[bytes | Lost]) -> None:
        assert self._aead is not None
        try:
            plain = self._aead.decrypt(_nonce(self._index), sealed, None)
        except InvalidTag:
            self._lost(out)
            return
        (n,) = _LEN.unpack_from(plain)
        if n > len(plain) - _LEN.size:  # authentic yet impossible: written by a broken or hostile sealer
            self._lost(out)
            return
        if not self._opened and self._index > 0:
            out.append(_STAND_IN_HEADER)
        self._opened = True
        self._index += 1
        if n:
            out.append(plain[_LEN.size : _LEN.size + n])

    def _lost(self, out: list[bytes | Lost]) -> None:
        out.append(Lost(self._index))
        self._index += 1
        self.lost += 1

    def _release(self, out: list[bytes | Lost]) -> list[bytes | Lost]:
        if self._opened:
            held, self._held = self._held, []
            return [*held, *out]
        self._held += out
        if self._index >= CHUNKS_TO_OPEN:
            raise BundleError(WRONG_PASSPHRASE)
        return []


#: What the plain reader is given for a lost chunk 0: the magic, version 1 and a checksum that fails.
_STAND_IN_HEADER = b"SMZDBNDL\x01" + bytes(55)
