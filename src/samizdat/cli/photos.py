"""Photos on the command line: ``samizdat post --photo FILE`` prepares each file here, before anything is sent
(:mod:`samizdat.services.photos`: metadata gone, faces blurred, WebP within 200 KB); ``samizdat photo get`` saves
one photo of a post to a file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, run, with_node
from samizdat.cli.render import size_text
from samizdat.core.display import field
from samizdat.core.imeta import MAX_PHOTOS
from samizdat.errors import UsageError
from samizdat.services import photo_posts
from samizdat.services.context import Context
from samizdat.services.photo_posts import Attachment
from samizdat.services.photos import MAX_INPUT_BYTES, PhotoError, Region, prepare_photo

NO_BLUR_NOTE = (
    "note: faces are NOT blurred in these photos (--no-blur): anyone shown can be recognised by whoever sees the post"
)


def parse_region(text: str, photos: int) -> tuple[int, Region]:
    """``N:X,Y,W,H`` (photo number from 1; left, top, width, height as fractions of the upright picture) as the
    photo's index and the region. UsageError for anything else."""
    number, _, box = text.partition(":")
    try:
        index = int(number) - 1
        x, y, w, h = (float(v) for v in box.split(","))
    except ValueError:
        raise UsageError(
            f"--blur-region {text!r}: give N:X,Y,W,H, e.g. 1:0.5,0.2,0.1,0.1 (photo 1; fractions of its size)"
        ) from None
    if not 0 <= index < photos:
        raise UsageError(f"--blur-region {text!r}: there is no photo {number.strip()} (photos are numbered from 1)")
    return index, (x, y, w, h)


def prepare_files(
    paths: Sequence[Path], alts: Sequence[str], *, blur_faces: bool, regions: Sequence[str] = ()
) -> list[Attachment]:
    """Read and prepare each photo file, with the ``--alt`` texts in order and the ``--blur-region`` boxes of each.
    UsageError (naming the file) for a file that cannot be read or used; nothing is stored or sent until every
    photo is ready."""
    if len(alts) > len(paths):
        raise UsageError(f"{len(alts)} --alt texts for {len(paths)} --photo file(s): give one --alt per photo")
    if len(paths) > MAX_PHOTOS:
        raise UsageError(f"a post carries at most {MAX_PHOTOS} photos ({len(paths)} given)")
    boxes: list[list[Region]] = [[] for _ in paths]
    for text in regions:
        index, box = parse_region(text, len(paths))
        boxes[index].append(box)
    attachments = []
    for number, path in enumerate(paths):
        data = _read(path)
        try:
            photo = prepare_photo(data, blur_faces=blur_faces, regions=boxes[number])
        except PhotoError as exc:
            raise UsageError(f"{path.name}: {exc}") from exc
        attachments.append(Attachment(photo, alts[number].strip() if number < len(alts) else ""))
    if not blur_faces and paths:
        typer.echo(NO_BLUR_NOTE, err=True)
    return attachments


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            if os.fstat(file.fileno()).st_size > MAX_INPUT_BYTES:
                raise UsageError(f"{path.name}: the photo file is too big (at most 40 MB)")
            return file.read(MAX_INPUT_BYTES + 1)
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a photo file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def attachments_json(attachments: Sequence[Attachment], *, face_blur: bool) -> list[dict[str, Any]]:
    return [
        {
            "sha256": photo_posts.photo_ref(a, None).sha256,
            "size": len(a.photo.full),
            "width": a.photo.width,
            "height": a.photo.height,
            "thumb_size": len(a.photo.thumb),
            "face_blur": face_blur,
            "faces_blurred": a.photo.faces,
            "alt": a.alt,
        }
        for a in attachments
    ]


def photos_text(photos: Sequence[dict[str, Any]]) -> list[str]:
    """One line per photo of a post just published."""
    lines = []
    for number, photo in enumerate(photos, 1):
        faces = photo["faces_blurred"]
        if not photo.get("face_blur", True):
            blurred = ", faces not blurred"
        elif faces:
            blurred = f", {faces} face(s) blurred"
        else:
            blurred = ", no face found (the detector misses some: see docs/safety.md)"
        alt = f" - {photo['alt']}" if photo["alt"] else " (no description: add --alt next time)"
        lines.append(
            f"Photo {number}: {size_text(photo['size'])}, {photo['width']}x{photo['height']}{blurred}, "
            f"{photo['sha256'][:12]}{alt}"
        )
    return lines


def register(app: typer.Typer) -> None:
    photo_app = typer.Typer(help="Photos of posts: save one to a file.", no_args_is_help=True)
    app.add_typer(photo_app, name="photo")

    @photo_app.command("get")
    def photo_get(
        ident: str = typer.Argument(
            ...,
            metavar="PHOTO",
            help="The photo: <post>:<n> (post id, 8+ characters, or nevent; n from 1) or its SHA-256.",
        ),
        output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to save it (WebP)."),
        thumb: bool = typer.Option(False, "--thumb", help="Save the small thumbnail instead of the full photo."),
        as_json: bool = JsonOption,
    ) -> None:
        """Save a photo of a post to FILE, from this node's store, or fetched from the servers that have it."""
        if output.is_dir():
            raise UsageError(f"{output} is a folder: give a file name, e.g. {output / 'photo.webp'}")

        async def action(ctx: Context) -> dict[str, Any]:
            found = await photo_posts.find_photo(ctx, ident, thumb=thumb)
            data, fetched = await photo_posts.photo_bytes(ctx, found)
            return {
                "sha256": found.sha256,
                "size": len(data),
                "fetched": fetched,
                "alt": found.ref.alt if found.ref else "",
                "data": data,
            }

        result = run(with_node(action))
        data = result.pop("data")
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        result["file"] = str(output)
        emit(result, as_json, _saved_text)


def _saved_text(d: dict[str, Any]) -> str:
    where = "fetched and saved" if d["fetched"] else "saved"
    alt = f"\n{field(d['alt'])}" if d["alt"] else ""
    return f"Photo {d['sha256'][:12]} ({size_text(d['size'])}) {where} to {d['file']}{alt}"
