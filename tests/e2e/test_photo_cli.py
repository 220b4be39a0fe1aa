"""``samizdat post --photo``, ``samizdat feed`` and ``samizdat photo get`` as a person uses them: what the node
stores for a photo carries pixels only, with faces blurred unless ``--no-blur``; a file that cannot be used is
refused in one line and nothing is posted.

One data directory (a channel of its own) serves the whole module; each test posts to it and reads back through
``samizdat photo get``, which reads the node's encrypted blob store.
"""

from __future__ import annotations

import hashlib
import io
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

import photo_samples as samples

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

FACE = (190, 85, 265, 160)  # the astronaut's eyes, nose and mouth (left, top, right, bottom)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, cli_for: Callable[[Path], Cli]) -> Cli:
    cli = cli_for(tmp_path_factory.mktemp("photos") / "home")
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District news")
    return cli


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    made = {
        "astronaut.jpg": samples.loaded_jpeg(samples.astronaut(), icc=False),
        "coffee.png": samples.loaded_png(samples.with_red_patch(samples.coffee())),
        "table.heic": samples.heic(samples.coffee()),
        "bomb.png": samples.bomb_png(),
        "truncated.jpg": samples.truncated_jpeg(samples.astronaut()),
        "page.jpg": b"<html><body><script>alert(document.cookie)</script></body></html>",
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in made}


def feed(node: Cli) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = node.json("feed", "district")
    return items


def saved(node: Cli, ident: str, target: Path, *extra: str) -> bytes:
    node.ok("photo", "get", ident, "-o", str(target), *extra)
    return target.read_bytes()


