"""Set reconciliation with a relay or peer over NIP-77, then the transfer of what differs.

Theory of operation: for each filter, build a sealed Negentropy storage of our matching events, open a
``NEG-OPEN`` session and feed the relay's ``NEG-MSG`` replies to the client core until it is done. Each round
reveals ids we *have* (the relay lacks them) and ids we *need*. Needed ids are fetched with ``REQ {"ids": ...}``
in batches and stored as they arrive, each verified; our ids are uploaded with pipelined ``EVENT``\\ s. Because
every batch is stored as soon as it arrives and reconciliation starts from the two sets as they are, an
interrupted sync resumes by simply running again: nothing already transferred is transferred twice.

Relays without NIP-77 are synced with plain ``REQ`` messages instead (:mod:`samizdat.net.reqsync`: windows by
``created_at``, newest first), and the report says so (``method``: ``nip77`` or ``req``, with the reason in
``fallback``). The first ``NEG-OPEN`` goes out while the relay's NIP-11 document is fetched (through the same
transport): a document that does not list 77 ends the wait at once; without a document, a relay that does not
answer ``NEG-OPEN`` within ``NEG_OPEN_TIMEOUT`` seconds (or refuses it for any reason but ``blocked:`` or
``closed:``) is taken to lack NIP-77. One whose document lists 77 is given as long as any round. Uploads,
either way, are paced (:mod:`samizdat.net.pacing`) for relays that drop busy connections.

A relay that answers ``OK true`` and keeps nothing (or claims, sync after sync, to lack everything) would be sent
the node's whole scope every sync. Given a witness of what relays acknowledged (:mod:`samizdat.core.acks`), a
sync notes each ``OK`` and counts, of the ids the relay lacks, those it had acknowledged (``lost``); once it has lost
any, or when the caller says it is known to (``upload_limit``), at most :data:`LOSING_UPLOAD` events go up in
that sync, the newest, and the rest is ``held``. A relay that never acknowledged anything (a new, empty one)
still gets everything it lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

from samizdat.core.acks import Witness
from samizdat.core.admission import DEFAULT_EVENT_LIMITS, EventLimits, admit_all
from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.core.negentropy import Negentropy
from samizdat.core.negentropy_storage import VectorStorage
from samizdat.errors import BrokenTransport, ClosedTransport, RemoteProtocolError
from samizdat.net import reqsync
from samizdat.net.client import PublishResult, RelayClient, relay_text, supports_nip
from samizdat.net.pacing import DEFAULT_PACING, Pacer, Pacing
from samizdat.net.reqsync import Budget, ReqScan
from samizdat.store.base import AddOutcome, Store

log = logging.getLogger(__name__)

Direction = Literal["up", "down", "both"]
#: ``auto``: NIP-77 when the relay speaks it, else REQs; ``nip77`` or ``req`` to insist on one.
Method = Literal["auto", "nip77", "req"]
Ingest = Callable[[Sequence[Event]], Awaitable[list[AddOutcome]]]
Progress = Callable[[str, int, int], None]  # (phase, done, total)
#: Of the ids the relay offers, those we do not want (e.g. dropped to keep the carry quota).
Unwanted = Callable[[Sequence[bytes]], Awaitable[set[bytes]]]
#: Of the ids (hex) the relay lacks, those not to upload in this sync.
Hold = Callable[[Sequence[str]], Awaitable[set[str]]]

# Our NEG-MSG frames are hex, twice the size of the Negentropy message: 60 kB messages make frames of about
# 120 kB, inside our relay's 256 KiB max_message_bytes and the 128 KiB that relays commonly accept. (At 500 kB,
# syncing two stores of 150,000+ events with a few % of differences sent ~430 kB frames and the relay closed the
# connection every time.)
FRAME_SIZE_LIMIT = 60_000
ID_BATCH = 500
ROUND_TIMEOUT = 60.0
NEG_OPEN_TIMEOUT = 5.0  # a relay that has not answered the first NEG-OPEN by then is synced with REQs
RATE_LIMIT_RETRIES = 8
# 100,000 differences at a 60 kB frame limit take about 100 rounds; a million-event store a few hundred.
MAX_ROUNDS = 5000
#: Ids the relay may tell us we lack in one sync (as many events as one REQ sync reads: reqsync.ROUND_EVENTS). A
#: reply of 4 MB names 130,000 ids that need not exist, and a relay that never lets the session end could name
#: new ones for MAX_ROUNDS rounds: hundreds of millions of ids held, then asked for. The rest is for the next sync.
MAX_NEED = 100_000
#: Each relay's reply is reconciled in one thread shared by every sync, never on the event loop: the work grows with
#: the reply (a reply of 4 MB made of tiny ranges, each a lookup and a hash: 1.6 s) and with our own set (26 bytes
#: saying "I have none of these" make us list every event below a bound: 0.4 s for 200,000), and a relay may send
#: one every round: on the event loop, that held the node's own relay (a hub's phones) for the whole sync.
_reconciling: ThreadPoolExecutor | None = None
#: What the relay may make us report as haves over a session, as a multiple of our set: under a frame size limit an
#: id can be reported in more than one round, but a relay that settles the same ranges again and again, each time
#: "lacking" everything in them, only makes us go through our set once more every round.
MAX_HAVE_REPEATS = 4
#: Events uploaded in one sync, at most, to a relay that lost events it had acknowledged: the newest, about 120 kB
#: at EVENT_BYTES (35 MB a day at the default 300 s interval, where an area's whole scope was 120 MB a sync).
#: Enough for a day of a busy channel's own posts to go up again should the relay have lost only them; a relay
#: that keeps nothing learns nothing more from them than from the first.
LOSING_UPLOAD = 100
#: Of our events a relay claims to have at the end of a NIP-77 session, those asked back from it by id (one small
#: ``REQ``, about 8 kB), see :func:`_unserved`.
CLAIM_SAMPLE = 8
#: Kinds a relay may hold and rightly serve to some readers only (direct messages, gift wraps): never asked back.
_PRIVATE_KINDS = frozenset({4, 1059, 1060})


@dataclass
class SyncReport:
    relay: str
    direction: str
    method: str = "nip77"  # or "req": the relay lacks NIP-77 (see net/reqsync.py)
    fallback: str = ""  # why REQs were used
    have: int = 0  # ids we had that the relay lacked
    need: int = 0  # ids the relay had that we lacked
    sent: int = 0  # events the relay accepted from us as new
    received: int = 0  # new events stored from the relay
    rejected: int = 0  # events refused by either side, or invalid
    skipped: int = 0  # offered events we chose not to fetch (dropped earlier to keep the carry quota)
    unserved: int = 0  # of ours the relay claimed to have over NIP-77, asked back by id and not served
    bytes_in: int = 0
    bytes_out: int = 0
    round_trips: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    photos: int = 0  # blobs the stored posts reference, fetched after the sync (services/blob_travel.py)
    lost: int = 0  # events the relay lacked after acknowledging them (core/acks.py)
    held: int = 0  # events the relay lacked and was not sent: it loses what it acknowledges (LOSING_UPLOAD)
    #: The ids counted in ``lost`` (hex), for the caller; never in :meth:`to_dict` (kept in the state file).
    lost_ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        del out["lost_ids"]
        return out


#: What one event is taken to weigh when a download is estimated before it starts: a post's JSON with its tags
#: and signature is 0.6-1.5 kB; a long one more.
EVENT_BYTES = 1200


class OverBudget(Exception):
    """Downloading what a filter lacks would pass the byte budget given to :func:`sync`: nothing of it was
    fetched (NIP-77, known before downloading), or only the part within the budget (REQs, newest first; or events
    larger than estimated: the budget counts their real bytes)."""

    def __init__(self, estimate: int, needed: int, *, at_least: bool) -> None:
        super().__init__(f"about {estimate} bytes ({needed} events) to fetch")
        self.estimate = estimate  # bytes, estimated at EVENT_BYTES an event
        self.needed = needed  # events
        self.at_least = at_least  # REQs: the walk stopped at the budget, so there is more than this


class _Bytes:
    """What a download may still bring, counted in the events' real bytes (a relay chooses how large its events
    are: up to the door's limit, 200 times :data:`EVENT_BYTES`). None: no budget."""

    def __init__(self, budget: int | None) -> None:
        self.left = budget
        self.spent = 0

    def take(self, events: list[Event]) -> tuple[list[Event], bool]:
        """The first of ``events`` that fit, and whether some did not (then the caller stores those that fit and
        raises :meth:`over`)."""
        if self.left is None:
            return events, False
        for index, event in enumerate(events):
            size = len(event.to_json())
            if size > self.left:
                return events[:index], True
            self.left -= size
            self.spent += size
        return events, False

    def over(self, needed: int) -> OverBudget:
        return OverBudget(self.spent + 1, needed, at_least=True)


