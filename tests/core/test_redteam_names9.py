"""Red team round 9, names and text that lie: the short names. Round 7 marked a copy named a letter away only in
words of 7 letters or more (``trust.MIN_NEAR``), since "Минск" and "Пинск" are two towns. A police copy of "Minsk"
named "Minks" (two letters swapped), of "Гродно" named "Гродо" (a letter dropped) or, in the real channel's own
place, of "Гомель" named "Гомиль" (a letter changed) passed unmarked, to a reader following the real one and to
one who follows nothing yet, and so did "Lidа news" (a Cyrillic а: a one-word name with a filler word was
never compared); so did a mirror URL with a zero-width space or a Cyrillic letter in its host, shown
as the real relay's. Both ports (core/trust.py and web/src/trust.js, core/display.py and web/src/display.js) judge
the same cases here, and the 401 real names of ``web/test/lookalike_cases.json`` stay unmarked
(tests/web/test_lookalike_parity.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from samizdat.core import display, trust
from samizdat.core.channel import Channel

WEB = Path(__file__).resolve().parents[2] / "web"

#: (trusted name, its place, the other key's name, its place, marked?, why)
CASES: list[tuple[str, str, str, str, bool, str]] = [
    ("Minsk", "", "Minks", "", True, "two neighbours swapped in 5 letters"),
    ("Минск", "BY/Minsk", "Мниск", "BY/Pinsk", True, "two neighbours swapped, another place"),
    ("Гродно", "", "Гродо", "", True, "a letter dropped in 6 letters"),
    ("Lida", "", "Liyda", "", True, "a letter added in 4 letters"),
    ("Lida news", "", "Lidda news", "", True, "a doubled letter: the same name"),
    ("Гомель", "BY/Homel", "Гомиль", "BY/Homel", True, "a letter changed, in the real channel's place"),
    ("Lida", "BY/Lida", "Liba", "BY/Lida", True, "a letter changed in 4 letters, the same place"),
    ("Гомель", "BY/Homel", "Гомиль", "BY/Minsk", False, "a letter changed in another place: as Минск and Пинск"),
    ("Минск", "BY/Minsk", "Пинск", "BY/Pinsk", False, "another town"),
    ("Кричев", "BY/Krichev", "Кличев", "BY/Klichev", False, "another town"),
    ("район", "", "района", "", False, "a grammatical ending: the last letter"),
    ("Lida", "", "Lid", "", False, "three letters: too short to tell"),
    ("Двор 12", "BY/Minsk", "Двор 13", "BY/Minsk", False, "another house number"),
    ("Мира 5", "BY/Minsk", "Мина 5", "BY/Minsk", False, "two streets a letter apart in one city: only a one-word name"),
    ("Гомель news", "BY/Homel", "Гомиль news", "BY/Homel", True, "a one-word name with the same filler"),
    ("Lida", "", "Lid\u0430 news", "", True, "a Cyrillic а and a filler word: mixed alphabets"),
    ("Минск", "", "Mинск новости", "", True, "a Latin M and a filler word"),
    ("Lida", "", "Lida news", "", False, "a filler word alone: every Lida channel would be marked"),
]


def _channel(name: str, place: str, owner: str) -> dict[str, str]:
    return {"address": f"30333:{owner}:c", "owner": owner, "name": name, "place": place, "about": f"{owner}: {name}"}


def _python_marked(case: tuple[str, str, str, str, bool, str]) -> list[bool]:
    """Whether the other is marked for a reader trusting the first, the first for one trusting the other, and
    each for a reader who trusts neither (lookalikes)."""
    trusted_name, trusted_place, other_name, other_place, _, _ = case
    a = cast(Channel, SimpleNamespace(**_channel(trusted_name, trusted_place, "1")))
    b = cast(Channel, SimpleNamespace(**_channel(other_name, other_place, "2")))
    both = trust.lookalikes([a, b])
    return [
        bool(trust.collisions([b], [a])),
        bool(trust.collisions([a], [b])),
        a.address in both,
        b.address in both,
    ]


@pytest.mark.parametrize("case", CASES, ids=[case[5] for case in CASES])
def test_a_short_name_a_letter_away_is_marked(case: tuple[str, str, str, str, bool, str]) -> None:
    assert _python_marked(case) == [case[4]] * 4, case[5]


URLS = [
    "wss://relay.samizdat.org",
    "wss://relay.samizdat\u200b.org",  # a zero-width space: another host, shown as the real one's
    "wss://r\u0435lay.samizdat.org",  # a Cyrillic е
    "wss://relay.\u202egro.tadzimas",  # an override: shown reversed
    "https://media.example/\U0001f600",
]


#: Names as the command line prints them: dozens of combining marks on a letter (Zalgo text) drew a column over
#: the "!! NOT THE CHANNEL YOU FOLLOW" line above the name; the web app's dom.js cut them since round 3.
ZALGO = [
    "Li" + "\u0336" * 40 + "da",
    "Гомель" + "\u0489" * 9,
    "Tiê\u0301ng Vi\u1ec7t",
    "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd",
]


def test_a_name_cannot_stack_marks_over_the_lines_around_it() -> None:
    shown = [display.field(name) for name in ZALGO]
    assert shown[0] == "Li" + "\u0336" * 4 + "da"
    assert shown[1] == "Гомель" + "\u0489" * 4
    assert shown[2] == ZALGO[2]  # Vietnamese: two marks at most
    assert shown[3] == display.FSI + ZALGO[3] + display.PDI  # pointed Hebrew, isolated


def test_a_url_shows_what_is_stored() -> None:
    shown = [display.url(u) for u in URLS]
    assert shown[0] == URLS[0]
    assert shown[1] == "wss://relay.samizdat\\u{200b}.org"
    assert shown[2] == "wss://r\\u{435}lay.samizdat.org"
    assert shown[3] == "wss://relay.\\u{202e}gro.tadzimas"
    assert shown[4] == "https://media.example/\\u{1f600}"
    assert len(set(shown)) == len(URLS)


CHECK = """
import { collisions, lookalikes } from './src/trust.js';
import { field, url } from './src/display.js';
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const { cases, urls, names } = JSON.parse(input);
  const ch = (name, place, owner) => ({ address: `30333:${owner}:c`, owner, name, place, about: `${owner}: ${name}` });
  const marked = cases.map(([tn, tp, on, op]) => {
    const a = ch(tn, tp, '1'), b = ch(on, op, '2'), both = lookalikes([a, b]);
    return [collisions([b], [a]).size > 0, collisions([a], [b]).size > 0, both.has(a.address), both.has(b.address)];
  });
  process.stdout.write(JSON.stringify({ marked, urls: urls.map(url), names: names.map(field) }));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")
