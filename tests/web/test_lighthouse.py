"""Lighthouse (npm ``lighthouse``, pinned in web/package.json) on Debian's Chromium, with its phone profile,
against a real ``samizdat serve`` on loopback: the start page and a channel page score at least 95 for
accessibility and for best practices (issue 14's goals). Performance is a timing: bench/web.py records it
(docs/benchmarks.md), no test asserts it. The scores are printed (``pytest -s``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from web_helpers import CHROMIUM, Cli

WEB = Path(__file__).resolve().parents[2] / "web"
LIGHTHOUSE = WEB / "node_modules" / ".bin" / "lighthouse"
GOALS = {"accessibility": 0.95, "best-practices": 0.95}
FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-background-networking --disable-sync --no-first-run"


def lighthouse(url: str, out: Path, categories: list[str]) -> dict[str, Any]:
    """Lighthouse's report of ``url`` (phone profile, the default); the scores by category id."""
    done = subprocess.run(
        [str(LIGHTHOUSE), url, "--output=json", f"--output-path={out}", f"--only-categories={','.join(categories)}",
         f"--chrome-flags={FLAGS}", "--quiet"],
        env={**os.environ, "CHROME_PATH": CHROMIUM}, capture_output=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> tuple[str, str]:
    missing = [str(p) for p in (LIGHTHOUSE, Path(CHROMIUM)) if not p.exists()]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing: {', '.join(missing)} (cd web && npm ci; scripts/apt/web.txt)")
        pytest.skip(f"missing: {', '.join(missing)}")
    cli = Cli(tmp_path_factory.mktemp("lighthouse") / "home")
    cli.ok("init")
    address = cli.json("channel", "create", "yard", "--name", "Yard 7", "--about", "Our yard",
                       "--place", "BY/Minsk/Frunzenski")["address"]  # fmt: skip
    cli.json("channel", "create", "hrodna", "--name", "Hrodna news", "--place", "BY/Hrodna")
    for n, kind in enumerate(["news", "alert", "help", "news"]):
        extra = {"alert": ["--place", "Gate", "--expires", "2h"], "help": ["--need", "a driver"]}.get(kind, [])
        cli.json("post", "yard", "--type", kind, f"Post {n}: the water is back on", "--subject", f"Post {n}", *extra)
    served = module_serve(cli.home)
    return served.http_url, address


@pytest.mark.parametrize("page", ["start", "channel"])
def test_lighthouse_accessibility_and_best_practices(node: tuple[str, str], tmp_path: Path, page: str) -> None:
    url, address = node
    report = lighthouse(url if page == "start" else f"{url}#/c/{address}", tmp_path / "report.json", list(GOALS))
    scores = {k: report["categories"][k]["score"] for k in GOALS}
    print(f"Lighthouse, {page} page: " + ", ".join(f"{k} {round(v * 100)}" for k, v in scores.items()))
    failing = [
        f"{a['id']}: {a['title']}"
        for a in report["audits"].values()
        if a.get("score") is not None and a["score"] < 1 and a.get("scoreDisplayMode") == "binary"
    ]
    for category, goal in GOALS.items():
        assert scores[category] >= goal, (category, scores[category], failing)