class _Uploads:
    """What a sync sends a relay: every event it lacks, unless it lost events it had acknowledged (see the
    module); and what it acknowledged, told to ``acks``."""

    def __init__(
        self, url: str, acks: Witness | None, limit: int | None, now: Callable[[], float], hold: Hold | None = None
    ) -> None:
        self.url, self.acks, self.left, self.now, self.hold = url, acks, limit, now, hold
        self.began = now()

    async def choose(self, have: list[str], report: SyncReport) -> list[str]:
        """The ids of ``have`` to upload: not those ``hold`` names (counted as held), then :meth:`bound`."""
        if self.hold is not None:
            held = await self.hold(have)
            if held:
                report.held += sum(1 for i in have if i in held)
                have = [i for i in have if i not in held]
        return self.bound(have, report)

    def check(self, have: list[str], report: SyncReport) -> None:
        """Count, of ``have`` (ids the relay lacks), those it had acknowledged; from the first, bound the sync."""
        if self.acks is None or not have:
            return
        lost = self.acks.lost(self.url, have, self.began)
        if lost:
            report.lost += len(lost)
            report.lost_ids += lost
            if self.left is None:
                self.left = LOSING_UPLOAD

    def bound(self, have: list[str], report: SyncReport) -> list[str]:
        """The ids of ``have`` to upload; those beyond the bound are counted as held."""
        if self.left is None:
            return have
        chosen = have[::-1][: self.left]  # both NIP-77 and the REQ walk list ours oldest first: the newest go
        self.left -= len(chosen)
        report.held += len(have) - len(chosen)
        return chosen

    def accepted(self, ids: list[str]) -> None:
        if self.acks is not None and ids:
            self.acks.acknowledged(self.url, ids, self.now())


