"""A run of one author's posts past the third folds into "+ N more posts by the same author" the same way on the
channel's page (web/src/rules.js ``fold``) and in ``samizdat feed`` (services/feed.py ``fold_runs``): the cases
of web/test/fold-vectors.json, run by both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from samizdat.cli.channels import FOLD
from samizdat.core import kinds
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.services.feed import FeedItem, fold_runs

WEB = Path(__file__).resolve().parents[2] / "web"
VECTORS = WEB / "test" / "fold-vectors.json"


def _python(authors: str) -> list[str]:
    keys = {a: SecretKey(bytes([ord(a)]) * 32) for a in set(authors) - {"-"}}
    items = [
        FeedItem(
            cast(Any, None), 0, original=None if a == "-" else sign_event(keys[a], kinds.POST, "", [], created_at=0)
        )
        for a in authors
    ]
    names = {key.public_key_hex: a for a, key in keys.items()}
    shown: list[str] = []
    for item in fold_runs(items, FOLD):
        shown.append("-" if item.original is None else names[item.original.pubkey])
        if item.more:
            shown.append(f"+{item.more}")
    return shown


def test_the_page_and_the_command_line_fold_alike() -> None:
    if shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is needed to run the web app's rules")
        pytest.skip("node is needed to run the web app's rules")
    done = subprocess.run(
        ["node", str(WEB / "test" / "fold_check.mjs"), str(VECTORS)], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    cases = json.loads(VECTORS.read_text())
    for case, seen in zip(cases, json.loads(done.stdout), strict=True):
        assert seen == case["shown"], case["name"]
        assert _python(case["authors"]) == case["shown"], case["name"]
