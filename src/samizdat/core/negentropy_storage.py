"""What Negentropy reconciles: sorted items, range bounds and range fingerprints.

The protocol core in :mod:`samizdat.core.negentropy` never looks at a set directly; it asks a
:class:`Storage` five things about the sorted items: how many there are, the item at an index, the items
between two indices, the first index at or above a :class:`Bound`, and the fingerprint of an index range.
Anything answering those can be reconciled: :class:`VectorStorage` (everything in memory, built once and
shared by every session), a :class:`SubRangeStorage` window over another storage, or later a store-backed
implementation.

A fingerprint is SHA-256 over the sum of the range's ids (32-byte little-endian integers, mod 2**256)
followed by the varint count, cut to 16 bytes. Sums can be subtracted, so :class:`VectorStorage` keeps a
prefix-sum table built once at :meth:`~VectorStorage.seal` time and answers any range's fingerprint in O(1):
one subtraction and one hash.
"""

from __future__ import annotations

import hashlib
import operator
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import accumulate, islice
from typing import NamedTuple, Protocol

from samizdat.errors import LocalProtocolError

ID_SIZE = 32
FINGERPRINT_SIZE = 16
#: The reserved "infinity" timestamp; no item may use it.
MAX_TIMESTAMP = 2**64 - 1

_SUM_MASK = (1 << 256) - 1


class Item(NamedTuple):
    """One record: a timestamp below :data:`MAX_TIMESTAMP` and a 32-byte id; sorts as the protocol does."""

    timestamp: int
    id: bytes


class Bound(NamedTuple):
    """A range boundary: a timestamp and an id prefix of 0 to 32 bytes whose missing bytes are zeros.

    Compare bounds with :meth:`key`, never as tuples: ``b"ab"`` and ``b"ab\\x00"`` are the same boundary.
    """

    timestamp: int
    id: bytes = b""

    def key(self) -> tuple[int, bytes]:
        """The position of this bound among items: items below it compare less than this tuple."""
        return (self.timestamp, self.id.ljust(ID_SIZE, b"\x00"))


#: The lowest bound (where the first range starts) and the highest (where the last one ends).
ZERO_BOUND = Bound(0)
INFINITY = Bound(MAX_TIMESTAMP)


def encode_varint(n: int) -> bytes:
    """Base-128, most significant digit first, high bit set on every byte but the last."""
    if n < 0:
        raise LocalProtocolError(f"cannot encode negative varint {n}")
    if n < 0x80:
        return bytes((n,))
    digits = [n & 0x7F]
    n >>= 7
    while n:
        digits.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(digits))


def id_sum(ids: Iterable[bytes]) -> int:
    """The sum of ``ids`` as little-endian integers, mod 2**256 (what a fingerprint hashes)."""
    total = 0
    for item_id in ids:
        total += int.from_bytes(item_id, "little")
    return total & _SUM_MASK


def fingerprint_of(total: int, count: int) -> bytes:
    """The 16-byte fingerprint of ``count`` ids whose :func:`id_sum` is ``total``."""
    payload = (total & _SUM_MASK).to_bytes(ID_SIZE, "little") + encode_varint(count)
    return hashlib.sha256(payload).digest()[:FINGERPRINT_SIZE]


class Storage(Protocol):
    """A sealed, sorted sequence of items, addressed by index. Indices run from 0 to ``size()``.

    Implementations raise :class:`~samizdat.errors.LocalProtocolError` when used before they are ready or
    with a range outside ``0 <= begin <= end <= size()``.
    """

    def size(self) -> int: ...

    def get_item(self, i: int) -> Item: ...

    def iterate(self, begin: int, end: int) -> Iterable[Item]:
        """The items at indices ``begin`` to ``end - 1``, in order."""
        ...

    def find_lower_bound(self, begin: int, end: int, bound: Bound) -> int:
        """The first index in ``[begin, end)`` whose item is not below ``bound``, or ``end``."""
        ...

    def fingerprint(self, begin: int, end: int) -> bytes:
        """The 16-byte fingerprint of the items at indices ``begin`` to ``end - 1``."""
        ...