class NoNegentropy(Exception):
    """The relay does not speak NIP-77 (its message says why we think so)."""


async def _build_storage(store: Store, flt: Filter) -> VectorStorage:
    storage = VectorStorage()
    async for created_at, event_id in store.negentropy_items([flt]):
        storage.insert(created_at, event_id)
    storage.seal()
    return storage


async def reconcile(
    client: RelayClient,
    store: Store,
    flt: Filter,
    *,
    frame_size_limit: int = FRAME_SIZE_LIMIT,
    opening: asyncio.Future[dict[str, Any] | None] | None = None,
    max_need: int = MAX_NEED,
    notes: list[str] | None = None,
    claimed: list[bytes] | None = None,
) -> tuple[list[bytes], list[bytes], int]:
    """Run one NIP-77 session for ``flt``; return (have ids, need ids, round trips). Raises on NEG-ERR.

    ``opening`` (the relay's NIP-11 document, being fetched) marks the first session with a relay that may lack
    NIP-77: then :class:`NoNegentropy` is raised when the document lists no 77 before an answer comes, when no
    answer comes within ``NEG_OPEN_TIMEOUT``, or when the answer is a refusal other than ``blocked:``/``closed:``.

    Once the relay has named more than ``max_need`` ids we lack, the session stops there (a line saying so goes to
    ``notes``) and the first ``max_need`` are returned with the haves found so far: what a relay makes us hold
    is bounded, and the next sync, starting from the sets as they then are, goes on.

    ``claimed``, when given, receives up to :data:`CLAIM_SAMPLE` of our ids, drawn at random, that the relay
    claims to have (ours, not among the haves) once the session has ended.
    """
    storage = await _build_storage(store, flt)
    session = Negentropy(storage, frame_size_limit)
    sub_id, queue = client.open_subscription()
    # Dicts, not lists: a relay may name the same ids round after round (and it may, legitimately, under a frame
    # size limit), and only distinct ids may count towards the bound.
    have: dict[bytes, None] = {}
    need: dict[bytes, None] = {}
    reported = 0  # haves reported over all rounds, repeats included
    rounds = 0
    try:
        first = session.initiate()
        await client.send_raw(_neg_frame("NEG-OPEN", sub_id, flt.to_dict(), first))
        message: bytes | None = first
        while message is not None:
            if rounds == 0 and opening is not None:
                reply = await _first_reply(client, queue, opening)
            else:
                reply = await client.next_message(queue, ROUND_TIMEOUT)
            rounds += 1
            if rounds > MAX_ROUNDS:  # each round settles ranges; a relay that never lets us finish is hostile
                raise RemoteProtocolError(f"{client.url} kept the reconciliation going past {MAX_ROUNDS} rounds")
            if reply[0] == "NEG-ERR" or reply[0] == "CLOSED":
                if not client.is_open:  # the client's reader ends every queue with CLOSED when the socket goes
                    raise ClosedTransport(f"the connection to {client.url} closed during the sync")
                reason = (relay_text(reply[2]) if len(reply) > 2 else "") or "no reason given"
                if rounds == 1 and opening is not None and not reason.startswith(("blocked:", "closed:")):
                    raise NoNegentropy(f"it answered NEG-OPEN with {reply[0]} {reason[:200]!r}")
                raise RemoteProtocolError(f"{client.url} refused to sync: {reason}", "error")
            if reply[0] != "NEG-MSG" or len(reply) < 3 or not isinstance(reply[2], str):
                continue
            try:
                payload = bytes.fromhex(reply[2])
            except ValueError as exc:
                raise RemoteProtocolError(f"{client.url} sent a NEG-MSG that is not hex") from exc
            message, new_have, new_need = await _reconcile_reply(session, payload)
            reported += len(new_have)
            if reported > MAX_HAVE_REPEATS * storage.size() + 1000:
                raise RemoteProtocolError(f"{client.url} settled the same ranges again and again in the reconciliation")
            have.update(dict.fromkeys(new_have))
            need.update(dict.fromkeys(new_need))
            if len(need) > max_need:
                if notes is not None:
                    notes.append(
                        f"the relay has more than {max_need} events we lack; the first {max_need} are fetched, the "
                        "rest is left for a later sync"
                    )
                return list(have), list(need)[:max_need], rounds
            if message is not None:
                await client.send_raw(_neg_frame("NEG-MSG", sub_id, None, message))
    finally:
        client.drop_subscription(sub_id)
        if client.is_open:  # best effort; a relay frees the session when the connection closes anyway
            try:
                await client.send_raw(f'["NEG-CLOSE","{sub_id}"]')
            except Exception:  # noqa: BLE001
                pass
    if claimed is not None:
        claimed.extend(_drawn(storage, have))
    # Under a frame size limit the same id can be reported in more than one round (as with the reference).
    return list(have), list(need), rounds


