"""Negentropy V1 set reconciliation (NIP-77), sans-IO and byte-for-byte compatible with hoytech/negentropy.

Theory of operation
-------------------

Both sides hold a :class:`~samizdat.core.negentropy_storage.Storage`: items ``(timestamp, id)`` sorted by
timestamp, then id. A message is the version byte ``0x61`` followed by ranges that tile the whole
``(timestamp, id)`` space in ascending order; each range names its exclusive upper bound (its lower bound is
the previous range's upper bound) and carries one payload:

* ``Skip``: the sender has nothing more to say about the range;
* ``Fingerprint``: a 16-byte digest of the sender's ids in the range;
* ``IdList``: every id the sender has in the range.

The client (:meth:`Negentropy.initiate`) opens with its whole set: an ``IdList`` if it has fewer than 32
items, otherwise 16 ``Fingerprint`` buckets of near-equal size. The side receiving a range answers it so:

* a fingerprint equal to ours: the range is settled, answer ``Skip``;
* a different fingerprint: split our part of the range the same way (``IdList`` or 16 buckets);
* an ``IdList``, received by the server: answer with our own ``IdList`` for the range;
* an ``IdList``, received by the client: every id of ours not in it is a *have*, every id of theirs not in
  ours is a *need*; the range is settled.

Consecutive skips are merged and a trailing skip is left implicit. The client's turn ends the protocol when
it has nothing left to say (:meth:`Negentropy.reconcile_client` returns ``None``).

With a ``frame_size_limit`` (0, or at least 4096 bytes), a side stops answering ranges once its reply would
pass ``limit - 200`` bytes, and ends the reply with one ``Fingerprint`` range from where it stopped to
infinity, so the peer asks again about the rest in the next round. A server cuts an over-long ``IdList``
short the same way.

Timestamps in bounds are deltas from the previous bound of the same message (``0`` means infinity); id
prefixes are just long enough to separate a bucket's first item from the previous bucket's last.

Order of calls: build and seal a storage, then ``Negentropy(storage)``; the client calls :meth:`initiate`
once and feeds each reply to :meth:`reconcile_client`; the server feeds each message to :meth:`reconcile`.
A session holds no copy of the storage, so one sealed storage serves any number of sessions. Malformed
input raises :class:`~samizdat.errors.RemoteProtocolError`; misuse raises
:class:`~samizdat.errors.LocalProtocolError`.
The work done per message is proportional to the message size (plus the storage items it names), so the
caller bounds it by bounding message sizes, as a WebSocket ``max_size`` does.
"""

from __future__ import annotations

from samizdat.core.negentropy_storage import (
    FINGERPRINT_SIZE,
    ID_SIZE,
    INFINITY,
    MAX_TIMESTAMP,
    ZERO_BOUND,
    Bound,
    Item,
    Storage,
    SubRangeStorage,
    VectorStorage,
    encode_varint,
    fingerprint_of,
    id_sum,
)
from samizdat.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "FINGERPRINT_SIZE",
    "ID_SIZE",
    "INFINITY",
    "MAX_TIMESTAMP",
    "MIN_FRAME_SIZE_LIMIT",
    "PROTOCOL_VERSION",
    "ZERO_BOUND",
    "Bound",
    "Item",
    "Negentropy",
    "Storage",
    "SubRangeStorage",
    "VectorStorage",
    "encode_varint",
    "fingerprint_of",
    "id_sum",
]

PROTOCOL_VERSION = 0x61  # V1
MIN_FRAME_SIZE_LIMIT = 4096

_BUCKETS = 16  # a mismatched range splits into this many fingerprinted buckets...
_ID_LIST_BELOW = 2 * _BUCKETS  # ...unless it holds fewer items than this: then it is sent as an IdList
_FRAME_SLACK = 200  # room kept under the frame size limit for the closing range

_MODE_SKIP = 0
_MODE_FINGERPRINT = 1
_MODE_ID_LIST = 2
_SKIP = encode_varint(_MODE_SKIP)
_FINGERPRINT = encode_varint(_MODE_FINGERPRINT)
_ID_LIST = encode_varint(_MODE_ID_LIST)

_MAX_VARINT_BYTES = 10  # enough for any 64-bit value


