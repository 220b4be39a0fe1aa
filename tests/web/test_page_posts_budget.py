"""The page's posts block keeps to its budget whatever the node's ``posts`` callable gives (web/app.py,
``posts_page``), stays data, and the page is served when they fail (in process: no browser in this module, whose
Playwright loop would clash with these tests' own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from websockets.datastructures import Headers

from samizdat.core import kinds
from samizdat.web.app import PAGE_BYTES, POSTS_BYTES, POSTS_MARK, POSTS_START, SEED_MARK, WebApp


def posts_of(body: bytes) -> list[dict[str, Any]]:
    start = body.index(POSTS_START) + len(POSTS_START)
    events: list[dict[str, Any]] = json.loads(body[start : body.index(b"</script>", start)])
    return events


async def test_the_page_bounds_what_it_is_given(tmp_path: Path) -> None:
    """Whatever the node's ``posts`` callable gives (or if it fails), the posts block keeps to its budget and the
    page to 500 KB; "</" inside a post cannot end the block."""
    (tmp_path / "index.html").write_bytes(
        b"<!doctype html><title>Samizdat</title>" + POSTS_MARK + SEED_MARK + b"<p>app</p>"
    )
    post = {"kind": kinds.POST, "created_at": 5, "content": "</script><script>alert(1)</script>" + "x" * 1000}
    given: list[Any] = [[dict(post, created_at=n) for n in range(1000)]]  # 1 MB

    async def posts() -> list[dict[str, Any]]:
        if isinstance(given[0], Exception):
            raise given[0]
        return list(given[0])

    async def seed() -> list[dict[str, Any]]:
        return [{"kind": kinds.CHANNEL, "created_at": n, "content": "y" * 1000, "tags": []} for n in range(1000)]

    app = WebApp(lambda: {}, seed=seed, posts=posts, directory=tmp_path)
    result = await app("/", Headers())
    assert result is not None
    body = result[2]
    assert len(body) <= PAGE_BYTES
    carried = posts_of(body)
    assert 0 < len(json.dumps(carried)) <= POSTS_BYTES
    assert carried[0]["content"] == post["content"]  # the same text, written so that it stays data
    assert b"</script><script>" not in body
    given[0] = RuntimeError("the store is gone")
    app = WebApp(lambda: {}, seed=seed, posts=posts, directory=tmp_path)
    result = await app("/", Headers())
    assert result is not None
    assert posts_of(result[2]) == []
