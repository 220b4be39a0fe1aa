"""Operator login: acting as the node's own key from a browser, for whoever holds a code the CLI printed.

Theory of operation. ``samizdat web login`` makes a random code (128 bits, URL-safe) and stores only its
SHA-256, with when it was made, when it expires (30 days by default, ``--expires``) and when it was last used
(each to the hour: services/operator_codes.py, :data:`~samizdat.services.operator_codes.HOUR`), in
``<home>/web-operators`` (mode 0600; one line per code, see :class:`OperatorCode`); the code is shown once, as a
link ``http://host:port/#op=CODE`` (the fragment never travels in a request line or a Referer). A code's id is the
start of its hash: ``samizdat web codes`` lists them, ``samizdat web logout ID`` revokes one, ``--all`` every one.

The browser opens a WebSocket to ``/op`` and sends ``{"login": "challenge"}``; the node answers
``{"challenge": NONCE}`` (random, this connection's only) and the browser sends ``{"proof": HMAC-SHA256(SHA-256(CODE),
"samizdat operator login " + NONCE)}`` (hex: :func:`login_proof`). The code never travels: on a hub's plain-http
Wi-Fi anyone can read the frames (an open network, or a WPA2 password every neighbour knows), and a code read
there logged in as the node for a month, to post in its channels and to wipe it (red-team finding). The node tries
every code's hash in constant time and answers ``{"ok": true, "pubkey": ...}`` or ``{"ok": false, "error": ...}``
and closes. A link's code logs in once: at that first login the node replaces it with a *session code* (same id,
same expiry; the line keeps the link code's hash, so a second use is told apart from a wrong code) that both sides
work out from the link's hash and the nonce (:func:`session_after`), answering ``"renewed": true``; the browser
keeps that one (encrypted) and logs in with it from then on. The link, which stays in the browser's history and
wherever else it was pasted, is useless after that. If the answer is lost on the way, the link is spent all the
same: run ``samizdat web login`` again. The first form, ``{"token": CODE}`` as the first message, is still
answered (with a random session code sent back as ``"session"``) for clients that do not compute HMACs; the app
does not use it.

Logins are rate-limited per address (an IPv6 /64 counts as one, :class:`LoginLimiter`): a few per minute, and
after a few wrong codes none for a while; a refused attempt is closed with code 1013 and no answer, so the
browser keeps its code and tries later. After that, each ``{"id": n, "sign": {kind, content, tags,
created_at}}`` is checked for shape here, then handed to the publishing service
(``services.publishing.publish_as_operator``), which signs it with the node's key only if the command line
would publish it too (channel posts, deletion requests of the node's own posts and labels, labels; a post only in
a channel where the node's key is the owner, an admin or an editor, with the same shape rules), and publishes it
through the node (stored, fanned out, queued for the channel's mirrors). The answer is ``{"id": n, "event": ...}``
or ``{"id": n, "error": one sentence}``. Every request re-reads the codes file, so a revoked or expired code ends
its open sessions at their next request. ``{"id": n, "admins": {...}}`` lists, appoints or removes an admin of
one of the node's own channels through the service ``samizdat channel admins`` uses (web/operator_admins.py).

Wiping the node (a panic wipe from the phone) takes two messages on one logged-in connection: ``{"id": n,
"wipe": "ask"}`` is answered ``{"id": n, "confirm": NONCE}`` (random, this connection's only, for
:data:`WIPE_CONFIRM_SECONDS`), and ``{"id": m, "wipe": NONCE}`` is answered ``{"id": m, "wiped": true}`` after
which the node does what ``samizdat wipe`` does to it (erase the key slots, stop, delete the data directory). The
two steps are there so that no single message, replayed or sent by mistake, wipes a node; the browser shows its
own confirmation in between. No code from the command line is asked: the operator who must wipe in a hurry may
hold only the phone. A successful login also counts as the operator's presence for ``[safety]
wipe_after_days`` (services/deadman.py).

What the proof does not stop: whoever can change the frames (answering in the hub's place on its Wi-Fi) can run
its own page or add requests to a logged-in connection; only https:// stops that (docs/web.md).

Why this is CSRF-safe: there is no cookie or ambient credential. A page from another origin could open a
WebSocket to /op (WebSockets ignore the same-origin policy) but cannot know the code; and the Origin header is
checked anyway, so only pages served by this node can talk to /op.

The codes file is written whole (a temporary file renamed over it) under an ``flock`` on
``web-operators.lock``, so ``web login`` in one process and ``serve`` noting a use in another never lose each
other's lines, and a reader always sees a whole file. Lines of the first format (``hash created``) still count,
as codes made then with the default lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from samizdat.core.event import Event
from samizdat.core.thread import MAX_FUTURE
from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.relay.http import header, own_name
from samizdat.services import operator_codes
from samizdat.services.publishing import OPERATOR_KINDS
from samizdat.web import operator_changes
from samizdat.web.operator_admins import AdminsRequest, OperatorAdmins, check_admins
from samizdat.web.operator_changes import AdminChange, ChangeRecord

log = logging.getLogger(__name__)

TOKENS_FILE = "web-operators"
LOCK_FILE = "web-operators.lock"
LOGIN_TIMEOUT = 10.0
MAX_MESSAGE = 64 * 1024
SIGNABLE = OPERATOR_KINDS  # the publishing service decides; this only answers a wrong kind early
DEFAULT_LIFETIME = 30 * 86400  #: a code's life unless ``web login --expires`` says otherwise
MAX_LIFETIME = 366 * 86400
ID_CHARS = 8  #: hex characters of a code's hash shown as its id
MIN_ID_CHARS = 4  #: at least this many to revoke one by id
USED_EVERY = 600.0  #: a session notes its code's last use at login, then at most this often
# Login attempts per address (loopback too: on a shared machine other users' processes are not the operator).
LOGINS_PER_MINUTE = 20  # a person reloading the page stays far below; a script does not
FAILURES_ALLOWED = 5  # wrong or expired codes per address within FAILURE_WINDOW; then no login until they age out
FAILURE_WINDOW = 600.0
MAX_TRACKED = 4096  # addresses remembered; the oldest are forgotten first

NOT_VALID = "this operator code is not valid (or was revoked)"
USED = "this login link was already used (each link logs in one browser, once): run `samizdat web login` for a new one"
EXPIRED = "this operator code has expired: run `samizdat web login` on the node for a new one"
_DIGEST = re.compile(r"[0-9a-f]{64}")
#: A hash sealed on an encrypted node (services/operator_codes.py).
_SEALED = re.compile(r"[0-9a-f]{8}~[A-Za-z0-9_-]{20,200}")

#: Signs (kind, content, tags, created_at) with the node's key and publishes it; UsageError when refused.
OperatorPublish = Callable[[int, str, list[list[str]], int], Awaitable[Event]]
#: Signs a Blossom authorization (content, tags, created_at; kind 24242) without publishing it; UsageError.
OperatorAuthorize = Callable[[str, list[list[str]], int], Event]
#: Seconds a wipe's confirmation nonce stays good.
WIPE_CONFIRM_SECONDS = 120.0
NO_WIPE = "this node cannot be wiped from the web app"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OperatorCode:
    """One login code as the codes file remembers it: ``<sha256> <created> <expires> <last used or 0>``, and for a
    session code `` <sha256 of the link code it replaced>``; on an encrypted node the first field is the hash sealed
    (services/operator_codes.py: the hash is what a login proves, and the file is not encrypted)."""

    digest: str  # "" when sealed and this process cannot open it (it then never logs anyone in)
    created: int
    expires: int
    last_used: int  # 0: never
    link: str = ""  # a session code: the hash of the link's code, spent at the first login; "" for a link's code
    sealed: str = ""  # the first field as the file has it when sealed, written back as it is

    @property
    def id(self) -> str:
        """The id `web codes` shows: the link's, also once the link was exchanged for a session code."""
        return (self.link or self.digest or self.sealed)[:ID_CHARS]

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def line(self) -> str:
        link = f" {self.link}" if self.link else ""
        return f"{self.sealed or self.digest} {self.created} {self.expires} {self.last_used}{link}\n"

    def to_dict(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "created": self.created, "expires": self.expires,
                "last_used": self.last_used or None, "expired": self.expired(now)}  # fmt: skip


