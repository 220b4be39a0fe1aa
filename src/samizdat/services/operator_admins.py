"""A channel's admins as the operator login sees and changes them (the web app's ``/op``, web/operator_admins.py).

The change itself is :func:`samizdat.services.posts.change_admins`, the function ``samizdat channel admins``
calls: the same definition, the same ``since`` (None: now), the same kept amendments. What this adds is what a
request from a browser needs before it gets there: the channel must be one whose owner is the node's key (the
command line would also say so, later and less plainly), the owner is never "removed", a key must be an admin (or
a removed one, whose ``since`` then moves) to be removed, and ``since`` must lie between :data:`EARLIEST` and
now (the command line checks the second only: a year typed wrong on a phone would otherwise drop every post
the key ever made). Each refusal is a UsageError of one sentence, raised before anything is signed.

Changes are made one at a time (red team, round 11): two at once (two tabs, two phones, or a hostile browser with
an operator session racing the owner) built their definitions from the same one in the same second, and the one
with the lower id replaced the other (NIP-01): a removal answered as done was silently lost. One at a time in
a process (a lock of its event loop), and on the node (an ``flock`` on its data directory, which every worker of
``serve --workers N`` takes: no file is added to the disk).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import weakref
from collections.abc import Sequence
from typing import Any

from samizdat.core.channel import ADMIN_ROLES, Channel
from samizdat.errors import UsageError
from samizdat.services import channels, posts
from samizdat.services.context import Context

#: The earliest ``since`` the operator login takes (2020-01-01 UTC): before any channel of this kind existed.
EARLIEST = 1_577_836_800
#: One lock per event loop (a test's loop, the node's): the changes it makes wait for one another.
_CHANGING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
#: At most this many posts of others' a preview lists, with at most :data:`MAX_SHOWN` of the key's amendments of
#: them (a flood's rest is counted: ``review_more``): the removal that follows names each amendment it keeps.
MAX_REVIEW = 200
MAX_SHOWN = 500
NOT_OWNER = "only the channel's owner can change its admins, and this node's key is not its owner"


def admins_dict(channel: Channel) -> dict[str, Any]:
    """What a face shows of a channel's admins: ``admins`` (key -> role) and ``revoked`` (key -> since)."""
    return {"address": channel.address, "owner": channel.owner, "admins": dict(channel.admins),
            "revoked": dict(channel.revoked)}  # fmt: skip


async def own_channel(ctx: Context, address: str) -> Channel:
    """The channel at ``address``, when its owner is the node's key; UsageError otherwise."""
    channel = await channels.resolve(ctx, address)
    if channel.owner != ctx.pubkey:
        raise UsageError(NOT_OWNER)
    return channel


async def list_admins(ctx: Context, address: str) -> dict[str, Any]:
    """The admins of one of the node's own channels (:func:`admins_dict`). Raises UsageError."""
    return admins_dict(await own_channel(ctx, address))