def _drawn(storage: VectorStorage, have: dict[bytes, None]) -> list[bytes]:
    """Up to :data:`CLAIM_SAMPLE` ids of ``storage``, at random, none of ``have``."""
    size = storage.size()
    picks = random.sample(range(size), min(size, 4 * CLAIM_SAMPLE))
    return [i for i in (storage.get_item(p).id for p in picks) if i not in have][:CLAIM_SAMPLE]


async def _first_reply(
    client: RelayClient, queue: asyncio.Queue[list[Any]], info: asyncio.Future[dict[str, Any] | None]
) -> list[Any]:
    """The answer to the first NEG-OPEN. Not waited for at all once the NIP-11 document ``info`` shows that the
    relay lacks NIP-77; for ``NEG_OPEN_TIMEOUT`` seconds while we do not know; as long as any round
    (``ROUND_TIMEOUT``) when the document lists 77, for then a late answer is a busy relay (building the set of a
    large store), not a missing feature. Raises :class:`NoNegentropy` when the waiting ends without an answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + NEG_OPEN_TIMEOUT
    answer = asyncio.ensure_future(client.next_message(queue, ROUND_TIMEOUT))
    try:
        while not answer.done():
            listed = supports_nip(info.result(), 77) if info.done() and not info.cancelled() else None
            if listed is False:
                raise NoNegentropy("its NIP-11 document does not list NIP-77")
            if listed is True:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NoNegentropy(f"it did not answer NEG-OPEN within {NEG_OPEN_TIMEOUT:.0f} s")
            either: list[asyncio.Future[Any]] = [answer] if info.done() else [answer, info]
            await asyncio.wait(either, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        try:
            return await answer
        except BrokenTransport as exc:
            if client.is_open:  # no answer in time, on a live connection
                raise NoNegentropy(f"it lists NIP-77 but did not answer NEG-OPEN in {ROUND_TIMEOUT:.0f} s") from exc
            raise
    finally:
        if not answer.done():
            answer.cancel()
            await asyncio.gather(answer, return_exceptions=True)


async def _reconcile_reply(session: Negentropy, payload: bytes) -> tuple[bytes | None, list[bytes], list[bytes]]:
    """``session.reconcile_client(payload)`` in the one reconciling thread (see :data:`_reconciling`); the session
    is used by one call at a time."""
    global _reconciling
    if _reconciling is None:
        _reconciling = ThreadPoolExecutor(1, thread_name_prefix="samizdat-negentropy-client")
    return await asyncio.get_running_loop().run_in_executor(_reconciling, session.reconcile_client, payload)


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
    method: Method = "auto",
    pacing: Pacing | None = DEFAULT_PACING,
    byte_budget: int | None = None,
    acks: Witness | None = None,
    upload_limit: int | None = None,
    hold: Hold | None = None,
) -> SyncReport:
    """Reconcile ``store`` with the relay behind ``client`` for every filter, then move the differences.

    ``method``: NIP-77 when the relay speaks it, else windows of REQs (see the module); ``pacing``: how uploads
    are paced (:mod:`samizdat.net.pacing`; None: not at all). ``byte_budget``: the most a download may bring (at
    :data:`EVENT_BYTES` an event); when what a filter lacks is larger, :class:`OverBudget` is raised before any of
    it is fetched over NIP-77, or once the REQ walk has read that much (newest first).

    ``ingest`` stores downloaded events (default ``store.add_many``; the node passes its relay's ingest so live
    subscribers see them). Each downloaded event must pass ``limits`` at ``now()`` first, as at every door
    (:func:`samizdat.core.admission.admit`); one that does not is counted as rejected with the relay's reason.
    ``acks`` notes what the relay acknowledges and says what it lost (see the module): then at most
    ``upload_limit`` (given: a relay known to lose events) or :data:`LOSING_UPLOAD` (once it lost some in this
    sync) events are uploaded; ``hold`` names, of the ids the relay lacks, those not to upload in this sync (they
    are counted as held). Raises TransportError / RemoteProtocolError when the relay fails or refuses; what
    was transferred until then stays stored.
    """
    started = clock()
    report = SyncReport(client.url, direction, method="req" if method == "req" else "nip77")
    ingest = ingest or store.add_many
    in0, out0 = client.bytes_in, client.bytes_out
    pacer = Pacer(client, pacing) if pacing is not None else None
    info = asyncio.ensure_future(client.relay_info()) if method != "nip77" else None
    scan: ReqScan | None = None
    # Whatever the estimate said, the real bytes stored stop at the budget.
    spend = _Bytes(byte_budget if direction != "up" else None)
    uploads = _Uploads(client.url, acks, upload_limit, now, hold)
    try:
        for index, flt in enumerate(filters or [Filter()]):
            if report.method == "nip77":
                opening = info if index == 0 and method == "auto" else None
                claimed: list[bytes] = []
                try:
                    have, need, rounds = await reconcile(
                        client, store, flt, opening=opening, max_need=max(0, MAX_NEED - report.need),
                        notes=report.errors, claimed=claimed,
                    )  # fmt: skip
                except NoNegentropy as exc:
                    report.method, report.fallback = "req", str(exc)
                    log.info("%s: syncing with REQs, %s", client.url, exc)
                else:
                    unserved = await _unserved(client, store, claimed)
                    if unserved:  # its NIP-77 answers cannot be trusted: what it serves is what counts
                        report.unserved += len(unserved)
                        report.method = "req"
                        report.fallback = (
                            f"it claimed over NIP-77 to have {len(unserved)} of the {len(claimed)} of our events "
                            "then asked back, and did not serve them"
                        )
                        report.errors.append(f"{report.fallback}: synced with REQs instead")
                        # The log may be kept on disk (journald): it says what, never where (docs/safety.md).
                        log.warning("a relay %s: syncing with REQs instead (-v names it)", report.fallback)
                        log.info("the relay that did not serve them: %s", client.url)
            if report.method == "req":
                if scan is None:
                    document = await info if info is not None else None
                    budget = Budget(clock)
                    if byte_budget is not None and direction != "up":
                        budget.events = min(budget.events, max(1, byte_budget // EVENT_BYTES))
                    scan = ReqScan(client, budget, max_limit=_max_limit(document))
                await _req_sync(
                    scan, store, flt, report,
                    direction=direction, ingest=ingest, progress=progress, unwanted=unwanted, door=(limits, now),
                    pacer=pacer, spend=spend, uploads=uploads,
                )  # fmt: skip
                if byte_budget is not None and direction != "up" and scan.budget.events <= 0:
                    read = byte_budget // EVENT_BYTES
                    raise OverBudget(read * EVENT_BYTES, read, at_least=True)
                continue
            report.round_trips += rounds
            report.have += len(have)
            report.need += len(need)
            if unwanted is not None and need:
                skip = await unwanted(need)
                report.skipped += len(skip)
                need = [i for i in need if i not in skip]
            if byte_budget is not None and direction != "up" and len(need) * EVENT_BYTES > byte_budget:
                raise OverBudget(len(need) * EVENT_BYTES, len(need), at_least=False)
            if direction in ("down", "both") and need:
                door = (limits, now)
                await _download(client, [i.hex() for i in need], ingest, report, progress, door, flt, spend)
            lacked = [i.hex() for i in have]
            uploads.check(lacked, report)
            if direction in ("up", "both") and have:
                sending = await uploads.choose(lacked, report)
                await _upload(client, store, sending, report, progress, pacer=pacer, on_accepted=uploads.accepted)
    finally:
        if info is not None and not info.done():
            info.cancel()
        report.bytes_in = client.bytes_in - in0
        report.bytes_out = client.bytes_out - out0
        report.seconds = round(clock() - started, 3)
    return report


async def _unserved(client: RelayClient, store: Store, ids: Sequence[bytes]) -> list[str]:
    """Of ``ids`` (ours, which the relay claimed to have over NIP-77), those it does not serve when asked for
    them by id. A relay, or a box on the path answering in its name, that answers every NIP-77 message with the
    node's own fingerprints ("I have all you have") ended every sync with nothing to move, and the node took it
    for a mirror in step: nothing went up to it, nothing came down. Events a relay may rightly keep from some
    readers (direct messages, gift wraps) or drop on its own (those that expire) are not asked for; a relay that
    refuses the request (it wants authentication) cannot be checked."""
    if not ids:
        return []
    wanted = frozenset(i.hex() for i in ids)
    events = await store.query([Filter(ids=wanted, limit=len(wanted))])
    asked = [e.id for e in events if e.kind not in _PRIVATE_KINDS and not e.tag_values("expiration")]
    if not asked:
        return []
    try:
        got, _invalid, unread = await _fetch_ids(client, asked)
    except RemoteProtocolError:
        return []
    served = {e.id for e in got} | set(unread)
    return [i for i in asked if i not in served]


async def _req_sync(
    scan: ReqScan,
    store: Store,
    flt: Filter,
    report: SyncReport,
    *,
    direction: Direction,
    ingest: Ingest,
    progress: Progress | None,
    unwanted: Unwanted | None,
    door: tuple[EventLimits, Callable[[], float]],
    pacer: Pacer | None,
    spend: _Bytes,
    uploads: _Uploads,
) -> None:
    """One filter with a relay that lacks NIP-77: walk the relay's events (:mod:`samizdat.net.reqsync`), store
    those we lack as they come, then upload ours that it lacks, from the window the walk covered (all of it,
    unless the walk stopped at the bound of one sync)."""
    ours = {event_id.hex(): created_at async for created_at, event_id in store.negentropy_items([flt])}
    lacked = 0

    async def on_page(events: list[Event]) -> None:
        nonlocal lacked
        lacking = [e for e in events if e.id not in ours]
        report.need += len(lacking)
        if unwanted is not None and lacking:
            skip = {i.hex() for i in await unwanted([bytes.fromhex(e.id) for e in lacking])}
            report.skipped += len(skip)
            lacking = [e for e in lacking if e.id not in skip]
        if direction == "up" or not lacking:
            return
        passed, over = spend.take(admitted(lacking, report, *door))
        outcomes = await ingest(passed) if passed else []
        if over:
            raise spend.over(report.need)
        report.received += sum(1 for o in outcomes if o is AddOutcome.STORED)
        report.rejected += sum(1 for o in outcomes if not o.accepted)
        lacked += len(lacking)
        if progress:
            progress("download", lacked, lacked)

    result = await scan.scan(flt, on_page)
    report.round_trips += result.requests
    report.rejected += result.invalid
    report.errors += result.notes[: max(0, 10 - len(report.errors))]
    since = result.covered_from
    have = [i for i, t in ours.items() if i not in result.seen and (since is None or t >= since)]
    report.have += len(have)
    uploads.check(have, report)
    if direction != "down" and have:
        sending = await uploads.choose(have, report)
        await _upload(scan.client, store, sending, report, progress, pacer=pacer, on_accepted=uploads.accepted)


def _max_limit(document: dict[str, Any] | None) -> int | None:
    """NIP-11 ``limitation.max_limit``: the most events the relay sends for one filter."""
    limitation = document.get("limitation") if document is not None else None
    value = limitation.get("max_limit") if isinstance(limitation, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


async def _download(
    client: RelayClient,
    ids: list[str],
    ingest: Ingest,
    report: SyncReport,
    progress: Progress | None,
    door: tuple[EventLimits, Callable[[], float]],
    flt: Filter,
    spend: _Bytes,
) -> None:
    """Fetch ``ids`` and store those that match ``flt`` (a lying relay may reconcile over more than the filter it
    was given) and pass the door, until ``spend`` is spent (then :class:`OverBudget`)."""
    done = 0
    left = list(ids)
    size = ID_BATCH
    while left:
        batch, left = left[:size], left[size:]
        events, invalid, unread = await _fetch_ids(client, batch)
        if unread:  # an answer cut for its weight: the rest is asked for next, as many at once as were read
            left = unread + left
            size = max(1, len(batch) - len(unread))
        outside = [e for e in events if not flt.matches(e)]
        if outside:
            report.rejected += len(outside)
            if len(report.errors) < 10:
                report.errors.append(f"{len(outside)} events not in the filter asked for: the relay offered them")
            events = [e for e in events if flt.matches(e)]
        events, over = spend.take(admitted(events, report, *door))
        outcomes = await ingest(events) if events else []
        if over:
            raise spend.over(len(ids))
        report.received += sum(1 for o in outcomes if o is AddOutcome.STORED)
        report.rejected += invalid + sum(1 for o in outcomes if not o.accepted)
        done += len(batch) - len(unread)
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


async def _fetch_ids(client: RelayClient, batch: list[str]) -> tuple[list[Event], int, list[str]]:
    """The verified events of ``batch`` that the relay sends (each once), how many of the ids asked for came as
    invalid events (forged, altered or malformed), and the ids left unread: once the events weigh
    :data:`~samizdat.net.reqsync.ANSWER_WEIGHT` the request is closed, and those not received yet are for the next
    one (at least one event was read: each request makes progress). Anything not asked for is ignored: a relay may
    not slip us other events. Raises RemoteProtocolError if the relay closes the request, TransportError if the
    connection fails."""
    wanted = set(batch)
    events: list[Event] = []
    invalid: set[str] = set()
    held = 0
    answer = client.stored([{"ids": batch, "limit": len(batch)}], max_messages=2 * len(batch) + 100,
                           timeout=ROUND_TIMEOUT)  # fmt: skip
    async with contextlib.aclosing(answer):
        async for raw in answer:
            claimed = raw.get("id")
            if not isinstance(claimed, str) or claimed not in wanted:  # a list or an object as an id: unhashable
                continue  # not asked for, or already received
            try:
                event = parse_event(raw)
            except RemoteProtocolError:
                invalid.add(claimed)
                continue
            wanted.discard(event.id)
            invalid.discard(event.id)
            events.append(event)
            held += reqsync.weight(event)
            if held >= reqsync.ANSWER_WEIGHT and wanted:
                return events, len(invalid), [i for i in batch if i in wanted and i not in invalid]
    return events, len(invalid), []


async def _upload(
    client: RelayClient,
    store: Store,
    ids: list[str],
    report: SyncReport,
    progress: Progress | None,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    pacer: Pacer | None = None,
    on_accepted: Callable[[list[str]], None] | None = None,
) -> None:
    """Send our events in batches (paced by ``pacer``). A ``rate-limited:`` answer is not a refusal: wait and send
    those again (doubling the wait, at most ``RATE_LIMIT_RETRIES`` times), so a relay's flood protection slows us
    down without losing events. The ids the relay accepted (or had) go to ``on_accepted``, batch by batch."""
    done = 0
    for start in range(0, len(ids), ID_BATCH):
        batch = ids[start : start + ID_BATCH]
        events = await store.query([Filter(ids=frozenset(batch), limit=len(batch))])
        delay = 1.0
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            results = await _publish(client, events, pacer)
            if on_accepted is not None:
                on_accepted([r.event_id for r in results if r.accepted or r.prefix == "duplicate"])
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


async def _publish(client: RelayClient, events: list[Event], pacer: Pacer | None) -> list[PublishResult]:
    """``publish_many``, in as many steps as ``pacer`` allows."""
    if pacer is None:
        return await client.publish_many(events)
    results: list[PublishResult] = []
    while len(results) < len(events):
        step = await pacer.allow(len(events) - len(results))
        results += await client.publish_many(events[len(results) : len(results) + step])
    return results