def _parse_line(line: str, home: Path) -> OperatorCode | None:
    parts = line.split()
    sealed = parts[0] if parts and _SEALED.fullmatch(parts[0]) else ""
    if not parts or not (sealed or _DIGEST.fullmatch(parts[0])) or not all(p.isdigit() for p in parts[1:4]):
        return None
    numbers = [int(p) for p in parts[1:4]]
    if len(numbers) == 1 and len(parts) == 2:  # the first format: a code made with the default lifetime
        numbers += [numbers[0] + DEFAULT_LIFETIME, 0]
    link = parts[4] if len(parts) == 5 else ""
    if len(numbers) != 3 or len(parts) > 5 or (link and not _DIGEST.fullmatch(link)):
        return None
    created, expires, last_used = numbers
    digest = operator_codes.unseal(home, sealed) if sealed else parts[0]
    # A file written before the times were kept to the hour is written coarse at its next change.
    return OperatorCode(digest, operator_codes.hour(created), expires, operator_codes.hour(last_used), link, sealed)


def list_codes(home: Path) -> list[OperatorCode]:
    """Every code in ``home``'s codes file (expired ones too), oldest first; lines it cannot read are skipped."""
    try:
        text = (home / TOKENS_FILE).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    return [code for code in (_parse_line(line, home) for line in text.splitlines()) if code is not None]


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def list_records(home: Path) -> list[ChangeRecord]:
    """The records of what logins changed in the admins (web/operator_changes.py), in the codes file."""
    try:
        text = (home / TOKENS_FILE).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    lines = (operator_changes.parse_record(line, home) for line in text.splitlines() if line.startswith("@"))
    return [record for record in lines if record is not None]


