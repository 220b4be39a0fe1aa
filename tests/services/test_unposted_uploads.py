"""Red team, round 4b: a photo uploaded to a hub and never posted does not wait there for whoever seizes it.

A hub runs without a passphrase (docs/hub.md), so its disk is read as it is. An editor on the hub's Wi-Fi picks a
photo in the web app (it is uploaded at once) and then does not post it: a face in the crowd, the wrong picture.
Before, the upload stayed for good, "the uploader deletes it", in the clear, indexed under the editor's key with
the time it came. Now a photo no post names is removed by the next upkeep pass an hour after it came, uploaded or
not; a posted one stays. Real files: a node on a temporary home, its blob store on disk, scanned byte by byte.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from samizdat.core.event import Event, sign_event
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url
from samizdat.core.keys import SecretKey
from samizdat.services import blob_quota, blobs, channels, posts
from samizdat.testing import FakeClock, clean_photo, test_node

EDITOR = SecretKey(bytes([9]) * 32)


def photo_post(key: SecretKey, address: str, full: bytes, thumb: bytes, created_at: int) -> Event:
    """A news post in ``address`` whose imeta tag names the photo ``full`` and its thumbnail."""
    sha, tsha = hashlib.sha256(full).hexdigest(), hashlib.sha256(thumb).hexdigest()
    ref = PhotoRef(sha, media_url(None, sha), "image/webp", 64, 48, "LEHV6nWB2yk8", "a yard", len(full), tsha,
                   media_url(None, tsha))  # fmt: skip
    return sign_event(key, 2333, "The yard today", [["a", address, ""], ["type", "news"], imeta_tag(ref)],
                      created_at=created_at)  # fmt: skip


def disk(home: Path) -> bytes:
    """Every byte under the node's home, as an examiner images it after the node is switched off."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


async def test_an_upload_no_post_names_is_gone_from_the_hubs_disk_and_a_posted_one_stays(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    home = tmp_path / "hub"
    unposted, posted = clean_photo(seed=11, noise=True), clean_photo(seed=12, noise=True)
    thumb = clean_photo(16, 12, seed=13)
    async with test_node(home, clock=fake_clock, sleep=fake_clock.sleep) as node:
        ctx = node.ctx
        channel, _ = await posts.create_channel(ctx, "yard", "Yard")
        await posts.change_admins(ctx, channel.address, add=[EDITOR.public_key_hex], role="editor", remove=[],
                                  since=None)  # fmt: skip
        assert await blobs.may_upload(ctx, EDITOR.public_key_hex)
        for data in (unposted, posted, thumb):  # what the Blossom endpoint does with the editor's upload
            await blobs.store_blob(ctx, data, owner=EDITOR.public_key_hex)
        await ctx.ingest([photo_post(EDITOR, channel.address, posted, thumb, int(ctx.now()))])

        fake_clock.advance(blob_quota.ORPHAN_GRACE + 60)
        report = await blob_quota.enforce(ctx, await channels.keep_rules(ctx), 10**9)
        assert report.orphans == 1
        assert not blobs.has_blob(ctx, hashlib.sha256(unposted).hexdigest())
        assert blobs.has_blob(ctx, hashlib.sha256(posted).hexdigest())  # the post's photo is there for readers
        assert blobs.has_blob(ctx, hashlib.sha256(thumb).hexdigest())
    seized = disk(home)
    assert posted in seized  # a plain hub: its posted photos are readable, as its posts are
    assert unposted not in seized
    assert hashlib.sha256(unposted).hexdigest().encode() not in seized
