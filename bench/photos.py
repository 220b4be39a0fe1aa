"""Photos (issue 13): a 12-megapixel phone JPEG to a stored WebP, metadata stripped and faces blurred.

    .venv/bin/python bench/photos.py              # 9 runs of each; writes docs/benchmarks.md
    .venv/bin/python bench/photos.py --runs 3 --no-write

A phone-like JPEG is made first (4000 x 3000: scikit-image's astronaut upscaled onto a wall, with sensor-like
noise, quality 92, EXIF with make, model, serial number, maker note and GPS position, an embedded thumbnail, XMP).
Then, interleaved so that other load on the machine falls on both alike, ``prepare_photo`` with face blurring (the
default) and without (``--no-blur``), each followed by storing the full image and its thumbnail in a real node's
encrypted blob store (``services.blobs.store_blob``, which checks each blob again). The figure for the goal is
the whole path, with blurring: bytes of the JPEG in, WebP stored. One run of each is also split into its stages.

Writes the ``## Photos (issue 13)`` section of docs/benchmarks.md (every other section is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import piexif
from PIL import Image
from report import machine, write_section
from skimage import data as skdata

from samizdat.services import blobs, photos
from samizdat.testing import test_node

ROOT = Path(__file__).resolve().parent.parent
TITLE = "## Photos (issue 13)"
GOAL = 1.5  # seconds, a 12-megapixel JPEG to a stored WebP with faces blurred


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def phone_jpeg(width: int = 4000, height: int = 3000) -> bytes:
    person = Image.fromarray(skdata.astronaut()).resize((height, height), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (width, height), (96, 104, 112))
    canvas.paste(person, ((width - height) // 2, 0))
    noise = np.random.default_rng(7).integers(-10, 11, (height, width, 3), dtype=np.int16)
    picture = Image.fromarray((np.asarray(canvas, dtype=np.int16) + noise).clip(0, 255).astype(np.uint8))
    thumb = io.BytesIO()
    picture.resize((160, 120)).save(thumb, "JPEG", quality=70)
    exif = piexif.dump(
        {
            "0th": {piexif.ImageIFD.Make: b"Phone Maker", piexif.ImageIFD.Model: b"Phone 15",
                    piexif.ImageIFD.Orientation: 1},
            "Exif": {piexif.ExifIFD.BodySerialNumber: b"SN-000123", piexif.ExifIFD.MakerNote: b"maker" * 200},
            "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((52, 1), (30, 1), (5940, 100)),
                    piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((13, 1), (22, 1), (4740, 100))},
            "1st": {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0},
            "thumbnail": thumb.getvalue(),
        }
    )  # fmt: skip
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=92, exif=exif, xmp=xmp)
    return out.getvalue()


def heic_of(jpeg: bytes) -> bytes:
    """The same picture as an iPhone would save it: HEIC, with its EXIF."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(io.BytesIO(jpeg)) as picture:
        out = io.BytesIO()
        picture.save(out, "HEIF", quality=80, exif=picture.info.get("exif", b""))
    return out.getvalue()


def stages(jpeg: bytes) -> dict[str, float]:
    """One run split into its stages (the same calls prepare_photo makes)."""
    marks: dict[str, float] = {}
    start = time.perf_counter()
    image = photos._load(jpeg)
    marks["decode, orient, sRGB, scale to 1600"] = time.perf_counter() - start
    start = time.perf_counter()
    found = photos.find_faces(image)
    marks["find faces"] = time.perf_counter() - start
    start = time.perf_counter()
    blurred, _ = photos._blurred(image, blur_faces=False, regions=[photos._widened(f, photos._MARGIN) for f in found])
    marks["blur faces"] = time.perf_counter() - start
    start = time.perf_counter()
    photos._encode(blurred, photos.TARGET_BYTES, photos._QUALITIES)
    marks["WebP within 200 KB"] = time.perf_counter() - start
    start = time.perf_counter()
    thumb = photos._fit(blurred, photos.THUMB_SIDE)
    photos._encode(thumb, photos.THUMB_BYTES, photos._THUMB_QUALITIES)
    marks["thumbnail within 12 KB"] = time.perf_counter() - start
    start = time.perf_counter()
    photos._blurhash(thumb)
    marks["blurhash"] = time.perf_counter() - start
    return marks