def _write(home: Path, codes: list[OperatorCode], records: list[ChangeRecord] | None = None) -> None:
    """Replace the codes file with ``codes`` and ``records`` (None: those the file has), a record whose code is
    gone marked ended (hold :func:`_locked`)."""
    path = home / TOKENS_FILE
    records = list_records(home) if records is None else records
    records = operator_changes.carried(records, {code.id for code in codes}, time.time())
    if not codes and not records:
        operator_codes.zero(path)
        path.unlink(missing_ok=True)
        return
    codes = [c if c.sealed or not c.digest else replace(c, sealed=_sealed(home, c.digest)) for c in codes]
    records = [operator_changes.sealed_again(home, record) for record in records]
    temporary = home / f".{TOKENS_FILE}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("".join(code.line() for code in codes) + "".join(record.line() for record in records))
        handle.flush()
        os.fsync(handle.fileno())
    operator_codes.replace(temporary, path)  # the file it replaces is zeroed: its blocks kept every hash


def _sealed(home: Path, digest: str) -> str:
    """``digest`` sealed for the file when this process holds the node's key, else "" (written as it is)."""
    sealed = operator_codes.seal(home, digest)
    return "" if sealed == digest else sealed


def new_token(home: Path, now: float | None = None, *, lifetime: int = DEFAULT_LIFETIME) -> str:
    """Make a login code valid for ``lifetime`` seconds, remember its hash in ``home`` (forgetting expired codes),
    and return the code (shown once, never stored). UsageError for a lifetime out of range."""
    if not 60 <= lifetime <= MAX_LIFETIME:
        raise UsageError("an operator code lives between one minute and a year")
    token = secrets.token_urlsafe(16)
    made = int(now if now is not None else time.time())
    with _locked(home):
        codes = [code for code in list_codes(home) if not code.expired(made)]
        expires = operator_codes.hour_after(made + lifetime)  # to the hour, as every time the file keeps
        _write(home, [*codes, OperatorCode(_digest(token), operator_codes.hour(made), expires, 0)])
    return token


def code_of(home: Path, token: str) -> OperatorCode | None:
    """The code ``token`` is, expired or not; None when it is none of them (compared in constant time)."""
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        return None
    digest, found = _digest(token), None
    for code in list_codes(home):
        if hmac.compare_digest(digest, code.digest):
            found = code
    return found


def link_spent(home: Path, token: str) -> bool:
    """True when ``token`` is a login link's code that was already exchanged for a session code."""
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        return False
    digest = _digest(token)
    return any(hmac.compare_digest(digest, code.link) for code in list_codes(home) if code.link)


