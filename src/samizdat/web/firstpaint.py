"""The start page's first paint: the channels the page carries, as plain HTML, before the app's script.

On "Slow 3G" (2 s per request, 50 KB/s) the page's script is 50-60 KB gzipped, a second of download after the
first bytes. The channel names and places at the top of the page arrive in the first few kilobytes, so the
browser paints the list while the rest of the page is still on its way; the app replaces it when it starts.

What is shown is inert text: no links (a link would put a channel's address in the browser's history, which the
app never does: nav.js), every name neutralised (no bidi overrides or invisible characters) and HTML-escaped,
each in its own ``<bdi>``. It lies between ``<!--FIRST-->`` and ``<!--/FIRST-->``, which the service worker cuts
out of the copy it keeps (as it empties the seed), so the browser's files hold no channel name in the clear.
"""

from __future__ import annotations

import html
from typing import Any

from samizdat.core.display import neutralize

FIRST_MARK = b'<p class="boot">\xe2\x80\xa6</p>'  #: the placeholder inside <div id="app"> in index.html
FIRST_BYTES = 12_000  #: the first paint's share of the page budget, at most
FIRST_CHANNELS = 30
_NAME, _PLACE = 100, 200  # characters shown, at most


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
    items: list[bytes] = []
    room = limit - 200
    seen: set[str] = set()
    for event in events:
        name = neutralize(_tag(event, "name")).strip()[:_NAME]
        if not name or len(items) >= FIRST_CHANNELS:
            continue
        place = neutralize(_tag(event, "place")).strip()[:_PLACE]
        key = f"{event.get('pubkey')}:{_tag(event, 'd')}"
        if key in seen:
            continue
        seen.add(key)
        shown = f'<span class="place"><bdi>{html.escape(place.replace("/", " › "))}</bdi></span>' if place else ""
        strong = f"<strong><bdi>{html.escape(name)}</bdi></strong>"
        item = f'<li class="channel"><span class="card">{strong}{shown}</span></li>'
        data = item.encode()
        if len(data) > room:
            break
        room -= len(data)
        items.append(data)
    if not items:
        return page
    block = b'<!--FIRST--><ul class="channels first" aria-busy="true">' + b"".join(items) + b"</ul><!--/FIRST-->"
    return page.replace(FIRST_MARK, block, 1)
