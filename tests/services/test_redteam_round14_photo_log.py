"""Red team, round 14: what the log of a seized laptop says of a photo (docs/safety.md, "What the log says"). A
source that answers a photo's name with other bytes (a lying media server, a censor's box on a plain ``http://``
path: anyone, at will) had the node write, at the WARNING level a journal keeps, "the blob's SHA-256 is ...,
not the <first 16 hex of the photo's hash> expected": 64 bits of a hash that the post's public ``imeta`` tag
carries, so the journal named the post and its channel. Now the warning says what happened only; ``-v`` why."""

from __future__ import annotations

import hashlib
import logging

import pytest
from test_blobs import _channel, source  # noqa: F401  (source: the fixture)

from photo_samples import photo_post
from samizdat.services import blob_travel
from samizdat.services.context import Context
from samizdat.testing import clean_photo


async def test_a_photo_refused_is_not_named_in_the_log_at_its_default_level(
    ctx: Context,
    source: dict[str, bytes],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    address = await _channel(ctx)
    photo = (clean_photo(seed=41), clean_photo(16, 12, seed=42))
    post = photo_post(ctx.key, address, [photo], ctx.now())
    await ctx.ingest([post])
    names = [hashlib.sha256(data).hexdigest() for data in photo]
    for name in names:
        source[name] = clean_photo(seed=99)  # other bytes under the photo's name
    caplog.set_level(logging.INFO)
    report = await blob_travel.travel(ctx, [source["__url__"].decode()], blob_travel.Bounds(count=10))
    assert report.refused  # refused, as before
    kept = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("photo fetched for a post was refused" in line for line in kept), kept
    leaked = [line for line in kept for name in names if name[:12] in line]
    assert leaked == []
    assert not [line for line in kept if "127.0.0.1" in line], kept
    verbose = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("not the" in line and "expected" in line for line in verbose), verbose  # -v says why