def exchange_code(home: Path, digest: str, now: float, session: str | None = None) -> str | None:
    """Spend the login link's code with this hash: replace it with a new session code (same id and expiry, used
    ``now``), ``session`` or a random one, and return that code; None when it is no longer there (revoked, or
    exchanged meanwhile)."""
    with _locked(home):
        codes = list_codes(home)
        found = [code for code in codes if code.digest == digest and not code.link]
        if not found:
            return None
        session = session or secrets.token_urlsafe(16)
        fresh = replace(found[0], digest=_digest(session), last_used=operator_codes.hour(now), link=digest, sealed="")
        _write(home, [fresh if code is found[0] else code for code in codes])
    return session


def login_proof(digest: str, challenge: str) -> str:
    """What a browser holding the code whose SHA-256 is ``digest`` sends for ``challenge`` (web/src/oplogin.js):
    HMAC-SHA256 under the hash, in hex. Whoever reads it on the Wi-Fi cannot log in with it: the next login has
    another challenge, and the code cannot be worked back from it."""
    message = ("samizdat operator login " + challenge).encode()
    return hmac.new(bytes.fromhex(digest), message, hashlib.sha256).hexdigest()


def session_after(digest: str, challenge: str) -> str:
    """The session code that replaces the login link whose code hashes to ``digest``, logged in with a proof for
    ``challenge``: worked out by the node and by the browser alike, so it never travels."""
    message = ("samizdat operator session " + challenge).encode()
    return hmac.new(bytes.fromhex(digest), message, hashlib.sha256).hexdigest()


def code_by_proof(home: Path, proof: str, challenge: str) -> OperatorCode | None:
    """The code (expired or not) whose holder sent ``proof`` for ``challenge``; None when none did (every code
    compared, in constant time)."""
    if not isinstance(proof, str) or not _DIGEST.fullmatch(proof):
        return None
    found = None
    for code in list_codes(home):
        if code.digest and hmac.compare_digest(proof, login_proof(code.digest, challenge)):
            found = code
    return found


def link_spent_by_proof(home: Path, proof: str, challenge: str) -> bool:
    """:func:`link_spent` for a proof: the code behind ``proof`` is a login link's, already exchanged."""
    if not isinstance(proof, str) or not _DIGEST.fullmatch(proof):
        return False
    return any(hmac.compare_digest(proof, login_proof(c.link, challenge)) for c in list_codes(home) if c.link)


def code_by_digest(home: Path, digest: str) -> OperatorCode | None:
    """The code with this hash, if it is still there (not revoked)."""
    return next((code for code in list_codes(home) if hmac.compare_digest(digest, code.digest)), None)


def token_valid(home: Path, token: str, now: float | None = None) -> bool:
    """True when ``token`` is a current, unexpired login code (read from the file each time: a new login or a
    logout from another process counts at once)."""
    code = code_of(home, token)
    return code is not None and not code.expired(time.time() if now is None else now)


def session_valid(home: Path, token: str, now: float | None = None) -> bool:
    """True when ``token`` is a current, unexpired *session* code: a login link's code logs in once, at ``/op``,
    and is never accepted anywhere else (whoever glimpsed a link must not use it unnoticed)."""
    code = code_of(home, token)
    return code is not None and bool(code.link) and not code.expired(time.time() if now is None else now)


def mark_used(home: Path, digest: str, now: float) -> None:
    """Note that the code with this hash was used in the hour of ``now`` (nothing when it was revoked meanwhile,
    or when that hour is noted already: the file is not rewritten, so its own times move once an hour at most)."""
    used = operator_codes.hour(now)
    with _locked(home):
        codes = list_codes(home)
        plain = operator_codes.can_seal(home) and any(code.digest and not code.sealed for code in codes)
        if plain or any(code.digest == digest and code.last_used != used for code in codes):  # plain: seal now
            _write(home, [replace(c, last_used=used) if c.digest == digest else c for c in codes])


