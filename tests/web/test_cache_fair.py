"""The phone's offline cache keeps a fair share per author (web/src/cache.js ``keepFair``): a flood of newer posts
by one key (an admin's, seized) leaves the owner's alerts and every other author's newest posts on the phone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
VECTORS = WEB / "test" / "cache-vectors.json"


def test_a_full_cache_keeps_every_authors_newest_and_the_owners_alerts() -> None:
    if shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is needed to run the web app's cache rule")
        pytest.skip("node is needed to run the web app's cache rule")
    done = subprocess.run(
        ["node", str(WEB / "test" / "cache_check.mjs"), str(VECTORS)], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    cases = json.loads(VECTORS.read_text())
    for case, kept in zip(cases, json.loads(done.stdout), strict=True):
        assert sorted(kept) == sorted(case["kept"]), case["name"]
