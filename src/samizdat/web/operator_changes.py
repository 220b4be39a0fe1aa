"""What each operator login changed in the admins of the node's channels, and how to put it back.

Theory of operation
-------------------

Whoever gets an operator session (a phone seized unlocked, a login link photographed, a session on a hub's Wi-Fi)
can appoint their own key as an admin of the owner's channel through ``/op``, or move a removed key's ``since``
(docs/web.md, "A channel's admins"). ``samizdat web logout ID`` ended the session, but the planted admin stayed,
and nothing told the owner (red team, round 12). So the node remembers, per code (by its id), the admin changes
its login made, and ``web logout`` says what they were and how to undo each (``--undo`` does it).

The record is one line of the codes file (``web-operators``, web/operator.py) per code that changed anything:
``@<id> <ended> <count> <changes>``. ``ended`` is 0 while the code is there, else when it was revoked (or dropped
as expired): the record outlives the code by :data:`KEEP_ENDED`, so that a logout can still be undone, and
``samizdat channel admins`` can say which login appointed a key. ``count`` is how many changes the login made
(``samizdat web codes`` shows it without the passphrase). ``changes`` is sealed under the node's key on an
encrypted node (services/operator_codes.py, the codes' own mechanism, the id bound to it, padded to a multiple of
:data:`PAD` bytes so that its length says no more than ``count``), plain on a plain one.
Inside, one entry per (channel, key), merged: the key's state before the login's first change of it, after its
last, and the minute of that last change; at most :data:`MAX_ENTRIES` of them, after which the login may change
no further key (it is never made to forget one: a hostile session could otherwise push its first change out).

A key's state in a channel is ``(role, since)``: an admin or editor (``since`` None), a removed key (``role``
None), or neither. Undoing an entry puts the key back as it was before, through the service ``samizdat channel
admins`` uses, only when the channel still shows what the login left (else the owner changed it since, and it is
left alone): a key that was nowhere is removed with ``since`` 0, so that none of its posts counts, backdated or
not (a removal from the moment of its appointment would let it backdate posts to before then).

A removal from time 0 loses nothing that one from the appointment would keep: a key listed nowhere had no post
counting before its appointment, and what it posted as an admin stops counting either way; a ``since`` at the
appointment would only let the police's appointee backdate posts into the channel (``created_at`` is the
signer's). What the owner can lose is the appointment itself, when the login's changes include the owner's own
from that phone before it was lost (an honest co-admin appointed in a hurry): ``web logout --undo`` takes back
everything the login gave unless the owner says what to leave, by key (``--keep``) or by when the phone was lost
(``--since``: a change last made before then is left, listed, with its command) (:func:`chosen_to_stay`).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from samizdat.core import nip19
from samizdat.services import operator_codes

PREFIX = "@"  #: starts a record's line in the codes file (a code's line starts with its hash)
MAX_ENTRIES = 100  #: (channel, key) pairs one login may change
KEEP_ENDED = 90 * 86400  #: a record stays this long after its code was revoked or expired
_AAD = b"samizdat operator admin changes "
#: A record is sealed padded to a multiple of this many bytes (an entry is about 180): its length told, without
#: the passphrase, how long the changed channels' short names were and whether a key was appointed or removed (red
#: team, round 14); now it tells the number of changes, in steps, which the file says anyway.
PAD = 1024
FULL = (
    f"this login has changed {MAX_ENTRIES} admins, as many as the node keeps a record of: run `samizdat web login` "
    "on the node for a new one"
)

#: A key's state in a channel: (role, None) an admin or editor, (None, since) removed, (None, None) neither.
State = tuple[str | None, int | None]
NOWHERE: State = (None, None)


def _plain(state: State) -> State:
    """A key removed from time 0 counts for nothing, as a key never listed."""
    return NOWHERE if state == (None, 0) else state


@dataclass(frozen=True, slots=True)
class AdminChange:
    """What one login did to one key in one channel (its changes of that key merged)."""

    channel: str
    key: str
    before: State
    after: State
    at: int  #: the minute of the last change (unix time)
    count: int = 1

    def to_list(self) -> list[object]:
        return [self.channel, self.key, *self.before, *self.after, self.at, self.count]

    @classmethod
    def from_list(cls, item: object) -> AdminChange | None:
        if not isinstance(item, list) or len(item) != 8:
            return None
        channel, key, role0, since0, role1, since1, at, count = item
        if not (isinstance(channel, str) and isinstance(key, str) and isinstance(at, int) and isinstance(count, int)):
            return None
        if not all(r is None or isinstance(r, str) for r in (role0, role1)):
            return None
        if not all(s is None or isinstance(s, int) for s in (since0, since1)):
            return None
        return cls(channel, key, (role0, since0), (role1, since1), at, count)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One code's record: ``changes`` None when sealed and this process cannot open it."""

    id: str
    ended: int
    count: int
    blob: str
    changes: tuple[AdminChange, ...] | None

    def line(self) -> str:
        return f"{PREFIX}{self.id} {self.ended} {self.count} {self.blob}\n"