def revoke_code(home: Path, code_id: str) -> OperatorCode:
    """Forget the one code whose id starts with ``code_id``; UsageError when none or several do."""
    prefix = code_id.strip().lower()
    if len(prefix) < MIN_ID_CHARS or not re.fullmatch(r"[0-9a-f]+", prefix):
        raise UsageError(f"{code_id[:70]!r} is not a code id: give at least {MIN_ID_CHARS} of the hex characters "
                         "`samizdat web codes` shows")  # fmt: skip
    with _locked(home):
        codes = list_codes(home)
        matching = [code for code in codes if (code.link or code.digest or code.sealed).startswith(prefix)]
        if not matching:
            raise UsageError(f"no operator code {prefix}; see `samizdat web codes`")
        if len(matching) > 1:
            raise UsageError(f"more than one operator code starts with {prefix}: give more characters")
        _write(home, [code for code in codes if code is not matching[0]])
    return matching[0]


def note_admin_change(home: Path, code_id: str, change: AdminChange) -> None:
    """Remember in the record of the code ``code_id`` that its login made ``change``."""
    with _locked(home):
        records = list_records(home)
        found = next((r for r in records if r.id == code_id), None)
        updated = operator_changes.with_change(home, found, code_id, change)
        _write(home, list_codes(home), [updated if r is found else r for r in records] + ([] if found else [updated]))


def forget_unmade(home: Path, code_id: str, change: AdminChange) -> None:
    """Forget the entry noted before a change that was then refused, unchanged (its key changed nothing else)."""
    with _locked(home):
        records = list_records(home)
        done = {(change.channel, change.key)}
        kept = [
            operator_changes.without(home, r, done)
            if r.id == code_id and any(c.channel == change.channel and c.key == change.key and c.count == 0
                                       for c in r.changes or ())
            else r
            for r in records
        ]  # fmt: skip
        _write(home, list_codes(home), [r for r in kept if r is not None])


def _state(listed: dict[str, Any], key: str) -> operator_changes.State:
    """A key's state in an answer of :func:`samizdat.services.operator_admins.admins_dict`."""
    return listed["admins"].get(key), listed["revoked"].get(key)


def may_change_admin(home: Path, code_id: str, channel: str, key: str) -> bool:
    """Whether the record of ``code_id`` has room for a change of ``key`` in ``channel``."""
    found = next((r for r in list_records(home) if r.id == code_id), None)
    return operator_changes.has_room(found, channel, key)


def forget_admin_changes(home: Path, code_id: str, done: set[tuple[str, str]]) -> None:
    """Forget the entries of the (channel, key) pairs in ``done`` from the record of ``code_id`` (undone)."""
    with _locked(home):
        records = list_records(home)
        kept = [r if r.id != code_id else operator_changes.without(home, r, done) for r in records]
        _write(home, list_codes(home), [r for r in kept if r is not None])


def forget_tokens(home: Path) -> int:
    """Forget every login code; return how many there were. Open operator sessions end at their next request."""
    with _locked(home):
        count = len(list_codes(home))
        _write(home, [])
    return count


def address_key(remote: object) -> str:
    """Who is attempting a login, for :class:`LoginLimiter`: the IP address, or its /64 for IPv6 (one device
    gets a whole /64 and could otherwise take a new address for every try)."""
    try:
        ip = ipaddress.ip_address(str(remote[0]))  # type: ignore[index]
    except (TypeError, IndexError, KeyError, ValueError):
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip)


class LoginLimiter:
    """Login attempts per address: at most ``per_minute`` in any minute, and none while ``failures`` wrong codes
    of the last ``window`` seconds stand. Remembers at most ``tracked`` addresses (memory stays bounded)."""

    def __init__(
        self,
        *,
        per_minute: int = LOGINS_PER_MINUTE,
        failures: int = FAILURES_ALLOWED,
        window: float = FAILURE_WINDOW,
        tracked: int = MAX_TRACKED,
    ) -> None:
        self.per_minute, self.failures, self.window, self.tracked = per_minute, failures, window, tracked
        self._seen: dict[str, tuple[deque[float], deque[float]]] = {}  # address -> (attempts, failures)

    def _times(self, who: str, now: float) -> tuple[deque[float], deque[float]]:
        seen = self._seen.pop(who, None)
        attempts, failed = seen if seen is not None else (deque(), deque())
        while attempts and attempts[0] <= now - 60:
            attempts.popleft()
        while failed and failed[0] <= now - self.window:
            failed.popleft()
        self._seen[who] = (attempts, failed)  # now the most recent
        while len(self._seen) > self.tracked:
            del self._seen[next(iter(self._seen))]
        return attempts, failed

    def allow(self, who: str, now: float) -> bool:
        """Count an attempt by ``who``; False (and not counted) when it must be refused."""
        attempts, failed = self._times(who, now)
        if len(attempts) >= self.per_minute or len(failed) >= self.failures:
            return False
        attempts.append(now)
        return True

    def failed(self, who: str, now: float) -> None:
        """``who`` gave a wrong or expired code."""
        self._times(who, now)[1].append(now)


