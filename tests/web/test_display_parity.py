"""The browser's display rules (web/src/display.js, trust.js, run under node) against the Python reference
(core/display.py, core/trust.py): neutralised text, isolated fields, look-alike words, name keys, fingerprints and
collisions must be the same in the web app as on the command line, character for character."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import orjson
import pytest

from samizdat.core import display
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.trust import collisions

WEB = Path(__file__).resolve().parents[2] / "web"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")

#: Every assigned code point of the scripts and symbol blocks the rules have tables for.
RANGES = [(0x0000, 0x058F), (0x0590, 0x08FF), (0x1100, 0x1200), (0x1700, 0x1900), (0x1C80, 0x1CBF),
          (0x1D00, 0x1FFF), (0x2000, 0x2BFF), (0x3000, 0x3200), (0xA640, 0xA7FF), (0xAB30, 0xAB6F),
          (0xFB00, 0xFFFF), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0x1F000, 0x1FAFF), (0xE0000, 0xE01EF)]  # fmt: skip

NAMES = [
    "Frunzenski district", "Фрунзенскі district", "Фрунзенский район", "Frunzensky", "FRUNZIENSKI", "Frunzenskі",
    "Hrodna", "Гродна", "Гомель", "Homiel", "Gomel", "Paxop", "Рахор", "Мінск", "Minsk", "Mińsk", "Łahojsk",
    "Лагойск", "Жодзіна", "Zhodzina", "Žodzina", "Шчучын", "Ščučyn", "Shchuchyn", "Ўзда", "Uzda", "Хойнікі",
    "Khoiniki", "Chojniki", "Маладзечна", "Maladziečna", "Molodechno", "ΑΘΗΝΑ", "Αθήνα", "Athina", "ΡΑΧΟΡ",
    "+375 \u202e29 123 45 67", "a\u2066b\u2069c", "x\u200by", "\u200f\u061cq", "👩\u200d👩\u200d👧", "a\u200db",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "x\U000e0067y", "1\ufe0f\u20e3", "e\ufe0f",
    "می\u200cخواهم", "क्\u200dष", "שלום עולם", "مرحبا", "Block 7 \u05d0", "\u3164\u3164", "🔥🔥", "", "  ",
    "line\u2028break", "tab\there\r\n", "ﬁne Ｆｕｌｌ 𝐁𝐨𝐥𝐝", "İstanbul", "ΟΔΟΣ", "straße", "rnodern", "0ld",
]  # fmt: skip


def texts() -> list[str]:
    out = list(NAMES)
    for low, high in RANGES:
        for cp in range(low, high + 1):
            ch = chr(cp)
            if unicodedata.category(ch) in ("Cn", "Cs", "Co"):
                continue  # unassigned here (the browser may know newer characters), surrogates, private use
            out += [f"a{ch}b", f"😀{ch}😀", f"ب{ch}ب", f"{ch}Z"]
    return out


def run_js(script: str, payload: dict[str, Any]) -> Any:
    done = subprocess.run(
        ["node", str(WEB / "test" / script)], input=orjson.dumps(payload), capture_output=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def channel(key: SecretKey, channel_id: str, name: str, place: str = "") -> Any:
    return parse_channel(build_channel_event(key, channel_id, name, created_at=1_700_000_000, place=place))


def test_text_is_shown_the_same_in_the_browser() -> None:
    sample = texts()
    pubkeys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(300)]
    owners = [SecretKey(bytes([i]) * 32) for i in range(1, 9)]
    trusted = [channel(owners[0], "frunzenski", "Frunzenski district", "BY/Minsk/Frunzenski"),
               channel(owners[1], "hrodna", "Гродна", "BY/Hrodna"),
               channel(owners[2], "athens", "ΑΘΗΝΑ")]  # fmt: skip
    others = [
        channel(owners[3], "frunzenski", "Фрунзенскі district", "BY/Minsk/Frunzenski"),  # spoken alike
        channel(owners[4], "news", "Frunzenski district news", "BY/Мінск/Фрунзенскі"),  # same place, name inside
        channel(owners[5], "hrodna", "Hrodna", "BY/Hrodna"),
        channel(owners[6], "paxop", "AΘHNA"),  # Latin look-alikes of the Greek capitals
        channel(owners[7], "yard", "Block 7 yard", "BY/Minsk/Frunzenski"),  # same place, another name
        channel(owners[0], "second", "Frunzenski district"),  # the same owner: never a collision
        *trusted,
    ]
    as_js = lambda c: {"address": c.address, "owner": c.owner, "name": c.name, "place": c.place}  # noqa: E731
    got = run_js("display_check.mjs", {
        "texts": sample, "pubkeys": pubkeys, "channels": [as_js(c) for c in others],
        "trusted": [as_js(c) for c in trusted],
    })  # fmt: skip

    mismatches = []
    for text, js in zip(sample, got["shown"], strict=True):
        py = [display.neutralize(text), display.field(text), display.isolate(text),
              list(display.mixed_script_words(text)), display.spoken_key(text), display.visual_key(text),
              sorted(display.name_keys(text))]  # fmt: skip
        js[6] = sorted(js[6])
        if py != js:
            mismatches.append((text, py, js))
    assert not mismatches, f"{len(mismatches)} differ, e.g. {mismatches[:3]!r}"
    assert got["fingerprints"] == [display.fingerprint(k) for k in pubkeys]
    expected = {a: list(v) for a, v in collisions(others, trusted).items()}
    assert got["collisions"] == expected
    assert set(expected) == {others[i].address for i in (0, 1, 2, 3)}