async def answer(
    ctx: Context, address: str, *, add: str | None, role: str, remove: str | None, since: int | None,
    drop: Sequence[str] | None = None, preview: bool = False, shown: Sequence[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What the operator asked of ``address``'s admins: :func:`list_admins` when neither ``add`` nor ``remove`` is
    given, else :func:`change`. Raises UsageError."""
    if add is None and remove is None and since is None:
        return await list_admins(ctx, address)
    return await change(
        ctx, address, add=add, role=role, remove=remove, since=since, drop=drop, preview=preview, shown=shown
    )


async def change(
    ctx: Context, address: str, *, add: str | None = None, role: str = "admin", remove: str | None = None,
    since: int | None = None, drop: Sequence[str] | None = None, preview: bool = False,
    shown: Sequence[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Appoint ``add`` (with ``role``) or remove ``remove`` (from ``since`` on; None: now) in one of the node's own
    channels, through :func:`posts.change_admins` (``drop``: the amendments or posts not to keep; None refuses to
    keep another's post's unseen; ``shown``: the amendments of others' posts the page listed and the owner left
    checked, :func:`posts.change_admins`'s ``keep``: nothing else of others' posts is kept; ``drop`` without
    ``shown`` keeps every one not dropped). Returns :func:`admins_dict` of the new definition, with ``ids``
    (the definition's, then the kept amendments'), ``kept`` (how many amendments the owner signed again) and
    ``delivered``/``pending``. ``preview`` changes nothing and answers :func:`admins_dict` of the channel as it
    is, with ``since`` (now when None: the removal that follows sends it, so what the key dates later is neither
    listed nor kept), ``review`` (what the removal would keep of others' posts: :meth:`posts.Kept.to_dict`, at most
    :data:`MAX_REVIEW` posts and :data:`MAX_SHOWN` amendments, ``review_more`` how many posts more) and
    ``own_kept`` (how many of the key's own posts' amendments it would keep). Raises UsageError, having signed
    nothing."""
    if (add is None) == (remove is None):
        raise UsageError("give one key to appoint or one to remove")
    lock = _CHANGING.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:  # the definition is read, checked and replaced by one change at a time (see the module)
        fd = os.open(ctx.home, os.O_RDONLY)  # and one at a time on the node: serve --workers N has N web apps
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            return await _change(
                ctx, address, add=add, role=role, remove=remove, since=since, drop=drop, preview=preview, shown=shown
            )
        finally:
            os.close(fd)  # the lock goes with it


async def _change(
    ctx: Context, address: str, *, add: str | None, role: str, remove: str | None, since: int | None,
    drop: Sequence[str] | None, preview: bool, shown: Sequence[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    if role not in ADMIN_ROLES:
        raise UsageError(f"the role is one of {', '.join(ADMIN_ROLES)}")
    channel = await own_channel(ctx, address)
    now = ctx.now()
    if remove is not None:
        if remove == channel.owner:
            raise UsageError("the owner cannot be removed from the channel (its key is the channel)")
        if remove not in channel.admins and remove not in channel.revoked:
            raise UsageError("this key is not an admin of the channel")
        if since is not None and since > now:
            raise UsageError("a removal cannot start in the future: give a time up to now")
        if since is not None and since < EARLIEST:
            raise UsageError("that time is before 2020: check the date (the removal counts from the moment given)")
    elif since is not None:
        raise UsageError("a time goes only with a removal")
    elif add == channel.owner:
        raise UsageError("the owner is always an admin and cannot be listed as one")
    if remove is None and (preview or drop is not None or shown is not None):
        raise UsageError("a review and a choice of what to keep go only with a removal")
    if preview:
        kept = await posts.review_removal(ctx, address, remove=[remove] if remove else [], since=since)
        others = [k for k in kept if k.asks]
        listed = _listed(others)
        return {**admins_dict(channel), "since": now if since is None else since,
                "review": [k.to_dict() for k in listed], "review_more": len(others) - len(listed),
                "own_kept": len(kept) - len(others)}  # fmt: skip
    updated, result = await posts.change_admins(
        ctx, address, add=[add] if add else [], role=role, remove=[remove] if remove else [], since=since,
        drop=drop or (), keep=shown, keep_all=drop is not None and shown is None,
    )  # fmt: skip
    answer = admins_dict(updated)
    if result is not None:
        answer.update(result.to_dict())
    answer["kept"] = len(result.ids) - 1 if remove is not None and result is not None else 0
    key = add or remove or ""  # the key's state before, for the login's record (web/operator_changes.py)
    answer["was"] = {"role": channel.admins.get(key), "since": channel.revoked.get(key)}
    return answer


def _listed(others: list[posts.Kept]) -> list[posts.Kept]:
    """Those of ``others`` a preview has room for, in order: :data:`MAX_REVIEW` posts, :data:`MAX_SHOWN` amendments
    (a post the key amended more often than there is room left for is skipped, not the ones after it)."""
    listed: list[posts.Kept] = []
    amendments = 0
    for kept in others:
        if len(listed) == MAX_REVIEW:
            break
        if amendments + len(kept.by) + len(kept.withdrawn) <= MAX_SHOWN:
            listed.append(kept)
            amendments += len(kept.by) + len(kept.withdrawn)
    return listed