class _Reader:
    """A cursor over one received message; every read is checked against its end."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int, what: str) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise RemoteProtocolError(f"negentropy message truncated inside {what}")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def varint(self, what: str) -> int:
        data, pos = self._data, self._pos
        result = 0
        for _ in range(_MAX_VARINT_BYTES):
            if pos >= len(data):
                raise RemoteProtocolError(f"negentropy message truncated inside {what}")
            byte = data[pos]
            pos += 1
            result = (result << 7) | (byte & 0x7F)
            if byte < 0x80:
                if result > MAX_TIMESTAMP:
                    raise RemoteProtocolError(f"negentropy varint for {what} exceeds 64 bits")
                self._pos = pos
                return result
        raise RemoteProtocolError(f"negentropy varint for {what} is longer than {_MAX_VARINT_BYTES} bytes")


def _minimal_bound(prev: Item, curr: Item) -> Bound:
    """The shortest bound above ``prev`` and not above ``curr``."""
    if curr.timestamp != prev.timestamp:
        return Bound(curr.timestamp)
    differing_bits = (int.from_bytes(curr.id, "big") ^ int.from_bytes(prev.id, "big")).bit_length()
    shared_prefix = ID_SIZE - (differing_bits + 7) // 8
    return Bound(curr.timestamp, curr.id[: shared_prefix + 1])


class Negentropy:
    """One reconciliation session over a sealed storage, as client or as server.

    ``frame_size_limit`` is 0 (no limit) or at least :data:`MIN_FRAME_SIZE_LIMIT`; it caps the messages this
    side produces (their peer may use another limit). Raises LocalProtocolError for any other value.
    """

    def __init__(self, storage: Storage, frame_size_limit: int = 0) -> None:
        if frame_size_limit != 0 and frame_size_limit < MIN_FRAME_SIZE_LIMIT:
            raise LocalProtocolError(
                f"negentropy frame size limit must be 0 or at least {MIN_FRAME_SIZE_LIMIT}, not {frame_size_limit}"
            )
        self._storage = storage
        self._frame_size_limit = frame_size_limit
        self._is_initiator = False
        self._last_timestamp_in = 0
        self._last_timestamp_out = 0

    @property
    def is_initiator(self) -> bool:
        return self._is_initiator

    def initiate(self) -> bytes:
        """Become the client and return the first message. Raises LocalProtocolError if called twice."""
        if self._is_initiator:
            raise LocalProtocolError("negentropy session already initiated")
        self._is_initiator = True
        self._last_timestamp_out = 0
        output = bytearray((PROTOCOL_VERSION,))
        self._split_range(0, self._storage.size(), INFINITY, output)
        return bytes(output)

    def set_initiator(self) -> None:
        """Act as the client without sending a first message (it was built by another session)."""
        self._is_initiator = True

    def reconcile(self, message: bytes) -> bytes:
        """As the server, answer one client message.

        Raises RemoteProtocolError if the message is malformed, LocalProtocolError if this side is the client.
        A message of another protocol version is answered with just our version byte, so the client can retry.
        """
        if self._is_initiator:
            raise LocalProtocolError("the negentropy client must call reconcile_client, not reconcile")
        return bytes(self._reconcile(message, [], []))

    def reconcile_client(self, message: bytes) -> tuple[bytes | None, list[bytes], list[bytes]]:
        """As the client, process one server reply: ``(next message or None when done, have_ids, need_ids)``.

        ``have_ids`` are ids we have and the server lacks, ``need_ids`` the reverse; each call reports only
        what this reply revealed. Raises RemoteProtocolError if the reply is malformed or of another protocol
        version, LocalProtocolError if this side is not the client.
        """
        if not self._is_initiator:
            raise LocalProtocolError("only the negentropy client (see initiate, set_initiator) may call this")
        have_ids: list[bytes] = []
        need_ids: list[bytes] = []
        output = self._reconcile(message, have_ids, need_ids)
        return (None if len(output) == 1 else bytes(output)), have_ids, need_ids

    def _reconcile(self, message: bytes, have_ids: list[bytes], need_ids: list[bytes]) -> bytearray:
        self._last_timestamp_in = self._last_timestamp_out = 0  # deltas restart with each message
        query = _Reader(bytes(message))
        full_output = bytearray((PROTOCOL_VERSION,))

        version = query.take(1, "the protocol version")[0]
        if not 0x60 <= version <= 0x6F:
            raise RemoteProtocolError(f"invalid negentropy protocol version byte 0x{version:02x}")
        if version != PROTOCOL_VERSION:
            if self._is_initiator:
                raise RemoteProtocolError(f"unsupported negentropy protocol version 0x{version:02x}")
            return full_output  # tell the client which version we speak

        storage = self._storage
        storage_size = storage.size()
        prev_bound = ZERO_BOUND
        prev_key = prev_bound.key()
        prev_index = 0
        skip = False

        while query.remaining():
            out = bytearray()
            curr_bound = self._decode_bound(query)
            curr_key = curr_bound.key()
            if curr_key < prev_key:
                raise RemoteProtocolError("negentropy ranges out of order")
            mode = query.varint("a range mode")

            lower = prev_index
            upper = storage.find_lower_bound(prev_index, storage_size, curr_bound)

            if mode == _MODE_SKIP:
                skip = True
            elif mode == _MODE_FINGERPRINT:
                their_fingerprint = query.take(FINGERPRINT_SIZE, "a fingerprint")
                if their_fingerprint == storage.fingerprint(lower, upper):
                    skip = True
                else:
                    if skip:
                        skip = False
                        out += self._encode_bound(prev_bound) + _SKIP
                    self._split_range(lower, upper, curr_bound, out)
            elif mode == _MODE_ID_LIST:
                count = query.varint("an id list length")
                if count > query.remaining() // ID_SIZE:
                    raise RemoteProtocolError(f"negentropy message truncated inside a list of {count} ids")
                their_ids = query.take(count * ID_SIZE, "an id list")
                if self._is_initiator:
                    skip = True  # settled: the client answers nothing about an IdList
                    theirs = dict.fromkeys(their_ids[i : i + ID_SIZE] for i in range(0, len(their_ids), ID_SIZE))
                    for item in storage.iterate(lower, upper):
                        if item.id in theirs:
                            del theirs[item.id]
                        else:
                            have_ids.append(item.id)
                    need_ids.extend(theirs)
                else:
                    if skip:
                        skip = False
                        out += self._encode_bound(prev_bound) + _SKIP
                    response_ids = bytearray()
                    end_bound = curr_bound
                    for index, item in enumerate(storage.iterate(lower, upper), lower):
                        if self._exceeds_frame(len(full_output) + len(response_ids)):
                            end_bound = Bound(item.timestamp, item.id)
                            upper = index  # the rest of the range goes into the closing fingerprint
                            break
                        response_ids += item.id
                    out += self._encode_bound(end_bound) + _ID_LIST
                    out += encode_varint(len(response_ids) // ID_SIZE) + response_ids
                    full_output += out
                    out.clear()
            else:
                raise RemoteProtocolError(f"unexpected negentropy range mode {mode}")

            if self._exceeds_frame(len(full_output) + len(out)):
                # Stop here and close with one fingerprint for everything not yet answered.
                full_output += self._encode_bound(INFINITY) + _FINGERPRINT
                full_output += storage.fingerprint(upper, storage_size)
                break
            full_output += out
            prev_index = upper
            prev_bound, prev_key = curr_bound, curr_key

        return full_output

    def _split_range(self, lower: int, upper: int, upper_bound: Bound, out: bytearray) -> None:
        storage = self._storage
        count = upper - lower
        if count < _ID_LIST_BELOW:
            out += self._encode_bound(upper_bound) + _ID_LIST + encode_varint(count)
            for item in storage.iterate(lower, upper):
                out += item.id
            return
        per_bucket, with_extra = divmod(count, _BUCKETS)
        curr = lower
        for i in range(_BUCKETS):
            bucket_size = per_bucket + (1 if i < with_extra else 0)
            fingerprint = storage.fingerprint(curr, curr + bucket_size)
            curr += bucket_size
            if curr == upper:
                bound = upper_bound
            else:
                bound = _minimal_bound(storage.get_item(curr - 1), storage.get_item(curr))
            out += self._encode_bound(bound) + _FINGERPRINT + fingerprint

    def _exceeds_frame(self, size: int) -> bool:
        return self._frame_size_limit != 0 and size > self._frame_size_limit - _FRAME_SLACK

    def _decode_bound(self, query: _Reader) -> Bound:
        encoded = query.varint("a bound timestamp")
        if encoded == 0:
            timestamp = MAX_TIMESTAMP
        else:
            timestamp = min(self._last_timestamp_in + encoded - 1, MAX_TIMESTAMP)  # saturates at infinity
        self._last_timestamp_in = timestamp
        length = query.varint("a bound id length")
        if length > ID_SIZE:
            raise RemoteProtocolError(f"negentropy bound id prefix of {length} bytes is over {ID_SIZE}")
        return Bound(timestamp, query.take(length, "a bound id prefix"))

    def _encode_bound(self, bound: Bound) -> bytes:
        timestamp = bound.timestamp
        if timestamp == MAX_TIMESTAMP:
            encoded = 0
        else:
            encoded = timestamp - self._last_timestamp_out + 1
        self._last_timestamp_out = timestamp
        return encode_varint(encoded) + encode_varint(len(bound.id)) + bound.id
