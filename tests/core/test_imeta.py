"""NIP-92 imeta tags for photos (core/imeta.py), the channel's media servers (core/channel.py) and the structure
walk of image files (core/imagecheck.py)."""

from __future__ import annotations

import hashlib

import pytest

from samizdat.core.channel import build_channel_event, parse_channel, rebuild_channel
from samizdat.core.event import sign_event
from samizdat.core.imagecheck import ImageRefused, scan, sniff
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url, parse_imeta, photo_refs, referenced_blobs
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.testing import clean_photo

KEY = SecretKey(bytes([3]) * 32)
SHA = "a" * 64
THUMB = "b" * 64


def test_an_imeta_tag_has_the_nip92_fields_and_ours() -> None:
    ref = PhotoRef(SHA, media_url("https://media.example.org/", SHA), "image/webp", 1600, 1200, "LEHV6nWB2yk8",
                   "Vans at\nthe corner", 183_422, THUMB, media_url("https://media.example.org", THUMB))  # fmt: skip
    tag = imeta_tag(ref)
    assert tag == [
        "imeta",
        f"url https://media.example.org/{SHA}.webp",
        f"x {SHA}",
        "m image/webp",
        "dim 1600x1200",
        "blurhash LEHV6nWB2yk8",
        "alt Vans at the corner",  # one line
        "size 183422",
        f"thumb https://media.example.org/{THUMB}.webp",
        f"thumbx {THUMB}",
    ]
    parsed = parse_imeta(tag)
    assert parsed is not None
    got = (parsed.sha256, parsed.width, parsed.height, parsed.size, parsed.thumb_sha256)
    assert got == (SHA, 1600, 1200, 183_422, THUMB)


def test_without_a_media_server_the_url_is_the_bare_blossom_path() -> None:
    assert media_url(None, SHA) == f"{SHA}.webp"
    assert media_url("", SHA, "jpg") == f"{SHA}.jpg"
    with pytest.raises(ValueError, match="64 lowercase hex"):
        media_url(None, "A" * 64)


def test_photo_refs_are_read_tolerantly() -> None:
    good = imeta_tag(PhotoRef(SHA, media_url(None, SHA), thumb_sha256=THUMB, thumb_url=media_url(None, THUMB)))
    tags = [
        ["imeta"],
        ["imeta", "url https://x.example/a.webp"],  # no hash
        ["imeta", f"x {SHA[:-1]}", "url u"],  # a short hash
        ["imeta", f"x {SHA}"],  # no url
        ["imeta", "url u", f"x {'c' * 64}", "dim 0x5", "size lots", "thumbx nope", "alt " + "é" * 5000],
        good,
        ["a", "30333:x:y"],
    ]
    event = sign_event(KEY, 2333, "text", tags, created_at=1_700_000_000)
    refs = photo_refs(event)
    assert [r.sha256 for r in refs] == ["c" * 64, SHA]
    assert (refs[0].width, refs[0].size, refs[0].thumb_sha256, len(refs[0].alt)) == (0, 0, "", 1000)
    assert referenced_blobs(event) == {"c" * 64, SHA, THUMB}


def test_a_hostile_post_yields_at_most_eight_photos() -> None:
    tags = [["imeta", f"url {i}", f"x {hashlib.sha256(str(i).encode()).hexdigest()}"] for i in range(500)]
    event = sign_event(KEY, 2333, "", tags, created_at=1_700_000_000)
    assert len(photo_refs(event)) == 8


def test_a_channel_names_its_media_servers() -> None:
    event = build_channel_event(KEY, "news", "News", created_at=1, media=["https://media.example.org"])
    channel = parse_channel(event)
    assert channel.media == ("https://media.example.org",)
    assert ["media", "https://media.example.org"] in [list(t) for t in event.tags]
    edited = parse_channel(
        rebuild_channel(KEY, channel, created_at=2, media=["https://a.example", "https://b.example"])
    )
    assert edited.media == ("https://a.example", "https://b.example")
    assert parse_channel(rebuild_channel(KEY, edited, created_at=3, name="Renamed")).media == edited.media
    with pytest.raises(UsageError, match="http:// or https://"):
        build_channel_event(KEY, "news", "News", created_at=1, media=["ftp://media.example.org"])
    hostile = sign_event(KEY, 30333, "", [["d", "x"], ["name", "X"], *[["media", f"https://m{i}.example"]
                                                                     for i in range(11)]], created_at=1)  # fmt: skip
    with pytest.raises(RemoteProtocolError, match="at most 10 media servers"):
        parse_channel(hostile)


@pytest.mark.parametrize("fmt", ["WEBP", "JPEG", "PNG"])
def test_scan_reads_the_size_from_the_header(fmt: str) -> None:
    data = clean_photo(123, 45, fmt=fmt)
    scanned = scan(data)
    assert (scanned.width, scanned.height) == (123, 45)
    assert sniff(data) == scanned.mime


def test_scan_refuses_what_is_not_one_clean_image() -> None:
    with pytest.raises(ImageRefused, match="not a JPEG, PNG or WebP"):
        scan(b"GIF89a" + bytes(100))
    with pytest.raises(ImageRefused, match="bytes follow the end of the WebP image"):
        scan(clean_photo() + b"PK\x05\x06" + bytes(18))
    with pytest.raises(ImageRefused, match="truncated"):
        scan(clean_photo(fmt="PNG")[:-20])