def same_origin(origin: str | None, host: str | None, names: Collection[str] = ()) -> bool:
    """True when the Origin header names the host the request was sent to (http or https, same host:port), and
    that host is one of this node's own (an address, localhost, a local name, the machine's name, an onion
    service's name, or one of ``names``, ``[relay] host_names``: relay/http.py, ``own_name``). A page of another
    site that points its own name at the node (DNS rebinding) sends its own name as both, and is refused: else it
    could spend the operator's login attempts from the operator's own phone."""
    if not origin or not host:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.strip().lower():
        return False
    return own_name(host, names)


def check_template(raw: object) -> tuple[int, str, list[list[str]], int]:
    """(kind, content, tags, created_at) of a signing request; RemoteProtocolError with a sentence otherwise."""
    if not isinstance(raw, dict):
        raise RemoteProtocolError("a signing request is an object with kind, content, tags and created_at")
    kind, content, tags, created_at = raw.get("kind"), raw.get("content"), raw.get("tags"), raw.get("created_at")
    if type(kind) is not int or kind not in SIGNABLE:  # not a bool, nor a list or an object (not hashable)
        raise RemoteProtocolError("the operator login signs only channel posts, deletion requests and labels")
    if not isinstance(content, str):
        raise RemoteProtocolError("content must be text")
    if not isinstance(tags, list) or not all(isinstance(t, list) and all(isinstance(v, str) for v in t) for t in tags):
        raise RemoteProtocolError("tags must be lists of strings")
    if not isinstance(created_at, int) or isinstance(created_at, bool) or created_at < 0:
        raise RemoteProtocolError("created_at must be a unix time")
    return kind, content, tags, created_at


