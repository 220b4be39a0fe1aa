"""A channel whose owner key was seized is judged alike by Python (core/recovery.py) and the browser
(web/src/recovery.js, run under node): the same file of cases (web/test/recovery-vectors.json, made by
tests/core/recovery_cases.py), the same answers: whether the channel is readable, since when the owner key counts no
more, where it continues, which recovery key a node remembers (for a new reader: the one its trusted verifiers'
vouches name), and which of its posts count with which role."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from samizdat.core.event import parse_event
from samizdat.core.recovery import judge
from samizdat.core.thread import post_verdict
from samizdat.core.trust import witnesses

WEB = Path(__file__).resolve().parents[2] / "web"
VECTORS = WEB / "test" / "recovery-vectors.json"


def _python() -> list[dict[str, object]]:
    out = []
    for case in json.loads(VECTORS.read_text(encoding="utf-8")):
        definitions = [parse_event(e) for e in case["definitions"]]
        claims = [parse_event(e) for e in case["claims"]]
        vouches = witnesses([parse_event(e) for e in case["vouches"]], case["verifiers"], case["now"])
        judgement = judge(case["address"], definitions, claims, case["remembered"], vouches.get(case["address"], []))
        channel = judgement.channel
        posts = [parse_event(e) for e in case["posts"]]
        verdicts = [post_verdict(p, channel, case["now"]) for p in posts] if channel else []
        out.append({
            "readable": channel is not None, "seized_since": channel.seized_since if channel else None,
            "successor": channel.successor if channel else "", "remember": judgement.remember,
            "name": channel.name if channel else None, "posts": [[v.ok, v.role] for v in verdicts],
            "disputes": [[d.key, list(d.verifiers), d.successor] for d in channel.recovery_disputes] if channel else [],
        })  # fmt: skip
    return out


def test_python_gives_the_vectors_answers() -> None:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))
    for case, got in zip(cases, _python(), strict=True):
        expect = case["expect"]
        assert got["seized_since"] == expect["seized_since"], case["name"]
        assert got["successor"] == expect["successor"], case["name"]
        assert got["remember"] == expect["remember"], case["name"]
        assert got["posts"] == expect["posts"], case["name"]
        assert got["disputes"] == expect["disputes"], case["name"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")
def test_the_browser_judges_every_case_as_python() -> None:
    done = subprocess.run(
        ["node", str(WEB / "test" / "recovery_check.mjs"), str(VECTORS)], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == _python()