def _aad(code_id: str) -> bytes:
    return _AAD + code_id.encode()


def parse_record(line: str, home: Path) -> ChangeRecord | None:
    """The record in a line of the codes file, or None when the line is not one."""
    parts = line.split()
    if len(parts) != 4 or not parts[0].startswith(PREFIX) or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    code_id = parts[0][len(PREFIX) :]
    if not code_id or len(code_id) > 64 or not all(c in "0123456789abcdef" for c in code_id):
        return None
    data = operator_codes.unseal_data(home, parts[3], _aad(code_id))
    changes = None
    if data is not None:
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError:
            items = None
        parsed = [AdminChange.from_list(item) for item in items] if isinstance(items, list) else [None]
        changes = tuple(c for c in parsed if c is not None) if None not in parsed else None
    return ChangeRecord(code_id, operator_codes.hour(int(parts[1])), int(parts[2]), parts[3], changes)


def sealed_again(home: Path, record: ChangeRecord) -> ChangeRecord:
    """``record`` sealed, when it was plain and this process holds the node's key (a node encrypted since)."""
    if record.changes is None or not record.blob.startswith(operator_codes.PLAIN) or not operator_codes.can_seal(home):
        return record
    return _with(home, record, record.changes)


def _with(home: Path, record: ChangeRecord, changes: tuple[AdminChange, ...]) -> ChangeRecord:
    data = orjson.dumps([c.to_list() for c in changes])
    data += b" " * (-len(data) % PAD)  # JSON allows trailing blanks; a record written before reads as it did
    return replace(record, changes=changes, blob=operator_codes.seal_data(home, data, _aad(record.id)))


def has_room(record: ChangeRecord | None, channel: str, key: str) -> bool:
    """Whether the login with ``record`` may change ``key`` in ``channel`` (:data:`MAX_ENTRIES`)."""
    if record is None or record.changes is None or len(record.changes) < MAX_ENTRIES:
        return True
    return any(c.channel == channel and c.key == key for c in record.changes)


def with_change(home: Path, record: ChangeRecord | None, code_id: str, change: AdminChange) -> ChangeRecord:
    """``record`` (None: none yet) with ``change`` merged into the entry of its (channel, key)."""
    if record is None:
        record = ChangeRecord(code_id, 0, 0, "", ())
    entries = list(record.changes or ())  # an unreadable record (another key's) is replaced
    for index, old in enumerate(entries):
        if old.channel == change.channel and old.key == change.key:
            entries[index] = replace(change, before=old.before, count=old.count + change.count)
            break
    else:
        entries.append(change)
    return _with(home, replace(record, count=record.count + change.count), tuple(entries))


