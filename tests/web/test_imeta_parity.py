"""The photos a post names, read the same way by the node (core/imeta.py: what it fetches, keeps and deletes, and
``samizdat photo get``) and by the web app (web/src/imeta.js, run under node: what a reader sees): both must give
exactly the photos of each case in web/test/imeta_cases.json, the one file of cases they share. Before, the web app
showed up to 20 photos a post (the node reads 8), photos without a url, and hashes written in capitals, which the
node never fetched and deleted without counting them (red-team finding)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from samizdat.core.event import sign_event
from samizdat.core.imeta import photo_refs
from samizdat.core.keys import SecretKey

WEB = Path(__file__).resolve().parents[2] / "web"
CASES: list[dict[str, Any]] = json.loads((WEB / "test" / "imeta_cases.json").read_text("utf-8"))["cases"]
KEY = SecretKey(bytes([7]) * 32)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_node_reads_each_case(case: dict[str, Any]) -> None:
    event = sign_event(KEY, 2333, "", case["tags"], created_at=1_700_000_000)
    assert [asdict(ref) for ref in photo_refs(event)] == case["photos"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")
def test_the_web_app_reads_each_case() -> None:
    done = subprocess.run(["node", str(WEB / "test" / "imeta_check.mjs")], capture_output=True, timeout=60,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    for case, photos in zip(CASES, json.loads(done.stdout), strict=True):
        assert photos == case["photos"], case["name"]