async def measure(jpeg: bytes, runs: int, work: Path) -> dict[str, Any]:
    results: dict[str, list[float]] = {
        "blur": [], "blur+store": [], "no-blur": [], "no-blur+store": [], "blur+store cpu": [], "no-blur+store cpu": []
    }  # fmt: skip
    last: dict[str, photos.PreparedPhoto] = {}
    photos.prepare_photo(jpeg)  # warm-up: loads OpenCV and the cascades, as the first photo of a command does
    async with test_node(work / "node") as node:
        for run in range(runs):
            for blur in (True, False) if run % 2 == 0 else (False, True):
                name = "blur" if blur else "no-blur"
                start, cpu = time.perf_counter(), time.process_time()
                prepared = photos.prepare_photo(jpeg, blur_faces=blur)
                prepared_at = time.perf_counter()
                await blobs.store_blob(node.ctx, prepared.full, prepared.mime, owner=node.ctx.pubkey, thumb=False)
                await blobs.store_blob(node.ctx, prepared.thumb, prepared.mime, owner=node.ctx.pubkey, thumb=True)
                stored_at, cpu_used = time.perf_counter(), time.process_time() - cpu
                results[name].append(prepared_at - start)
                results[f"{name}+store"].append(stored_at - start)
                results[f"{name}+store cpu"].append(cpu_used)
                last[name] = prepared
                took = f"prepared {prepared_at - start:.3f} s, stored {stored_at - start:.3f} s, CPU {cpu_used:.3f} s"
                log(f"run {run + 1}/{runs} {name}: {took}")
    split = stages(jpeg)
    heic = heic_of(jpeg)
    for _ in range(max(3, runs // 3)):
        start, cpu = time.perf_counter(), time.process_time()
        photos.prepare_photo(heic)
        results.setdefault("heic", []).append(time.perf_counter() - start)
        results.setdefault("heic cpu", []).append(time.process_time() - cpu)
    return {
        "runs": results,
        "stages": split,
        "full_bytes": len(last["blur"].full),
        "thumb_bytes": len(last["blur"].thumb),
        "size": (last["blur"].width, last["blur"].height),
        "faces": last["blur"].faces,
    }


def _row(name: str, values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return (
        f"| {name} | {statistics.median(values):.3f} s | {q[0]:.3f}-{q[2]:.3f} s | "
        f"{min(values):.3f}-{max(values):.3f} s |"
    )


def section(result: dict[str, Any], jpeg_bytes: int, loads: tuple[str, str], runs: int) -> list[str]:
    import cv2
    import PIL

    r = result["runs"]
    goal = statistics.median(r["blur+store"])
    cpu = statistics.median(r["blur+store cpu"])
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        TITLE,
        "",
        "`bench/photos.py`: a phone-like 12-megapixel JPEG (4000 x 3000, the astronaut upscaled onto a wall with "
        f"sensor-like noise, quality 92, {jpeg_bytes / 1e6:.1f} MB, EXIF with serial number, maker note and GPS, an "
        "embedded thumbnail, XMP) through `services.photos.prepare_photo` (decoded at half scale, oriented, sRGB, "
        "a fresh image of its pixels, faces found and blurred, WebP within 200 KB, 320 px thumbnail within 12 KB, "
        "blurhash), then the full image and the thumbnail stored in a real node's encrypted blob store "
        "(`services.blobs.store_blob`, which checks each again). With and without face blurring, interleaved; "
        "one process, after one warm-up run (the first photo of a command also loads OpenCV, about 0.2 s).",
        "",
        f"- date: {now}",
        "- command: `.venv/bin/python bench/photos.py`",
        f"- machine: {machine()}; other engineers' work shares the cores (load average {loads[0]} before, "
        f"{loads[1]} after)",
        f"- libraries: Pillow {PIL.__version__}, OpenCV {cv2.__version__}; {runs} runs of each",
        f"- output: {result['size'][0]} x {result['size'][1]} WebP of {result['full_bytes'] / 1024:.0f} KB, "
        f"thumbnail {result['thumb_bytes'] / 1024:.1f} KB, {result['faces']} face(s) blurred",
        "",
        "| 12 MP JPEG to WebP | median | p25-p75 | min-max |",
        "|---|---|---|---|",
        _row("prepared, faces blurred", r["blur"]),
        _row("prepared and stored, faces blurred", r["blur+store"]),
        _row("prepared, `--no-blur`", r["no-blur"]),
        _row("prepared and stored, `--no-blur`", r["no-blur+store"]),
        _row("CPU time of the process, prepared and stored, faces blurred", r["blur+store cpu"]),
        _row("CPU time of the process, prepared and stored, `--no-blur`", r["no-blur+store cpu"]),
        _row("the same picture as a 12 MP HEIC (iPhone), prepared, faces blurred", r["heic"]),
        _row("CPU time of the process, HEIC prepared, faces blurred", r["heic cpu"]),
        "",
        "| goal | measured | target | meets |",
        "|---|---|---|---|",
        f"| 12 MP phone JPEG to a stored WebP, stripped, faces blurred (median) | {goal:.2f} s | ≤ {GOAL} s | "
        f"{'yes' if goal <= GOAL else 'no'} |",
        f"| the same, CPU time of the process (median) | {cpu:.2f} s | ≤ {GOAL} s | {'yes' if cpu <= GOAL else 'no'} |",
        "",
        "CPU time is what the run costs whatever else shares the machine (OpenCV runs on one thread: "
        "services/photos.py says why); the wall-clock figures rise with the machine's load.",
        "",
        "One run split into its stages: "
        + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in result["stages"].items())
        + ". Face finding is most of the cost: the frontal cascade on a 640 px copy and the profile cascade, both "
        "ways, on a 480 px copy. The JPEG is decoded at half scale (2000 x 1500, the smallest DCT scale that "
        "still gives 1600 px), so decoding and scaling down work on a quarter of the pixels.",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="runs with and without face blurring")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    log("making a 12-megapixel phone JPEG ...")
    jpeg = phone_jpeg()
    before = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="smz-photos-") as tmp:
        result = asyncio.run(measure(jpeg, args.runs, Path(tmp)))
    after = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = section(result, len(jpeg), (before, after), args.runs)
    print("\n".join(lines))
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", TITLE, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