def without(home: Path, record: ChangeRecord, done: set[tuple[str, str]]) -> ChangeRecord | None:
    """``record`` without the entries of the (channel, key) pairs in ``done``; None when nothing is left."""
    left = tuple(c for c in record.changes or () if (c.channel, c.key) not in done)
    if not left:
        return None
    return _with(home, replace(record, count=sum(c.count for c in left)), left)


def carried(records: list[ChangeRecord], live: set[str], now: float) -> list[ChangeRecord]:
    """The records to write back: each whose code is gone marked ended ``now``, those ended long ago dropped."""
    kept = []
    for record in records:
        if record.ended == 0 and record.id not in live:
            record = replace(record, ended=operator_codes.hour(now))
        if record.ended == 0 or now - record.ended < KEEP_ENDED:
            kept.append(record)
    return kept


# -- undoing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UndoStep:
    """Put ``key`` back in ``channel``: appoint it with ``add`` (a role), or remove it from ``since``."""

    channel: str
    key: str
    add: str | None
    since: int | None

    def command(self) -> str:
        """The command that does it by hand."""
        npub = nip19.npub_encode(self.key)
        head = f"samizdat channel admins {shlex.quote(self.channel)}"
        if self.add is not None:
            return f"{head} --add {npub} --role {self.add}"
        return f"{head} --remove {npub} --since {self.since}"


def undo_step(change: AdminChange) -> UndoStep:
    """What puts the key of ``change`` back as it was before the login's first change of it."""
    role, since = change.before
    if role is not None:
        return UndoStep(change.channel, change.key, role, None)
    return UndoStep(change.channel, change.key, None, since or 0)  # a key that was nowhere counts for nothing


def _rank(state: State) -> tuple[int, int]:
    """How much of a key's posts counts in a state: an admin's most, then an editor's, then a removed key's (a later
    ``since``, more), then none (a key listed nowhere, or removed from time 0)."""
    role, since = _plain(state)
    if role is not None:
        return (3 if role == "admin" else 2, 0)
    return (1, since) if since else (0, 0)


def grants(change: AdminChange) -> bool:
    """Whether putting the key back as it was before the login would make more of its posts count than the login
    left: a removal undone (the key appointed again), an admin made an editor, a ``since`` moved earlier. The
    login's changes include the owner's own, made from that phone before it was lost (an arrested admin removed
    in a hurry): ``web logout --undo`` only takes back what the login gave, and says how to do the rest by hand."""
    return _rank(change.before) > _rank(change.after)


def undo_state(change: AdminChange, current: State) -> str:
    """``"undo"`` when the channel still shows what the login left, ``"done"`` when it shows what was before,
    else ``"changed"`` (the owner changed the key since: left alone)."""
    if _plain(current) == _plain(change.before):
        return "done"
    return "undo" if current == change.after else "changed"


def chosen_to_stay(change: AdminChange, since: int | None, keep: frozenset[str]) -> str:
    """Why the owner's choice leaves ``change`` out of ``web logout --undo``, or "" when it does not: its key is
    in ``keep`` (``--keep``: an honest admin the owner appointed from that phone), or its last change was made
    before ``since`` (``--since``: when the phone was lost). ``at`` is the minute the change began: a change in the
    minute of ``since`` counts as after it (taken back), the side a wrong guess of a few seconds must err on."""
    if change.key in keep:
        return "kept (--keep)"
    if since is not None and change.at + 60 <= since:
        return f"made before {_time(since)} (--since)"
    return ""


def _time(moment: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def _state_text(state: State) -> str:
    role, since = state
    if role is not None:
        return f"an {role}"
    if since is not None and since > 0:
        return f"removed (its posts from {_time(since)} on not counting)"
    return "not listed" if since is None else "removed (none of its posts counting)"


def describe(change: AdminChange) -> str:
    """One line for a person: what the login made of the key."""
    npub = nip19.npub_encode(change.key)
    times = f" ({change.count} changes)" if change.count > 1 else ""
    return f"{npub} in {change.channel}: was {_state_text(change.before)}, left {_state_text(change.after)}{times}"
