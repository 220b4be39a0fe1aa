"""Set reconciliation with a relay or peer over NIP-77, then the transfer of what differs.

Theory of operation: for each filter, build a sealed Negentropy storage of our matching events, open a
``NEG-OPEN`` session and feed the relay's ``NEG-MSG`` replies to the client core until it is done. Each round
reveals ids we *have* (the relay lacks them) and ids we *need*. Needed ids are fetched with ``REQ {"ids": ...}``
in batches and stored as they arrive, each verified; our ids are uploaded with pipelined ``EVENT``\\ s. Because
every batch is stored as soon as it arrives and reconciliation starts from the two sets as they are, an
interrupted sync resumes by simply running again: nothing already transferred is transferred twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import orjson

from samizdat.core.admission import DEFAULT_EVENT_LIMITS, EventLimits, admit_all
from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.core.negentropy import Negentropy
from samizdat.core.negentropy_storage import VectorStorage
from samizdat.errors import ClosedTransport, RemoteProtocolError, TransportError
from samizdat.net.client import RelayClient
from samizdat.store.base import AddOutcome, Store

Direction = Literal["up", "down", "both"]
Ingest = Callable[[Sequence[Event]], Awaitable[list[AddOutcome]]]
Progress = Callable[[str, int, int], None]  # (phase, done, total)
#: Of the ids the relay offers, those we do not want (e.g. dropped to keep the carry quota).
Unwanted = Callable[[Sequence[bytes]], Awaitable[set[bytes]]]

# Our NEG-MSG frames are hex, twice the size of the Negentropy message: 60 kB messages make frames of about
# 120 kB, inside our relay's 256 KiB max_message_bytes and the 128 KiB that relays commonly accept. (At 500 kB,
# syncing two stores of 150,000+ events with a few % of differences sent ~430 kB frames and the relay closed the
# connection every time.)
FRAME_SIZE_LIMIT = 60_000
ID_BATCH = 500
ROUND_TIMEOUT = 60.0
RATE_LIMIT_RETRIES = 8
# 100,000 differences at a 60 kB frame limit take about 100 rounds; a million-event store a few hundred.
MAX_ROUNDS = 5000


@dataclass
class SyncReport:
    relay: str
    direction: str
    have: int = 0  # ids we had that the relay lacked
    need: int = 0  # ids the relay had that we lacked
    sent: int = 0  # events the relay accepted from us as new
    received: int = 0  # new events stored from the relay
    rejected: int = 0  # events refused by either side, or invalid
    skipped: int = 0  # offered events we chose not to fetch (dropped earlier to keep the carry quota)
    bytes_in: int = 0
    bytes_out: int = 0
    round_trips: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


async def _build_storage(store: Store, flt: Filter) -> VectorStorage:
    storage = VectorStorage()
    async for created_at, event_id in store.negentropy_items([flt]):
        storage.insert(created_at, event_id)
    storage.seal()
    return storage


async def reconcile(
    client: RelayClient, store: Store, flt: Filter, *, frame_size_limit: int = FRAME_SIZE_LIMIT
) -> tuple[list[bytes], list[bytes], int]:
    """Run one NIP-77 session for ``flt``; return (have ids, need ids, round trips). Raises on NEG-ERR."""
    storage = await _build_storage(store, flt)
    session = Negentropy(storage, frame_size_limit)
    sub_id, queue = client.open_subscription()
    have: list[bytes] = []
    need: list[bytes] = []
    rounds = 0
    try:
        first = session.initiate()
        await client.send_raw(_neg_frame("NEG-OPEN", sub_id, flt.to_dict(), first))
        message: bytes | None = first
        while message is not None:
            reply = await client.next_message(queue, ROUND_TIMEOUT)
            rounds += 1
            if rounds > MAX_ROUNDS:  # each round settles ranges; a relay that never lets us finish is hostile
                raise RemoteProtocolError(f"{client.url} kept the reconciliation going past {MAX_ROUNDS} rounds")
            if reply[0] == "NEG-ERR" or reply[0] == "CLOSED":
                if not client.is_open:  # the client's reader ends every queue with CLOSED when the socket goes
                    raise ClosedTransport(f"the connection to {client.url} closed during the sync")
                reason = reply[2] if len(reply) > 2 else "no reason given"
                raise RemoteProtocolError(f"{client.url} refused to sync: {reason}", "error")
            if reply[0] != "NEG-MSG" or len(reply) < 3 or not isinstance(reply[2], str):
                continue
            try:
                payload = bytes.fromhex(reply[2])
            except ValueError as exc:
                raise RemoteProtocolError(f"{client.url} sent a NEG-MSG that is not hex") from exc
            message, new_have, new_need = session.reconcile_client(payload)
            have += new_have
            need += new_need
            if message is not None:
                await client.send_raw(_neg_frame("NEG-MSG", sub_id, None, message))
    finally:
        client.drop_subscription(sub_id)
        if client.is_open:  # best effort; a relay frees the session when the connection closes anyway
            try:
                await client.send_raw(f'["NEG-CLOSE","{sub_id}"]')
            except Exception:  # noqa: BLE001
                pass
    # Under a frame size limit the same id can be reported in more than one round (as with the reference).
    return list(dict.fromkeys(have)), list(dict.fromkeys(need)), rounds


def _neg_frame(kind: str, sub_id: str, flt: dict[str, object] | None, message: bytes) -> str:
    parts: list[object] = [kind, sub_id]
    if flt is not None:
        parts.append(flt)
    parts.append(message.hex())
    return orjson.dumps(parts).decode()


async def sync(
    client: RelayClient,
    store: Store,
    filters: Sequence[Filter],
    *,
    direction: Direction = "both",
    ingest: Ingest | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    unwanted: Unwanted | None = None,
    now: Callable[[], float] = time.time,
    limits: EventLimits = DEFAULT_EVENT_LIMITS,
) -> SyncReport:
    """Reconcile ``store`` with the relay behind ``client`` for every filter, then move the differences.

    ``ingest`` stores downloaded events (default ``store.add_many``; the node passes its relay's ingest so live
    subscribers see them). Each downloaded event must pass ``limits`` at ``now()`` first, as at every door
    (:func:`samizdat.core.admission.admit`); one that does not is counted as rejected with the relay's reason.
    Raises TransportError / RemoteProtocolError when the relay fails or refuses; what was
    transferred until then stays stored.
    """
    started = clock()
    report = SyncReport(client.url, direction)
    ingest = ingest or store.add_many
    in0, out0 = client.bytes_in, client.bytes_out
    try:
        for flt in filters or [Filter()]:
            have, need, rounds = await reconcile(client, store, flt)
            report.round_trips += rounds
            report.have += len(have)
            report.need += len(need)
            if unwanted is not None and need:
                skip = await unwanted(need)
                report.skipped += len(skip)
                need = [i for i in need if i not in skip]
            if direction in ("down", "both") and need:
                door = (limits, now)
                await _download(client, [i.hex() for i in need], ingest, report, progress, door)
            if direction in ("up", "both") and have:
                await _upload(client, store, [i.hex() for i in have], report, progress)
    finally:
        report.bytes_in = client.bytes_in - in0
        report.bytes_out = client.bytes_out - out0
        report.seconds = round(clock() - started, 3)
    return report


async def _download(
    client: RelayClient,
    ids: list[str],
    ingest: Ingest,
    report: SyncReport,
    progress: Progress | None,
    door: tuple[EventLimits, Callable[[], float]],
) -> None:
    done = 0
    for start in range(0, len(ids), ID_BATCH):
        batch = ids[start : start + ID_BATCH]
        events, invalid = await _fetch_ids(client, batch)
        events = admitted(events, report, *door)
        outcomes = await ingest(events) if events else []
        report.received += sum(1 for o in outcomes if o is AddOutcome.STORED)
        report.rejected += invalid + sum(1 for o in outcomes if not o.accepted)
        done += len(batch)
        if progress:
            progress("download", done, len(ids))


def admitted(events: list[Event], report: SyncReport, limits: EventLimits, now: Callable[[], float]) -> list[Event]:
    """The door: of fetched, verified ``events``, those within the limits every door applies (the relay's own,
    :func:`samizdat.core.admission.admit`). The others are counted in ``report`` as rejected, with the reason.
    Every way of fetching events calls this before ``ingest``."""
    passed, refused = admit_all(events, now(), limits)
    report.rejected += len(refused)
    for event, exc in refused:
        if len(report.errors) < 10:
            report.errors.append(f"{event.id[:12]}: {exc.reply}")
    return passed


async def _fetch_ids(client: RelayClient, batch: list[str]) -> tuple[list[Event], int]:
    """The verified events of ``batch`` that the relay sends (each once), and how many of the ids asked for came
    as invalid events (forged, altered or malformed). Anything not asked for is ignored: a relay may not slip us
    other events. Raises RemoteProtocolError if the relay closes the request, TransportError if the connection
    fails."""
    wanted = set(batch)
    events: list[Event] = []
    invalid: set[str] = set()
    sub_id, queue = client.open_subscription()
    try:
        await client.send_raw(orjson.dumps(["REQ", sub_id, {"ids": batch, "limit": len(batch)}]).decode())
        for _ in range(2 * len(batch) + 100):  # a relay that floods us does not keep us here for ever
            message = await client.next_message(queue, ROUND_TIMEOUT)
            if message[0] == "EOSE":
                break
            if message[0] == "CLOSED":
                if not client.is_open:
                    raise ClosedTransport(f"the connection to {client.url} closed during the download")
                reason = message[2] if len(message) > 2 and isinstance(message[2], str) else ""
                raise RemoteProtocolError(f"{client.url} closed the request: {reason}", "error")
            if message[0] != "EVENT" or len(message) < 3 or not isinstance(message[2], dict):
                continue
            claimed = message[2].get("id")
            if claimed not in wanted:
                continue  # not asked for, or already received
            try:
                event = parse_event(message[2])
            except RemoteProtocolError:
                invalid.add(claimed)
                continue
            wanted.discard(event.id)
            invalid.discard(event.id)
            events.append(event)
        else:
            raise RemoteProtocolError(f"{client.url} sent far more than the {len(batch)} events asked for")
    finally:
        client.drop_subscription(sub_id)
        if client.is_open:
            try:
                await client.send_raw(orjson.dumps(["CLOSE", sub_id]).decode())
            except TransportError:  # best effort: the relay ends the request when the connection goes anyway
                pass
    return events, len(invalid)


async def _upload(
    client: RelayClient,
    store: Store,
    ids: list[str],
    report: SyncReport,
    progress: Progress | None,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Send our events in batches. A ``rate-limited:`` answer is not a refusal: wait and send those again
    (doubling the wait, at most ``RATE_LIMIT_RETRIES`` times), so a relay's flood protection slows us down
    without losing events."""
    done = 0
    for start in range(0, len(ids), ID_BATCH):
        batch = ids[start : start + ID_BATCH]
        events = await store.query([Filter(ids=frozenset(batch), limit=len(batch))])
        delay = 1.0
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            results = await client.publish_many(events)
            limited = {r.event_id for r in results if r.prefix == "rate-limited"}
            for result in results:
                if result.event_id in limited and attempt < RATE_LIMIT_RETRIES:
                    continue
                if result.prefix == "duplicate":  # it had it after all (our snapshot of its set was older)
                    continue
                if result.accepted:
                    report.sent += 1
                else:
                    report.rejected += 1
                    if len(report.errors) < 10:
                        report.errors.append(f"{result.event_id[:12]}: {result.message}")
            events = [e for e in events if e.id in limited]
            if not events or attempt == RATE_LIMIT_RETRIES:
                break
            await sleep(delay)
            delay = min(delay * 2, 30.0)
        done += len(batch)
        if progress:
            progress("upload", done, len(ids))
