"""Photos as blobs (issue 13): the check every blob passes, the encrypted store, Blossom over HTTP on loopback,
photos travelling from one node to another, and a bundle with photos.

    .venv/bin/python bench/blobs.py              # 20 runs, 20 photo posts; writes docs/benchmarks.md
    .venv/bin/python bench/blobs.py --runs 5 --posts 5 --no-write

The photos are what the photo pipeline makes: a 1600 × 1200 WebP of about 200 KB and a 320 × 240 thumbnail, made
here from a smooth picture with noise (Pillow). Timings are medians of ``--runs``; the travel and bundle figures
are one pass each over ``--posts`` posts of one photo and its thumbnail. Writes the ``## Photos as blobs
(issue 13)`` section of docs/benchmarks.md (every other section is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image  # noqa: E402
from report import machine, write_section  # noqa: E402

from samizdat.core.event import sign_event  # noqa: E402
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url  # noqa: E402
from samizdat.services import blob_travel, blobs, bundles, posts  # noqa: E402
from samizdat.store.blobs import BlobStore  # noqa: E402
from samizdat.testing import blossom_auth, running_relay, test_node  # noqa: E402
from samizdat.web.blossom import BlossomEndpoint  # noqa: E402

TITLE = "## Photos as blobs (issue 13)"


def photo(width: int, height: int, seed: int, target: int) -> bytes:
    """A WebP of about ``target`` bytes: a gradient with noise, at the quality that lands nearest."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    image = Image.blend(base, noise, 0.12)
    best = b""
    for quality in (90, 80, 70, 60, 50, 40, 30):
        out = io.BytesIO()
        image.save(out, "WEBP", quality=quality)
        best = out.getvalue()
        if len(best) <= target:
            break
    return best


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def http(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                 f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]  # fmt: skip
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
        )
        await reader.readexactly(length)
        return int(head.split(b" ")[1])
    finally:
        writer.close()


async def run(runs: int, post_count: int, work: Path) -> dict[str, Any]:
    full = photo(1600, 1200, 1, 200_000)
    thumb = photo(320, 240, 2, 12_000)
    results: dict[str, Any] = {"full_bytes": len(full), "thumb_bytes": len(thumb)}
    checks = []
    for _ in range(runs):
        start = time.perf_counter()
        blobs.check_image(full, "image/webp")
        checks.append(time.perf_counter() - start)
    results["check_ms"] = median_ms(checks)

    store = BlobStore(work / "store", os.urandom(32))
    writes, reads = [], []
    for i in range(runs):
        data = photo(1600, 1200, 100 + i, 200_000)
        sha = hashlib.sha256(data).hexdigest()
        start = time.perf_counter()
        store.put(sha, data, "image/webp", thumb=False, now=1)
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert store.get(sha) == data
        reads.append(time.perf_counter() - start)
    store.close()
    results["store_write_ms"], results["store_read_ms"] = median_ms(writes), median_ms(reads)

    async with test_node(work / "a") as node_a, test_node(work / "b") as node_b:
        ctx = node_a.ctx
        channel, _ = await posts.create_channel(ctx, "bench", "Bench")
        endpoint = BlossomEndpoint(ctx)
        async with running_relay(work, request_handler=endpoint, max_body=blobs.MAX_BLOB_BYTES) as relay:
            uploads, gets = [], []
            for i in range(runs):
                data = photo(1600, 1200, 200 + i, 200_000)
                sha = hashlib.sha256(data).hexdigest()
                auth = {"Authorization": blossom_auth(ctx.key, "upload", [sha]), "Content-Type": "image/webp"}
                start = time.perf_counter()
                assert await http(relay.port, "PUT", "/upload", data, auth) == 201
                uploads.append(time.perf_counter() - start)
                start = time.perf_counter()
                assert await http(relay.port, "GET", f"/{sha}.webp") == 200
                gets.append(time.perf_counter() - start)
            results["upload_ms"], results["get_ms"] = median_ms(uploads), median_ms(gets)

            events = []
            for i in range(post_count):
                data, small = photo(1600, 1200, 300 + i, 200_000), photo(320, 240, 400 + i, 12_000)
                blobs.put_blob(ctx, data, thumb=False)
                blobs.put_blob(ctx, small, thumb=True)
                sha, tsha = hashlib.sha256(data).hexdigest(), hashlib.sha256(small).hexdigest()
                ref = PhotoRef(sha, media_url(None, sha), "image/webp", 1600, 1200, "", "", len(data), tsha,
                               media_url(None, tsha))  # fmt: skip
                tags = [["a", channel.address, ""], ["type", "news"], imeta_tag(ref)]
                events.append(sign_event(ctx.key, 2333, f"post {i}", tags, created_at=ctx.now()))
            await ctx.ingest([channel.event, *events])
            await node_b.ctx.ingest([channel.event, *events])
            bounds = blob_travel.Bounds(count=4 * post_count, bytes=1 << 30, seconds=600)
            start = time.perf_counter()
            report = await blob_travel.travel(node_b.ctx, [f"http://127.0.0.1:{relay.port}"], bounds)
            results["travel_seconds"] = time.perf_counter() - start
            results["travel_fetched"], results["travel_bytes"] = report.fetched, report.bytes

        out = work / "photos.smz"
        start = time.perf_counter()
        exported = await bundles.export(ctx, out, max_part_bytes=None)
        results["export_seconds"] = time.perf_counter() - start
        results["export_bytes"], results["export_blobs"] = exported.file_bytes, exported.blobs
        results["export_blob_bytes"] = exported.blob_bytes
    async with test_node(work / "c") as node_c:
        start = time.perf_counter()
        imported = await bundles.import_files(node_c.ctx, [out])
        results["import_seconds"] = time.perf_counter() - start
        results["import_blobs"] = sum(f.blobs for f in imported.files)
    return results


