"""The shape of the operator's admin requests on ``/op`` (web/operator.py): list, appoint or remove an admin.

``{"id": n, "admins": {"channel": ADDRESS}}`` lists the admins of one of the node's own channels;
``{"id": n, "admins": {"channel": ADDRESS, "remove": KEY, "since": UNIX_TIME_OR_NULL}}`` removes one (``since``
null or left out: from now on) and ``{"id": n, "admins": {"channel": ADDRESS, "add": KEY, "role": "admin" |
"editor"}}`` appoints one; KEY is 64 hex characters or an npub. A removal with ``"preview": true`` changes
nothing and answers what it would keep of others' posts (``review``, each post with the ids of the key's
``amendments`` of it); one with ``"drop": [ID, ...]`` (ids, 64 hex, of the retractions and corrections to leave
out or of the posts they amend) makes the owner's choice, and ``"shown": [ID, ...]`` (the ids of the amendments
the page listed and the owner left checked) keeps no amendment of another's post but those: not one that arrived
meanwhile (of a listed post too), nor one beyond the list's room (docs/safety.md, "Red team, round 13");
``drop`` without ``shown`` keeps every one not dropped. Without ``drop``, a removal that would sign again a
retraction or correction of another's post is refused (docs/safety.md, "Red team, round 12"). The answer is
``{"id": n, "admins": {...}}`` (services/operator_admins.py: the admins, the removed keys with their since, and
after a change the published ids and how many amendments were ``kept``) or ``{"id": n, "error": one sentence}``.
Only the shape is checked here (a browser on a hub's Wi-Fi may send anything); the rules are the service's, the
same as ``samizdat channel admins``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from samizdat.core import nip19
from samizdat.core.channel import ADMIN_ROLES
from samizdat.errors import RemoteProtocolError
from samizdat.services.operator_admins import MAX_SHOWN

MAX_ADDRESS = 400  #: characters of a channel address (kind, 64 hex, identifier)
MAX_KEY = 120  #: characters of a key (hex or npub)
MAX_DROP = MAX_SHOWN  #: ids in a ``drop`` or ``shown`` list (a 64 KiB message holds about 900): what a preview lists
FIELDS = frozenset({"channel", "add", "role", "remove", "since", "preview", "drop", "shown"})
_ID = re.compile(r"[0-9a-f]{64}")
_ADDRESS = re.compile(r"30333:[0-9a-f]{64}:[^\s]{1,300}")


@dataclass(frozen=True, slots=True)
class AdminsRequest:
    """One checked request: ``add`` or ``remove`` (hex), or neither to list."""

    channel: str
    add: str | None = None
    role: str = "admin"
    remove: str | None = None
    since: int | None = None
    drop: tuple[str, ...] | None = None
    preview: bool = False
    shown: tuple[str, ...] | None = None


#: Answers an :class:`AdminsRequest` (services/operator_admins.py); UsageError with one sentence when refused.
OperatorAdmins = Callable[[AdminsRequest], Awaitable[dict[str, Any]]]


def _key(value: object, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_KEY:
        raise RemoteProtocolError(f"{field} must be a public key (npub or 64 hex characters)")
    return nip19.parse_pubkey(value, error=RemoteProtocolError)


def _ids(value: object, field: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_DROP or not all(isinstance(i, str) and _ID.fullmatch(i)
                                                                       for i in value):  # fmt: skip
        raise RemoteProtocolError(f"{field} must be a list of at most {MAX_DROP} ids (64 hex characters)")
    return tuple(dict.fromkeys(value))


def check_admins(raw: object) -> AdminsRequest:
    """The request in ``raw``; RemoteProtocolError with one sentence when it is not one."""
    if not isinstance(raw, dict) or not raw.keys() <= FIELDS:
        raise RemoteProtocolError("an admins request is an object with channel, and add and role, or remove and since")
    channel = raw.get("channel")
    if not isinstance(channel, str) or len(channel) > MAX_ADDRESS or not _ADDRESS.fullmatch(channel):
        raise RemoteProtocolError("channel must be a channel's address (30333:<owner>:<id>)")
    if "add" in raw and "remove" in raw:
        raise RemoteProtocolError("give one key to appoint or one to remove, not both")
    role = raw.get("role", "admin")
    if not isinstance(role, str) or role not in ADMIN_ROLES:
        raise RemoteProtocolError(f"role is one of {', '.join(ADMIN_ROLES)}")
    since = raw.get("since")
    if since is not None and (type(since) is not int or not 0 <= since < 2**40):
        raise RemoteProtocolError("since must be a unix time (or null for now)")
    if "role" in raw and "add" not in raw:
        raise RemoteProtocolError("a role goes only with a key to appoint")
    if since is not None and "remove" not in raw:
        raise RemoteProtocolError("since goes only with a key to remove")
    preview, drop = raw.get("preview", False), raw.get("drop")
    if not isinstance(preview, bool):
        raise RemoteProtocolError("preview must be true or false")
    drop, shown = _ids(drop, "drop"), _ids(raw.get("shown"), "shown")
    if shown is not None and drop is None:
        raise RemoteProtocolError("shown goes only with drop")
    if (preview or "drop" in raw) and "remove" not in raw:
        raise RemoteProtocolError("preview and drop go only with a key to remove")
    if preview and "drop" in raw:
        raise RemoteProtocolError("a preview keeps nothing: send drop with the removal itself")
    add = _key(raw["add"], "add") if "add" in raw else None
    remove = _key(raw["remove"], "remove") if "remove" in raw else None
    return AdminsRequest(channel, add, role, remove, since, drop, preview, shown)