def test_a_photo_post_stores_clean_photos_with_faces_blurred(node: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    posted = node.json(
        "post", "district", "Vans at the corner", "--photo", str(files["astronaut.jpg"]),
        "--alt", "A person in a space suit", "--photo", str(files["coffee.png"]), "--alt", "A cup of coffee",
    )  # fmt: skip
    post_id = posted["ids"][0]
    assert [p["alt"] for p in posted["photos"]] == ["A person in a space suit", "A cup of coffee"]
    assert posted["photos"][0]["faces_blurred"] >= 1

    item = next(i for i in feed(node) if i["id"] == post_id)
    photos = item["photos"]
    assert [p["alt"] for p in photos] == ["A person in a space suit", "A cup of coffee"]
    assert [p["sha256"] for p in photos] == [p["sha256"] for p in posted["photos"]]

    text = node.ok("feed", "district").out
    assert f"photo 1 ({round(photos[0]['size'] / 1024)} KB, 512x512; samizdat photo get {post_id[:12]}:1)" in text
    assert "A cup of coffee" in text

    for number, photo in enumerate(photos, 1):
        # by post and number, and by hash
        data = saved(node, f"{post_id}:{number}" if number == 1 else photo["sha256"], tmp_path / f"{number}.webp")
        assert hashlib.sha256(data).hexdigest() == photo["sha256"]
        assert len(data) == photo["size"] <= 200 * 1024
        assert samples.metadata_in(data) == []
    thumb = saved(node, f"{post_id[:10]}:1", tmp_path / "thumb.webp", "--thumb")
    assert hashlib.sha256(thumb).hexdigest() == photos[0]["thumb_sha256"]
    assert samples.metadata_in(thumb) == []
    assert len(thumb) <= 12 * 1024
    assert max(Image.open(io.BytesIO(thumb)).size) == 320

    stored = Image.open(tmp_path / "1.webp")
    before = samples.region_variance(samples.astronaut(), FACE)
    assert samples.region_variance(stored, FACE) < before * 0.1
    # the coffee's profile was applied (its red is sRGB's green), then dropped
    coffee = Image.open(tmp_path / "2.webp").convert("RGB")
    r, g, b = coffee.getpixel((6, coffee.height - 6))  # type: ignore[misc]
    assert g > 200
    assert max(r, b) < 60


def test_no_blur_keeps_faces_and_says_so(node: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    """``--no-blur`` keeps the face (with a warning); a ``--blur-region`` the author gives is still blurred."""
    result = node.ok(
        "post", "district", "Speaker at the rally", "--photo", str(files["astronaut.jpg"]), "--no-blur",
        "--blur-region", "1:0,0.6,0.5,0.4",
    )  # fmt: skip
    assert "faces are NOT blurred" in result.err
    post_id = result.out.split()[1]
    data = saved(node, f"{post_id}:1", tmp_path / "face.webp")
    assert samples.metadata_in(data) == []
    before = samples.region_variance(samples.astronaut(), FACE)
    stored = Image.open(io.BytesIO(data))
    assert samples.region_variance(stored, FACE) == pytest.approx(before, rel=0.25)
    badge = (20, 320, 236, 500)  # inside the region asked for: the suit's badge
    assert samples.region_variance(stored, badge) < samples.region_variance(samples.astronaut(), badge) * 0.2


def test_an_iphone_heic_is_posted_as_webp(node: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    posted = node.json("post", "district", "Table", "--photo", str(files["table.heic"]), "--alt", "A table")
    data = saved(node, f"{posted['ids'][0]}:1", tmp_path / "table.webp")
    assert Image.open(io.BytesIO(data)).format == "WEBP"
    assert Image.open(io.BytesIO(data)).size == samples.coffee().size
    assert samples.metadata_in(data) == []


BAD_FILES = {
    "bomb.png": "too large to decode safely",
    "truncated.jpg": "damaged or truncated",
    "page.jpg": "not an image",
}


def test_unusable_files_are_refused_in_one_line_and_nothing_is_posted(node: Cli, files: dict[str, Path]) -> None:
    def attempt(name: str) -> tuple[str, str]:
        result = node.fails("post", "district", "Should not appear", "--photo", str(files[name]), "--alt", "x")
        return name, result.error_lines[0]

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(pool.map(attempt, BAD_FILES))
    for name, says in BAD_FILES.items():
        assert says in outcomes[name], outcomes[name]
    assert not [item for item in feed(node) if item["text"] == "Should not appear"]


def test_photo_get_names_what_is_wrong(node: Cli, tmp_path: Path) -> None:
    plain = node.json("post", "district", "Text only")["ids"][0]
    target = str(tmp_path / "x.webp")
    assert "has no photos" in node.fails("photo", "get", f"{plain}:1", "-o", target).error_lines[0]
    unknown = "ab" * 32
    assert "does not have photo" in node.fails("photo", "get", unknown, "-o", target).error_lines[0]
    assert not Path(target).exists()


def test_a_bundle_carries_the_clean_photo_only(
    node: Cli, files: dict[str, Path], tmp_path: Path, cli_for: Callable[[Path], Cli]
) -> None:
    """What another node receives (here through a bundle file) is the stored photo: same bytes, nothing more."""
    posted = node.json("post", "district", "Cordon", "--photo", str(files["astronaut.jpg"]), "--alt", "Cordon")
    post_id, photo = posted["ids"][0], posted["photos"][0]
    bundle = tmp_path / "district.bundle"
    node.ok("export", "-o", str(bundle), "--channel", "district")
    for secret in samples.SECRETS:
        assert secret.encode() not in bundle.read_bytes()
    other = cli_for(tmp_path / "other")
    other.ok("init")
    other.ok("import", str(bundle))
    data = saved(other, f"{post_id}:1", tmp_path / "received.webp")
    assert hashlib.sha256(data).hexdigest() == photo["sha256"]
    assert samples.metadata_in(data) == []
    assert (
        samples.region_variance(Image.open(io.BytesIO(data)), FACE)
        < samples.region_variance(samples.astronaut(), FACE) * 0.1
    )


def test_a_photo_posted_while_the_node_serves_is_served_at_once(
    node: Cli, files: dict[str, Path], serve: Callable[..., ServeProcess]
) -> None:
    """The command stores the photo in the data directory that ``serve`` uses: the node serves it over Blossom
    at once, as the same bytes, never as something a browser could run."""
    running = serve(node.home)
    posted = node.json("post", "district", "Cordon", "--photo", str(files["coffee.png"]), "--alt", "Cup")
    photo = posted["photos"][0]
    url = f"http://127.0.0.1:{running.port}/{photo['sha256']}.webp"
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = answer.read()
        headers = {k.lower(): v for k, v in answer.headers.items()}
    assert hashlib.sha256(body).hexdigest() == photo["sha256"]
    assert headers["content-type"] == "image/webp"
    assert headers["x-content-type-options"] == "nosniff"
    assert samples.metadata_in(body) == []
