"""An admin whose key the police hold cannot retract or rewrite the posts of those who outrank them (the owner, the
other admins), still amends editors' and former admins' posts until removed, and loses that the moment readers
have the definition that removes them. Python (core/thread.py) and the browser (web/src/rules.js, run under
node) judge the same file of cases, web/test/amend-vectors.json (made by tests/core/turned_admin_cases.py)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from samizdat.core.channel import parse_channel
from samizdat.core.event import parse_event
from samizdat.core.thread import thread_view

_CASES = Path(__file__).with_name("turned_admin_cases.py")
_spec = importlib.util.spec_from_file_location("samizdat_turned_admin_cases", _CASES)
assert _spec is not None
assert _spec.loader is not None
tc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tc)
WEB = Path(__file__).resolve().parents[2] / "web"


def _from_file() -> list[dict[str, Any]]:
    return list(json.loads(tc.VECTORS.read_text(encoding="utf-8")))


def _python(case: dict[str, Any]) -> dict[str, Any]:
    """What a reader sees of the case's original post, as the web app's checker prints it."""
    view = thread_view(
        parse_event(case["original"]), [parse_event(e) for e in case["related"]],
        parse_channel(parse_event(case["definition"])), case["now"],
    )  # fmt: skip
    return {"status": str(view.verdict.status), "role": view.verdict.role, "retracted": view.retraction is not None,
            "location": view.fields.location}  # fmt: skip


def test_the_vectors_file_is_made_from_the_cases() -> None:
    assert [c["name"] for c in _from_file()] == [c["name"] for c in tc.cases()]


@pytest.mark.parametrize("case", _from_file(), ids=lambda c: c["name"])
def test_python_sees_what_the_vectors_say(case: dict[str, Any]) -> None:
    got = _python(case)
    expect = case["expect"]
    assert got["status"] == expect["status"]
    assert got["retracted"] == expect["retracted"]
    assert got["location"] == expect["location"]
    if "role" in expect:
        assert got["role"] == expect["role"]


def test_the_browser_sees_every_case_as_python() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is needed to run the browser's rules")
    done = subprocess.run(
        ["node", str(WEB / "test" / "amend_check.mjs"), str(tc.VECTORS)], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    got = json.loads(done.stdout)
    cases = _from_file()
    assert got == [_python(c) for c in cases]
    for case, seen in zip(cases, got, strict=True):
        assert seen["retracted"] == case["expect"]["retracted"], case["name"]
        assert seen["location"] == case["expect"]["location"], case["name"]
