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

from samizdat.core.channel import build_channel_event, current_channel, parse_channel
from samizdat.core.event import parse_event, sign_event
from samizdat.core.recovery import judge
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


def test_a_turned_admin_cannot_redefine_the_channel_nor_say_it_was_seized() -> None:
    """A definition the admin's key signs, with the channel's id, is another address: the name, admins, mirrors,
    media servers and recovery key readers use stay the owner's; and a "seizure claim" the admin's key signs,
    with a definition of its own as proof, moves nobody to the police's channel."""
    recovery = tc.SecretKey(bytes([70]) * 32)
    owners = build_channel_event(tc.OWNER, "yard", "Block 7 yard", created_at=tc.T, recovery=recovery.public_key_hex,
                                 admins={tc.TURNED.public_key_hex: "admin"}, mirrors=["wss://m.example"])  # fmt: skip
    police = build_channel_event(
        tc.TURNED, "yard", "Block 7 yard (new address)", created_at=tc.T + 100, mirrors=["wss://police.example"],
        media=["https://police.example"], recovery=tc.ADMIN.public_key_hex,
    )  # fmt: skip
    channel = current_channel([owners, police], tc.ADDRESS)
    assert channel is not None
    assert (channel.name, channel.mirrors, channel.media, channel.recovery) == (
        "Block 7 yard", ("wss://m.example",), (), recovery.public_key_hex,
    )  # fmt: skip
    assert dict(channel.admins) == {tc.TURNED.public_key_hex: "admin"}
    # The admin's own definition names a key the admin holds as its recovery key, and "claims" the owner's
    # channel with it: the proof is not the owner's, so no reader honours it.
    tags = [["a", tc.ADDRESS], ["type", "seized"], ["t", "seized"], ["since", str(tc.T)],
            ["successor", f"30333:{tc.TURNED.public_key_hex}:yard"], ["proof", police.to_json().decode()]]  # fmt: skip
    claim = sign_event(tc.ADMIN, 2333, "Our phone was taken", tags, created_at=tc.T + 200)
    judged = judge(tc.ADDRESS, [owners, police], [claim], recovery.public_key_hex)
    assert judged.channel is not None
    assert judged.channel.seized_since is None
    assert judged.channel.role_of(tc.OWNER.public_key_hex, tc.T + 300) == "owner"
