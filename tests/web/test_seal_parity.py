"""Sealed bundles, made and opened the same way by the node (core/bundle_seal.py: ``samizdat export --seal`` and
``import``) and by the web app (web/src/bundle_seal.js, run under node: "Pass posts on" on a phone): both must give
exactly the bytes and the pieces of each case in web/test/seal_cases.json, the one file of vectors they share, so a
stick sealed by either opens on the other."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from samizdat.core.bundle_seal import Lost, OpeningReader, seal
from samizdat.errors import BundleError

WEB = Path(__file__).resolve().parents[2] / "web"
CASES: list[dict[str, Any]] = json.loads((WEB / "test" / "seal_cases.json").read_text("utf-8"))["cases"]


def _opened(case: dict[str, Any]) -> dict[str, Any]:
    data = bytearray.fromhex(case["sealed"])
    for at in case["damage"]:
        data[at] ^= 1
    if case["cut"] is not None:
        del data[case["cut"] :]
    reader = OpeningReader(case["open_with"])
    try:
        items = [item for at in range(0, len(data), 1000) for item in reader.feed(bytes(data[at : at + 1000]))]
        items += reader.close()
    except BundleError as exc:
        return {"error": str(exc)}
    return {"pieces": [{"lost": i.index} if isinstance(i, Lost) else {"data": i.hex()} for i in items]}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_node_seals_and_opens_each_case(case: dict[str, Any]) -> None:
    assert seal(bytes.fromhex(case["plain"]), case["passphrase"], bytes.fromhex(case["salt"])).hex() == case["sealed"]
    expected = {"error": case["error"]} if "error" in case else {"pieces": case["pieces"]}
    assert _opened(case) == expected


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's code")
def test_the_web_app_seals_and_opens_each_case() -> None:
    done = subprocess.run(["node", str(WEB / "test" / "seal_check.mjs")], capture_output=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    for case, result in zip(CASES, json.loads(done.stdout), strict=True):
        assert result["sealed"] == case["sealed"], case["name"]
        assert result.get("pieces") == case.get("pieces"), case["name"]
        assert result.get("error") == case.get("error"), case["name"]
