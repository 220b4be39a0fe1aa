"""Fixtures for the web app's tests: the e2e helpers (a real ``samizdat`` command and ``samizdat serve``
process), and Debian's Chromium driven by Playwright.

The browser runs headless with the flags that work on these machines (no sandbox as root, no GPU, no
background traffic). Every page wait is bounded by Playwright's timeouts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import CHROMIUM, PHONE, ServeProcess, launch


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (skipped where Debian's chromium is not installed)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.sh web)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """Playwright itself, for a test that launches Chromium its own way (a profile on disk: web_helpers.persistent);
    skipped where Debian's chromium is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.sh web)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh phone-sized context of the module's browser (downloads accepted), closed after the test."""
    context = browser.new_context(locale="en-US", accept_downloads=True, **PHONE)
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture(scope="module")
def module_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """``samizdat serve --port 0`` on a home, shared by a module's tests; stopped at the end of the module."""
    started: list[Any] = []
    logs = tmp_path_factory.mktemp("serve-logs")

    def start(home: Path, *extra: str) -> Any:
        node = ServeProcess(home, logs / f"serve-{len(started)}.log", *extra)
        started.append(node)
        node.wait_ready()
        return node

    try:
        yield start
    finally:
        for node in started:
            node.stop()


@pytest.fixture(scope="session")
def node_available() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
