"""The start page's first paint: the channels the page carries, as plain HTML, before the app's script.

On "Slow 3G" (2 s per request, 50 KB/s) the page's script is 50-60 KB gzipped, a second of download after the
first bytes. The channel names and places at the top of the page arrive in the first few kilobytes, so the
browser paints the list while the rest of the page is still on its way; the app replaces it when it starts.

What is shown is inert text: no links (a link would put a channel's address in the browser's history, which the
app never does: nav.js), every name neutralised (no bidi overrides or invisible characters) and HTML-escaped,
each in its own ``<bdi>``. Two channels of two keys named alike (core/display.py ``name_keys``, or one letter or a
filler word apart: core/trust.py ``names_alike``) both say so first, with their owner key's fingerprint. It lies
between ``<!--FIRST-->`` and ``<!--/FIRST-->``, which the service worker cuts out of the copy it keeps (as it
empties the seed), so the browser's files hold no channel name in the clear.
"""

from __future__ import annotations

import html
from typing import Any

from samizdat.core.display import fingerprint, name_keys, neutralize
from samizdat.core.trust import names_alike

FIRST_MARK = b'<p class="boot">\xe2\x80\xa6</p>'  #: the placeholder inside <div id="app"> in index.html
FIRST_BYTES = 12_000  #: the first paint's share of the page budget, at most
FIRST_CHANNELS = 30
_NAME, _PLACE = 100, 200  # characters shown, at most
#: Said before a channel's name when another key's channel on the page is named like it (English: the page's
#: language is the app's choice, made when it starts).
TWIN_WARNING = "⚠ Another channel has this name or one like it: check the owner key before you believe either."


def _tag(event: dict[str, Any], name: str) -> str:
    for tag in event.get("tags") or ():
        if isinstance(tag, list) and len(tag) >= 2 and tag[0] == name and isinstance(tag[1], str):
            return tag[1]
    return ""


def first_paint(page: bytes, events: list[dict[str, Any]], limit: int = FIRST_BYTES) -> bytes:
    """``page`` with its boot placeholder replaced by a plain list of the first channels of ``events`` (best
    first; their definitions are already checked), within ``limit`` bytes. The page as it is when it has no
    placeholder or there is nothing to list."""
    if FIRST_MARK not in page:
        return page
    chosen: list[tuple[str, str, str]] = []  # name, place, owner key
    seen: set[str] = set()
    for event in events:
        name = neutralize(_tag(event, "name")).strip()[:_NAME]
        if not name or len(chosen) >= FIRST_CHANNELS:
            continue
        key = f"{event.get('pubkey')}:{_tag(event, 'd')}"
        if key in seen:
            continue
        seen.add(key)
        chosen.append((name, neutralize(_tag(event, "place")).strip()[:_PLACE], str(event.get("pubkey"))))
    # Two keys' channels named alike are both marked, as the app marks them for a reader who trusts neither
    # (core/trust.py lookalikes): this page knows nothing of the reader's follows.
    # Also names one letter away or with a filler word (core/trust.py names_alike), pair by pair: 30 at most.
    owners: dict[str, set[str]] = {}
    for name, _, owner in chosen:
        for name_key in name_keys(name):
            owners.setdefault(name_key, set()).add(owner)
    near = {
        (i, j)
        for i, (a, _, a_owner) in enumerate(chosen)
        for j, (b, _, b_owner) in enumerate(chosen)
        if i < j and a_owner != b_owner and names_alike(a, b)
    }
    items: list[bytes] = []
    room = limit - 200
    for index, (name, place, owner) in enumerate(chosen):
        twinned = any(len(owners[name_key]) > 1 for name_key in name_keys(name)) or any(index in pair for pair in near)
        shown = f'<span class="place"><bdi>{html.escape(place.replace("/", " › "))}</bdi></span>' if place else ""
        strong = f"<strong><bdi>{html.escape(name)}</bdi></strong>"
        warning = f'<span class="warning collision twin">{TWIN_WARNING}</span>' if twinned else ""
        fp = f'<span class="fp"><span class="v">{fingerprint(owner)}</span></span>' if twinned else ""
        card = f'<span class="card">{warning}{strong}{fp}{shown}</span>'
        item = f'<li class="channel{" warned" if twinned else ""}">{card}</li>'
        data = item.encode()
        if len(data) > room:
            break
        room -= len(data)
        items.append(data)
    if not items:
        return page
    block = b'<!--FIRST--><ul class="channels first" aria-busy="true">' + b"".join(items) + b"</ul><!--/FIRST-->"
    return page.replace(FIRST_MARK, block, 1)
