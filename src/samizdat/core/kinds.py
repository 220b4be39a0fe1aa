"""Kind classes of NIP-01 and the kinds Samizdat uses."""

from __future__ import annotations

from enum import Enum

METADATA = 0
TEXT_NOTE = 1
CONTACTS = 3
DELETION = 5  # NIP-09
LABEL = 1985  # NIP-32
RELAY_LIST = 10002  # NIP-65
BOOKMARKS = 10003  # NIP-51 bookmarks: the follows backup, every item private (core/private_list.py)
CHANNEL = 30333  # Samizdat channel definition (addressable), docs/protocol.md
POST = 2333  # Samizdat channel post of any type, incl. corrections and retractions (regular)


class KindClass(Enum):
    REGULAR = "regular"
    REPLACEABLE = "replaceable"
    EPHEMERAL = "ephemeral"
    ADDRESSABLE = "addressable"


def kind_class(kind: int) -> KindClass:
    """How a relay stores events of ``kind`` (NIP-01 "Kinds")."""
    if kind in (0, 3) or 10000 <= kind < 20000:
        return KindClass.REPLACEABLE
    if 20000 <= kind < 30000:
        return KindClass.EPHEMERAL
    if 30000 <= kind < 40000:
        return KindClass.ADDRESSABLE
    return KindClass.REGULAR


def is_replaceable(kind: int) -> bool:
    return kind_class(kind) is KindClass.REPLACEABLE


def is_ephemeral(kind: int) -> bool:
    return kind_class(kind) is KindClass.EPHEMERAL


def is_addressable(kind: int) -> bool:
    return kind_class(kind) is KindClass.ADDRESSABLE


#: Not a kind but a wire convention of ours: live subscriptions whose id starts with this are not sent the events
#: their own connection publishes. A peer link pushes and subscribes on one connection and needs no echo of what
#: it just sent (docs/protocol.md, "Finding peers on a LAN").
PEER_SUBSCRIPTION = "peer:"