class VectorStorage:
    """All items in memory: :meth:`insert` them in any order, :meth:`seal` once, then share it read-only.

    Sealed, an item costs about 75 bytes (8 for its timestamp, 32 for its id, 33 to 36 for its prefix sum),
    and a range fingerprint is O(1). Sealing sorts and checks for duplicates: O(n log n), once, mostly in C
    (about 1.5 s for a million items). New items mean a new storage; sessions under way keep the old one.
    """

    def __init__(self) -> None:
        # Until sealed: one 40-byte key per item, big-endian timestamp then id, so bytes order is item order.
        self._pending: list[bytes] | None = []
        self._timestamps = array("Q")
        self._ids = b""
        # Prefix sums of the ids, not reduced mod 2**256 so that building them needs no Python loop: entry i
        # (``_sum_size`` bytes, little-endian) is the sum of the first i ids.
        self._sums = b""
        self._sum_size = ID_SIZE
        self._size = 0

    def insert(self, timestamp: int, item_id: bytes) -> None:
        """Add one item. Raises LocalProtocolError once sealed, or for a bad timestamp or id size."""
        if self._pending is None:
            raise LocalProtocolError("negentropy storage is already sealed")
        if not 0 <= timestamp < MAX_TIMESTAMP:
            raise LocalProtocolError(f"negentropy timestamp out of range: {timestamp}")
        if len(item_id) != ID_SIZE:
            raise LocalProtocolError(f"negentropy id must be {ID_SIZE} bytes, not {len(item_id)}")
        self._pending.append(timestamp.to_bytes(8, "big") + item_id)

    def seal(self) -> None:
        """Sort, reject duplicates and build the prefix sums. Raises LocalProtocolError if already sealed."""
        keys = self._pending
        if keys is None:
            raise LocalProtocolError("negentropy storage is already sealed")
        keys.sort()
        if any(map(operator.eq, keys, islice(keys, 1, None))):
            duplicate = next(a for a, b in zip(keys, islice(keys, 1, None), strict=False) if a == b)
            raise LocalProtocolError(f"duplicate negentropy item: {duplicate[8:].hex()}")
        size = len(keys)
        timestamps = array("Q")
        timestamps.frombytes(b"".join([key[:8] for key in keys]))
        if sys.byteorder == "little":
            timestamps.byteswap()
        ids = [key[8:] for key in keys]
        sum_size = ID_SIZE + (size.bit_length() + 7) // 8  # the sum of n ids is below n * 2**256
        to_sum_bytes = partial(int.to_bytes, length=sum_size, byteorder="little")
        sums = accumulate(map(partial(int.from_bytes, byteorder="little"), ids), operator.add, initial=0)
        self._timestamps = timestamps
        self._ids = b"".join(ids)
        self._sums = b"".join(map(to_sum_bytes, sums))
        self._sum_size = sum_size
        self._size = size
        self._pending = None

    @property
    def sealed(self) -> bool:
        return self._pending is None

    def size(self) -> int:
        self._check_sealed()
        return self._size

    def get_item(self, i: int) -> Item:
        self._check_sealed()
        if not 0 <= i < self._size:
            raise LocalProtocolError(f"negentropy item index {i} out of range")
        return Item(self._timestamps[i], self._ids[i * ID_SIZE : (i + 1) * ID_SIZE])

    def iterate(self, begin: int, end: int) -> Iterator[Item]:
        self._check_range(begin, end)
        timestamps, ids = self._timestamps, self._ids
        for i in range(begin, end):
            yield Item(timestamps[i], ids[i * ID_SIZE : (i + 1) * ID_SIZE])

    def find_lower_bound(self, begin: int, end: int, bound: Bound) -> int:
        self._check_range(begin, end)
        timestamp, bound_id = bound.key()
        # Bisect timestamps in C first, then compare ids among the (usually few) items sharing its timestamp.
        lo = bisect_left(self._timestamps, timestamp, begin, end)
        hi = bisect_right(self._timestamps, timestamp, lo, end)
        ids = self._ids
        while lo < hi:
            mid = (lo + hi) // 2
            if ids[mid * ID_SIZE : (mid + 1) * ID_SIZE] < bound_id:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def fingerprint(self, begin: int, end: int) -> bytes:
        self._check_range(begin, end)
        sums, width = self._sums, self._sum_size
        upper = int.from_bytes(sums[end * width : (end + 1) * width], "little")
        lower = int.from_bytes(sums[begin * width : (begin + 1) * width], "little")
        return fingerprint_of(upper - lower, end - begin)

    def _check_sealed(self) -> None:
        if self._pending is not None:
            raise LocalProtocolError("negentropy storage is not sealed")

    def _check_range(self, begin: int, end: int) -> None:
        self._check_sealed()
        if not 0 <= begin <= end <= self._size:
            raise LocalProtocolError(f"negentropy range [{begin}, {end}) out of bounds (size {self._size})")


class SubRangeStorage:
    """The items of ``base`` from ``lower`` (inclusive) to ``upper`` (exclusive), without copying anything.

    One large sealed storage then serves sessions that each reconcile a window of it (a filter's ``since`` and
    ``until``: ``Bound(since)`` to ``Bound(until + 1)``).
    """

    def __init__(self, base: Storage, lower: Bound = ZERO_BOUND, upper: Bound = INFINITY) -> None:
        if upper.key() < lower.key():
            raise LocalProtocolError("negentropy sub-range upper bound is below its lower bound")
        base_size = base.size()
        self._base = base
        self._begin = base.find_lower_bound(0, base_size, lower)
        self._end = base.find_lower_bound(self._begin, base_size, upper)

    def size(self) -> int:
        return self._end - self._begin

    def get_item(self, i: int) -> Item:
        if not 0 <= i < self._end - self._begin:
            raise LocalProtocolError(f"negentropy item index {i} out of range")
        return self._base.get_item(self._begin + i)

    def iterate(self, begin: int, end: int) -> Iterable[Item]:
        self._check_range(begin, end)
        return self._base.iterate(self._begin + begin, self._begin + end)

    def find_lower_bound(self, begin: int, end: int, bound: Bound) -> int:
        self._check_range(begin, end)
        return self._base.find_lower_bound(self._begin + begin, self._begin + end, bound) - self._begin

    def fingerprint(self, begin: int, end: int) -> bytes:
        self._check_range(begin, end)
        return self._base.fingerprint(self._begin + begin, self._begin + end)

    def _check_range(self, begin: int, end: int) -> None:
        if not 0 <= begin <= end <= self._end - self._begin:
            raise LocalProtocolError(f"negentropy range [{begin}, {end}) out of bounds")
