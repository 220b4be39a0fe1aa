"""Store-carry-forward: which events a node keeps for others, and which it drops first when over its quota.

A node keeps, without limit, what it needs itself: its own events, the channels it follows (their definitions and
everything pointing at them), and the labels of verifiers it follows. Everything else it *carries* for others:
posts of channels it does not follow, picked up from peers and relays, so that a laptop that was online brings the
news into a building and the building's hub passes it on. Carried events share a quota. When the quota is
exceeded, the node drops the carried events with the lowest :func:`carry_rank` first.

The rank is a timestamp: an event's ``created_at`` plus a bonus for the kinds of post that matter most when the
network is cut (alerts and help requests first). An alert from yesterday outranks news from this morning; a week
old alert is still dropped before today's news. Expired events (NIP-40) are deleted by the store anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from samizdat.core import kinds

HOUR = 3600
#: Seconds added to ``created_at`` when ranking a carried event, by post type (kind 2333's ``type`` tag).
POST_TYPE_BONUS: dict[str, int] = {
    "alert": 48 * HOUR,
    "help": 48 * HOUR,
    "safe-place": 24 * HOUR,
    "contact": 24 * HOUR,
    "correction": 24 * HOUR,  # a correction must travel with its mistake
    "retraction": 24 * HOUR,
    "event": 12 * HOUR,
    "appeal": 12 * HOUR,
    "news": 0,
}
#: Bonus by kind for events that are not posts: channel definitions are small and needed to check every post.
KIND_BONUS: dict[int, int] = {
    kinds.CHANNEL: 30 * 24 * HOUR,
    kinds.DELETION: 24 * HOUR,
    kinds.LABEL: 12 * HOUR,
}


@dataclass(frozen=True, slots=True)
class KeepRules:
    """What this node keeps regardless of any quota."""

    own: frozenset[str] = frozenset()  # public keys (hex): the node's own and its operators'
    channels: frozenset[str] = frozenset()  # followed channel addresses "30333:<owner>:<d>"
    verifiers: frozenset[str] = frozenset()  # followed verifiers' public keys

    @classmethod
    def of(cls, own: Iterable[str], channels: Iterable[str], verifiers: Iterable[str]) -> KeepRules:
        return cls(frozenset(own), frozenset(channels), frozenset(verifiers))

    def keeps(self, pubkey: str, kind: int, d_tag: str | None, addresses: Iterable[str]) -> bool:
        """True if an event by ``pubkey`` of ``kind`` (with its ``d`` tag and ``a`` tag values) is never dropped."""
        if pubkey in self.own or pubkey in self.verifiers:
            return True
        if kind == kinds.CHANNEL and f"{kind}:{pubkey}:{d_tag or ''}" in self.channels:
            return True
        return any(address in self.channels for address in addresses)


def carry_rank(kind: int, created_at: int, post_type: str | None) -> int:
    """The event's place in the carry order: higher is kept longer."""
    if kind == kinds.POST:
        return created_at + POST_TYPE_BONUS.get(post_type or "", 0)
    return created_at + KIND_BONUS.get(kind, 0)


def choose_evictions(candidates: Iterable[tuple[int, int, int]], used: int, quota: int) -> list[int]:
    """Given carried events as ``(rank, size, key)``, the keys to drop, lowest rank first, until ``used`` bytes
    fit in ``quota``. Ties go to the larger key (the later stored) so the choice is deterministic."""
    if used <= quota:
        return []
    dropped: list[int] = []
    for _rank, size, key in sorted(candidates, key=lambda c: (c[0], -c[2])):
        if used <= quota:
            break
        dropped.append(key)
        used -= size
    return dropped