def section(r: dict[str, Any], runs: int, post_count: int, command: str) -> list[str]:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        TITLE,
        "",
        "`services/blobs.py` (the check every blob passes), `store/blobs.py` (rows of the encrypted photo index),"
        " `web/blossom.py` over `relay/bodies.py` (Blossom on loopback), `services/blob_travel.py` and bundles with"
        f" photos, measured by `bench/blobs.py`: a {r['full_bytes']:,}-byte 1600 × 1200 WebP and a"
        f" {r['thumb_bytes']:,}-byte 320 × 240 thumbnail, as the photo pipeline makes them.",
        "",
        f"- date: {when}",
        f"- command: `{command}`",
        f"- machine: {machine()}; other engineers' work shares the cores",
        "",
        f"| step, median of {runs} | time |",
        "|---|---|",
        f"| `check_image` (structure walk, then a full decode) | {r['check_ms']:.1f} ms |",
        f"| encrypted store: write (a row of the encrypted photo index, committed) | {r['store_write_ms']:.1f} ms |",
        f"| encrypted store: read and verify the hash | {r['store_read_ms']:.1f} ms |",
        f"| `PUT /upload` on loopback (auth, rate, check, store) | {r['upload_ms']:.1f} ms |",
        f"| `GET /<sha256>.webp` on loopback | {r['get_ms']:.1f} ms |",
        "",
        f"| {post_count} posts, each a photo and its thumbnail | result |",
        "|---|---|",
        f"| travel: node B fetches them from node A's Blossom (hash, check, store) | {r['travel_fetched']} blobs,"
        f" {r['travel_bytes']:,} bytes in {r['travel_seconds']:.2f} s |",
        f"| `samizdat export` (version 2, thumbnails first) | {r['export_blobs']} blobs,"
        f" {r['export_bytes']:,} bytes"
        f" of bundle for {r['export_blob_bytes']:,} bytes of photos, {r['export_seconds']:.2f} s |",
        f"| `samizdat import` of that bundle on a third node (every photo checked) | {r['import_blobs']} blobs in"
        f" {r['import_seconds']:.2f} s |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smz-blobs-") as tmp:
        results = asyncio.run(run(args.runs, args.posts, Path(tmp)))
    command = "  ".join([".venv/bin/python bench/blobs.py", *sys.argv[1:]]).replace("  ", " ")
    lines = section(results, args.runs, args.posts, command)
    print("\n".join(lines))
    if not args.no_write:
        write_section(args.output, TITLE, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
