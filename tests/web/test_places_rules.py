"""Place names and place search without a browser: the ``place-name`` tags read the same by Python
(core/channel.py) and by the web app (rules.js, under node); every spelling of a place folds to one Latin
skeleton (translit.js); the gazetteer knows every district of Belarus in be, ru and en, and takes another
spelling of a district for its canonical path."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from samizdat.core import channel as ch
from samizdat.core import kinds
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import UsageError

WEB = Path(__file__).resolve().parents[2] / "web"
OWNER = SecretKey(bytes([1]) * 32)
T = 1_700_000_000

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the web app's code")


def run_js(payload: dict[str, Any]) -> Any:
    done = subprocess.run(
        ["node", str(WEB / "test" / "places_check.mjs")],
        input=orjson.dumps(payload), capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def definition(tags: list[list[str]], place: str = "BY/Minsk/Frunzenski") -> Any:
    return sign_event(OWNER, kinds.CHANNEL, "", [["d", "x"], ["name", "X"], ["place", place], *tags], created_at=T)


CASES = [
    # kept: each level of the place, each language, first name per level and language
    [["place-name", "BY", "be", "Беларусь"], ["place-name", "BY/Minsk", "be", "Мінск"],
     ["place-name", "BY/Minsk", "ru", "Минск"], ["place-name", "BY/Minsk", "be", "Second"]],
    # ignored: not a level of the place, a part of a part, a bad language, a bad name, too short a tag
    [["place-name", "BY/Hrodna", "be", "Гродна"], ["place-name", "BY/Min", "be", "x"],
     ["place-name", "BY/Minsk", "BEL", "x"], ["place-name", "BY/Minsk", "be", " padded"],
     ["place-name", "BY/Minsk", "be", "two\nlines"], ["place-name", "BY/Minsk", "be", "x" * 101],
     ["place-name", "BY/Minsk", "ru"], ["place-name", "BY/Minsk/Frunzenski", "en", "Frunzensky"]],
    # only the first 64 fitting tags count
    [["place-name", "BY/Minsk", f"{chr(97 + i // 26)}{chr(97 + i % 26)}", f"n{i}"] for i in range(70)],
]  # fmt: skip


def test_place_names_read_the_same_in_python_and_in_the_browser() -> None:
    events = [definition(tags) for tags in CASES]
    python = [{k: dict(v) for k, v in ch.parse_channel(e).place_names.items()} for e in events]
    assert python[0] == {"BY": {"be": "Беларусь"}, "BY/Minsk": {"be": "Мінск", "ru": "Минск"}}
    assert python[1] == {"BY/Minsk/Frunzenski": {"en": "Frunzensky"}}
    assert len(python[2]["BY/Minsk"]) == 64
    got = run_js({"events": [e.to_dict() for e in events], "words": [], "paths": []})
    assert got["names"] == python


def test_the_owner_writes_place_names_and_a_new_place_drops_the_old_ones() -> None:
    names = {"BY/Minsk": {"be": "Мінск"}, "BY/Minsk/Frunzenski": {"be": "Фрунзенскі"}}
    event = ch.build_channel_event(OWNER, "x", "X", created_at=T, place="BY/Minsk/Frunzenski", place_names=names)
    channel = ch.parse_channel(event)
    assert channel.place_names["BY/Minsk/Frunzenski"]["be"] == "Фрунзенскі"
    moved = ch.parse_channel(ch.rebuild_channel(OWNER, channel, created_at=T + 1, place="BY/Minsk/Savetski"))
    assert {k: dict(v) for k, v in moved.place_names.items()} == {"BY/Minsk": {"be": "Мінск"}}
    with pytest.raises(UsageError, match="not the place or a part of it"):
        ch.build_channel_event(OWNER, "x", "X", created_at=T, place="BY/Minsk", place_names={"BY/Hrodna": {"be": "x"}})
    with pytest.raises(UsageError, match="two-letter"):
        ch.build_channel_event(OWNER, "x", "X", created_at=T, place="BY/Minsk", place_names={"BY": {"bel": "x"}})


SAME = [
    ["Minsk", "Мінск", "Минск", "MINSK", "minsk "],
    ["Frunzenski", "Фрунзенскі", "Фрунзенский", "Frunzenskiy", "Frunzienski"],
    ["Kastrycnicki", "Kastryčnicki", "Кастрычніцкі", "Kastrychnitski", "Kastrychnitskiy"],
    ["Barysaw", "Барысаў", "Barysau"],
    ["Zhlobin", "Жлобін", "Жлобин", "Žlobin"],
]


def test_every_spelling_folds_to_one_skeleton_and_the_gazetteer_knows_the_rest() -> None:
    words = [w for group in SAME for w in group]
    paths = ["BY/Minsk/Oktyabrsky", "BY/Minsk/Кастрычніцкі", "BY/Minsk-Region/Борисов", "BY/Minsk/Frunzenski/Block 7"]
    got = run_js({"events": [], "words": words, "paths": paths})
    folds = iter(got["folds"])
    for group in SAME:
        keys = {next(folds) for _ in group}
        assert len(keys) == 1, (group, keys)
    assert got["canonical"] == ["BY/Minsk/Kastrychnitski", "BY/Minsk/Kastrychnitski", "BY/Minsk-Region/Barysaw",
                                "BY/Minsk/Frunzenski/Block 7"]  # fmt: skip
    assert got["trails"][0] == ["Беларусь › Мінск › Кастрычніцкі", "Беларусь › Минск › Октябрьский",
                                "Belarus › Minsk › Kastrychnitski"]  # fmt: skip
    assert got["trails"][3][1] == "Беларусь › Минск › Фрунзенский › Block 7"


def test_the_gazetteer_has_every_region_district_and_city_district() -> None:
    places = orjson.loads((WEB / "src" / "gazetteer-by.json").read_bytes())["places"]
    paths = [row[0] for row in places]
    assert len(paths) == len(set(paths))
    assert all(len(row) >= 4 and all(isinstance(v, str) and v for v in row) for row in places)
    regions = [p for p in paths if p.count("/") == 1 and p.endswith("-Region")]
    districts = [p for p in paths if p.count("/") == 2 and p.split("/")[1].endswith("-Region")]
    city_districts: dict[str, int] = {}
    for p in paths:
        if p.count("/") == 2 and not p.split("/")[1].endswith("-Region"):
            city_districts[p.split("/")[1]] = city_districts.get(p.split("/")[1], 0) + 1
    assert len(regions) == 6
    assert len(districts) == 118
    assert city_districts == {"Minsk": 9, "Brest": 2, "Vitsebsk": 3, "Homyel": 4, "Hrodna": 2, "Mahilyow": 2}
