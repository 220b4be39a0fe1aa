"""The dodges of a look-alike channel (red team round 4), one file of cases that the Python rule
(core/display.py, core/trust.py) and the browser's (web/src/display.js, trust.js, run under node) both run:
whether a reader could take one name for the other, and which channels a reader who trusts none of them is
warned of (``lookalikes``). "MИHCK" (Latin M, H, C) and "Fгunzensky" (a Cyrillic г) once passed for other names,
and a copy that took another name and no place but the real channel's description word for word was not marked.
Nor was "Фрунзеский район" (a letter dropped) or "Новости: Фрунзенский район" (a word added) to a reader following
"Фрунзенский район"; the real names of different places ("apart": Минск and Пинск, the Фрунзенский district and
the Фрунзенская metro station) must stay unmarked, by both rules."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest

from samizdat.core import trust
from samizdat.core.channel import Channel, build_channel_event, parse_channel
from samizdat.core.display import names_collide
from samizdat.core.keys import SecretKey

WEB = Path(__file__).resolve().parents[2] / "web"
FILE = json.loads((WEB / "test" / "lookalike_cases.json").read_text())
CASES, ALIKE, APART = FILE["pairs"], FILE["alike"], FILE["apart"]
OWNERS = [SecretKey(bytes([i]) * 32) for i in range(40, 45)]


ABOUT = "Новости Фрунзенского района. Дежурный юрист: +375 29 111 22 33"


def _channels() -> list[Any]:
    """Six channels: three of one town's name in three disguises, one of another town's, one of the first key's
    again (a channel never looks like its own owner's), and one named otherwise, with no place, whose description
    is the first's copied with other letters."""
    made = [
        (OWNERS[0], "a", "Минск news", "BY/Minsk", ABOUT), (OWNERS[1], "b", "MИHCK NEWS", "BY/Minsk", ""),
        (OWNERS[2], "c", "M\u200bинск news", "", ""), (OWNERS[3], "d", "Пинск news", "BY/Pinsk", "Пинск"),
        (OWNERS[0], "e", "Минск news", "BY/Minsk", "Минск"),
        (OWNERS[4], "f", "Новости района", "", ABOUT.upper().replace("О", "O")),
    ]  # fmt: skip
    return [parse_channel(build_channel_event(k, d, n, place=p, about=a, created_at=1)) for k, d, n, p, a in made]


@pytest.mark.parametrize(("a", "b", "same", "why"), CASES, ids=[case[3] for case in CASES])
def test_python_judges_each_pair(a: str, b: str, same: bool, why: str) -> None:
    assert names_collide(a, b) is same, why
    assert names_collide(b, a) is same, why


def test_a_reader_who_trusts_none_is_warned_of_each_look_alike() -> None:
    channels = _channels()
    found = trust.lookalikes(channels)
    first, caps, hidden, other, again, copy = (c.address for c in channels)
    assert set(found[first]) == {caps, hidden, copy}
    assert set(found[again]) == {caps, hidden}
    assert set(found[caps]) == {first, hidden, again}
    assert found[copy] == (first,)  # the description, not the name
    assert other not in found


def _named(name: str, owner: str) -> Channel:
    """A channel of ``name`` (no place, a description of its own), as ``lookalike_check.mjs`` makes them."""
    fields = {"address": f"30333:{owner}:c", "owner": owner, "name": name, "place": "", "about": f"{owner}: {name}"}
    return cast(Channel, SimpleNamespace(**fields))  # what collisions reads


def _marked(trusted: str, other: str) -> bool:
    return bool(trust.collisions([_named(other, "2")], [_named(trusted, "1")]))


@pytest.mark.parametrize(("trusted", "other", "marked", "why"), ALIKE, ids=[case[3] for case in ALIKE])
def test_a_name_one_letter_or_a_filler_word_away_is_marked(trusted: str, other: str, marked: bool, why: str) -> None:
    """A reader who follows ``trusted`` is warned of a channel named ``other`` by another key (and the other way
    round), whatever place and description it gives."""
    assert _marked(trusted, other) is marked, why
    assert _marked(other, trusted) is marked, why


def _apart_channels() -> list[Channel]:
    return [_named(name, f"{g:02d}{i:02d}") for g, group in enumerate(APART) for i, name in enumerate(group)]


def test_real_names_of_different_places_are_not_marked() -> None:
    """Two hundred places' names: a reader who trusts none of them is warned of no look-alike in another place
    (spellings of one place in Russian and Belarusian may be marked as each other's)."""
    channels = _apart_channels()
    place = {c.address: c.owner[:2] for c in channels}
    found = trust.lookalikes(channels)
    wrong = [
        (c.name, o.name) for c in channels for o in channels
        if o.address in found.get(c.address, ()) and place[o.address] != place[c.address]
    ]  # fmt: skip
    assert wrong == []


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")
def test_the_browser_judges_them_the_same() -> None:
    channels = _channels()
    payload = {
        "pairs": [case[:2] for case in CASES],
        "channels": [
            {"address": c.address, "owner": c.owner, "name": c.name, "place": c.place, "about": c.about}
            for c in channels
        ],
        "alike": [case[:2] for case in ALIKE],
    }
    done = subprocess.run(
        ["node", str(WEB / "test" / "lookalike_check.mjs")], input=orjson.dumps(payload), capture_output=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    answer = json.loads(done.stdout)
    assert answer["collide"] == [case[2] for case in CASES]
    assert answer["alike"] == [case[2] for case in ALIKE]
    assert answer["fillers"] == sorted(trust._FILLER_KEYS)  # the browser holds the keys of core/trust.py's words
    assert answer["abbreviations"] == trust._ABBREVIATION_KEYS
    expected = {address: list(others) for address, others in trust.lookalikes(channels).items()}
    assert answer["lookalikes"] == expected


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")
def test_the_browser_marks_no_real_names_of_different_places_either() -> None:
    channels = _apart_channels()
    payload = {"pairs": [], "channels": [vars(c) for c in channels]}
    done = subprocess.run(
        ["node", str(WEB / "test" / "lookalike_check.mjs")], input=orjson.dumps(payload), capture_output=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    found = json.loads(done.stdout)["lookalikes"]
    assert {a: list(o) for a, o in trust.lookalikes(channels).items()} == found
    assert all(a.split(":")[1][:2] == o.split(":")[1][:2] for a, others in found.items() for o in others)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")
def test_a_flood_of_channels_named_alike_is_compared_with_a_bounded_few_the_same_way() -> None:
    """Thousands of channels named alike would cost each face time in the square of their number: both compare
    each with the first few of each name, place and description, and still mark every one."""
    flood = [
        {"address": f"30333:{i:064x}:c", "owner": f"{i:064x}", "name": "Минск news", "place": "BY/Minsk",
         "about": ABOUT}
        for i in range(1, 3 * trust.LOOKALIKE_BUCKET)
    ]  # fmt: skip
    done = subprocess.run(
        ["node", str(WEB / "test" / "lookalike_check.mjs")], input=orjson.dumps({"pairs": [], "channels": flood}),
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    found = json.loads(done.stdout)["lookalikes"]
    assert len(found) == len(flood)  # every one is marked
    assert max(len(others) for others in found.values()) <= trust.LOOKALIKE_BUCKET
    python = trust.lookalikes([cast(Channel, SimpleNamespace(**c)) for c in flood])  # what collisions reads
    assert {address: list(others) for address, others in python.items()} == found