class OperatorEndpoint:
    """The ``/op`` WebSocket route of ``samizdat serve``."""

    def __init__(
        self,
        home: Path,
        pubkey: str,
        publish: OperatorPublish,
        *,
        clock: Callable[[], float] = time.time,
        limiter: LoginLimiter | None = None,
        wipe: Callable[[], None] | None = None,
        present: Callable[[], None] | None = None,
        authorize: OperatorAuthorize | None = None,
        names: Collection[str] = (),
        admins: OperatorAdmins | None = None,
    ) -> None:
        """``wipe``: erase, stop and delete the node (what its panic signal does), offered to a logged-in operator
        when given; ``present``: called at each successful login; ``authorize``: signs photo upload
        authorizations (``{"id", "authorize": {content, tags, created_at}}``), offered when given; ``names``: the
        host names the node answers to besides its own (``[relay] host_names``); ``admins``: lists and changes the
        admins of the node's own channels (``{"id", "admins": {...}}``, web/operator_admins.py), offered when given."""
        self.authorize = authorize
        self.admins = admins
        self.names = tuple(names)
        self.home = home
        self.pubkey = pubkey
        self.publish = publish
        self.wipe = wipe
        self.present = present
        self.clock = clock
        self.limiter = limiter or LoginLimiter()
        self._noted: dict[str, float] = {}  # code hash -> when its use was last written

    async def __call__(self, ws: ServerConnection) -> None:
        request = ws.request
        headers = request.headers if request is not None else None
        if headers is None or not same_origin(header(headers, "Origin"), header(headers, "Host"), self.names):
            await ws.close(1008, "operator actions only from this node's own page, at one of its own names")
            return
        who = address_key(ws.remote_address)
        if not self.limiter.allow(who, self.clock()):
            log.warning("an operator login refused: too many attempts from one address")
            log.info("operator logins from %s refused: too many attempts", who)
            await ws.close(1013, "too many login attempts from this address; try again later")
            return
        try:
            async with asyncio.timeout(LOGIN_TIMEOUT):
                message = orjson.loads(await ws.recv())
                challenge = None
                if isinstance(message, dict) and message.get("login") == "challenge":
                    challenge = secrets.token_urlsafe(16)  # this connection's only: a proof read here works nowhere
                    await self._send(ws, {"challenge": challenge})
                    message = orjson.loads(await ws.recv())
            code, session, spent, now = await self._login(message, challenge)
            if code is None or code.expired(now):
                self.limiter.failed(who, now)
                error = EXPIRED if code else USED if spent else NOT_VALID
                log.info("operator login from %s refused: %s", who, error)
                await self._send(ws, {"ok": False, "error": error})
                await ws.close(1008, "not authorised")
                return
            log.info("operator logged in from %s with code %s", who, code.id)
            if self.present is not None:
                self.present()
            answer: dict[str, Any] = {"ok": True, "pubkey": self.pubkey}
            if session is not None:
                # With a proof, the browser works the session code out itself (session_after): it never travels.
                if challenge is not None:
                    answer["renewed"] = True
                else:
                    answer["session"] = session
                self._noted[code.digest] = now  # the exchange noted the use
            else:
                await self._note_use(code.digest, now)
            await self._send(ws, answer)
            confirm: list[tuple[str, float]] = []  # this connection's wipe nonce, if one was asked for
            async for data in ws:
                reply = await self._request(data, code.digest, confirm)
                try:
                    await self._send(ws, reply)
                finally:
                    if reply.get("wiped") is True and self.wipe is not None:
                        log.warning("the operator wiped the node from the web app")
                        log.info("the wipe came from %s", who)
                        self.wipe()
        except (TimeoutError, orjson.JSONDecodeError):
            await ws.close(1008, "expected a login message")
        except ConnectionClosed:
            pass

    async def _login(
        self, message: object, challenge: str | None
    ) -> tuple[OperatorCode | None, str | None, bool, float]:
        """The code a login message proves (``{"proof": ...}`` for ``challenge``, or the code itself as
        ``{"token": ...}``), with a link's code already exchanged for its session code (returned too); whether it
        was a link spent before; and now."""
        field = "proof" if challenge is not None else "token"
        given = message.get(field) if isinstance(message, dict) else None
        given = given if isinstance(given, str) else ""
        now = self.clock()
        code = code_by_proof(self.home, given, challenge) if challenge is not None else code_of(self.home, given)
        session = None
        if code is not None and not code.expired(now) and not code.link:  # a link's code: spent now
            fresh = session_after(code.digest, challenge) if challenge is not None else None
            session = await asyncio.to_thread(exchange_code, self.home, code.digest, now, fresh)
            code = code_of(self.home, session) if session is not None else None
        spent = False
        if code is None:
            if challenge is not None:
                spent = await asyncio.to_thread(link_spent_by_proof, self.home, given, challenge)
            else:
                spent = await asyncio.to_thread(link_spent, self.home, given)
        return code, session, spent, now

    async def _send(self, ws: ServerConnection, message: dict[str, Any]) -> None:
        await ws.send(orjson.dumps(message).decode())

    async def _note_use(self, digest: str, now: float) -> None:
        """Write the code's last use, at most every :data:`USED_EVERY` seconds (off the event loop: it waits for
        the codes file's lock)."""
        if now - self._noted.get(digest, -USED_EVERY) < USED_EVERY:
            return
        self._noted[digest] = now
        try:
            await asyncio.to_thread(mark_used, self.home, digest, now)
        except OSError as exc:
            log.warning("could not note the operator code's use: %s", exc)

    async def _request(self, data: str | bytes, digest: str, confirm: list[tuple[str, float]]) -> dict[str, Any]:
        if len(data) > MAX_MESSAGE:
            return {"error": "the request is too large"}
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return {"error": "the request is not JSON"}
        if not isinstance(message, dict):
            return {"error": "the request is not an object"}
        request_id = message.get("id")
        now = self.clock()
        code = code_by_digest(self.home, digest)  # logged out or expired from the command line meanwhile?
        if code is None:
            return {"id": request_id, "error": "this operator code was revoked"}
        if code.expired(now):
            return {"id": request_id, "error": EXPIRED}
        if "wipe" in message:
            return {"id": request_id, **self._wipe_step(message["wipe"], confirm, now)}
        if "authorize" in message and self.authorize is not None:
            raw = message["authorize"]
            try:
                _, content, tags, created_at = check_template({**raw, "kind": 2333} if isinstance(raw, dict) else raw)
                return {"id": request_id, "event": self.authorize(content, tags, created_at).to_dict()}
            except (RemoteProtocolError, UsageError) as exc:
                return {"id": request_id, "error": str(exc)}
        if "admins" in message and self.admins is not None:
            try:
                answer = await self._admins(check_admins(message["admins"]), code.id, now)
            except (RemoteProtocolError, UsageError) as exc:
                return {"id": request_id, "error": str(exc)}
            await self._note_use(code.digest, now)
            return {"id": request_id, "admins": answer}
        try:
            kind, content, tags, created_at = check_template(message.get("sign"))
            if created_at > now + MAX_FUTURE:
                raise RemoteProtocolError("created_at is in the future; check the phone's clock")
            event = await self.publish(kind, content, tags, created_at)
        except (RemoteProtocolError, UsageError) as exc:
            return {"id": request_id, "error": str(exc)}
        await self._note_use(code.digest, now)
        return {"id": request_id, "event": event.to_dict()}

    async def _admins(self, asked: AdminsRequest, code_id: str, now: float) -> dict[str, Any]:
        """Answer an admins request, noting a change in the login's record (web/operator_changes.py) for
        ``samizdat web logout`` to show and undo. UsageError when refused.

        The key's entry is written before the change is made (red team, round 13): a change the node cannot note
        (a full disk) is not made, and one that fails after publishing (a kept amendment the store refuses, after
        the definition was stored) is noted as the channel then shows it, instead of not at all."""
        assert self.admins is not None
        key = asked.add or asked.remove
        if key is None or asked.preview:
            return await self.admins(asked)
        if not await asyncio.to_thread(may_change_admin, self.home, code_id, asked.channel, key):
            raise UsageError(operator_changes.FULL)
        was = _state(await self.admins(AdminsRequest(asked.channel)), key)  # UsageError: not the node's channel
        at = int(now) // 60 * 60
        try:
            await asyncio.to_thread(note_admin_change, self.home, code_id, AdminChange(asked.channel, key, was, was,
                                                                                         at, 0))  # fmt: skip
        except OSError as exc:
            log.warning("could not note the operator login's admin change: %s", exc)
            raise UsageError("the node could not note this change in the login's record: nothing was changed") from exc
        try:
            answer = await self.admins(asked)
        except UsageError:
            with contextlib.suppress(UsageError, OSError):  # what the channel shows now, published or not
                after = _state(await self.admins(AdminsRequest(asked.channel)), key)
                change = AdminChange(asked.channel, key, was, after, at)
                await asyncio.to_thread(note_admin_change if after != was else forget_unmade, self.home, code_id,
                                        change)  # fmt: skip
            raise
        answer.pop("was", None)  # the key's state before (services/operator_admins.py): noted above already
        change = AdminChange(asked.channel, key, was, _state(answer, key), at)
        try:
            await asyncio.to_thread(note_admin_change, self.home, code_id, change)
        except OSError as exc:  # the entry written before stays: web logout lists it
            log.warning("could not note the operator login's admin change: %s", exc)
        return answer

    def _wipe_step(self, step: object, confirm: list[tuple[str, float]], now: float) -> dict[str, Any]:
        """``"ask"``: a new nonce for this connection; the nonce back within its time: ``wiped``."""
        if self.wipe is None:
            return {"error": NO_WIPE}
        if step == "ask":
            confirm[:] = [(secrets.token_urlsafe(16), now + WIPE_CONFIRM_SECONDS)]
            return {"confirm": confirm[0][0]}
        if isinstance(step, str) and confirm and not confirm[0][1] <= now and hmac.compare_digest(step, confirm[0][0]):
            confirm.clear()
            return {"wiped": True}
        confirm.clear()
        return {"error": "the wipe was not confirmed in time on this connection: nothing was wiped; ask again"}