def test_the_browser_judges_them_the_same() -> None:
    payload = json.dumps({"cases": CASES, "urls": URLS, "names": ZALGO}).encode()
    done = subprocess.run(
        ["node", "--input-type=module", "-e", CHECK], input=payload,
        capture_output=True, timeout=120, check=False, cwd=WEB,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    answer: dict[str, Any] = json.loads(done.stdout)
    assert answer["marked"] == [[case[4]] * 4 for case in CASES]
    assert answer["urls"] == [display.url(u) for u in URLS]
    assert answer["names"] == [display.field(name) for name in ZALGO]


def test_a_log_line_of_any_process_is_neutralised() -> None:
    """The command line's log lines and the relay worker processes' (samizdat/workers.py) are neutralised."""
    import logging

    from samizdat.core.display import ShownFormatter
    from samizdat.workers import log_handler

    record = logging.LogRecord("samizdat.mesh.discovery", logging.INFO, __file__, 1, "could not resolve %s", (
        "node\x1b]0;police\x07\x1b[2J\u202elacol.",), None)  # fmt: skip
    assert ShownFormatter("%(name)s: %(message)s").format(record) == (
        "samizdat.mesh.discovery: could not resolve node]0;police[2Jlacol."
    )
    assert (
        log_handler(1).format(record).endswith("samizdat.mesh.discovery[w1]: could not resolve node]0;police[2Jlacol.")
    )
