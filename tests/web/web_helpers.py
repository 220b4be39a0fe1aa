"""Helpers shared by the web app's tests: the e2e helpers (``samizdat`` as a person runs it, ``samizdat serve``
as a real process, loaded from tests/e2e/conftest.py), and how Debian's Chromium is launched."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from samizdat.core.event import Event

_E2E = Path(__file__).parents[1] / "e2e" / "conftest.py"
_spec = importlib.util.spec_from_file_location("samizdat_e2e_helpers", _E2E)
assert _spec is not None
assert _spec.loader is not None
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

Cli = e2e.Cli
ServeProcess = e2e.ServeProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: Screenshots are written to docs/screenshots/ only when asked: a plain test run leaves the work tree as it was.
SCREENSHOTS_WANTED = os.environ.get("SAMIZDAT_SCREENSHOTS") == "1"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium_resolving(name: str) -> Iterator[Any]:
    """Debian's Chromium whose resolver maps ``name`` to 127.0.0.1 (a site's DNS pointing there, or a hub's LAN
    name: a page by a name that is not ``localhost`` is not a secure context); skipped where it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.sh web)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {name} 127.0.0.1"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def phone_page(
    browser: Any, *, timeout: float = 20_000, dismiss_dialogs: bool = False, **options: Any
) -> Iterator[Any]:
    """A page in a fresh phone-sized context of ``browser`` (``options`` for the context); a script error on it
    (or, with ``dismiss_dialogs``, a dialog it opened) fails the test at the end."""
    context = browser.new_context(locale="en-US", **options, **PHONE)
    context.set_default_timeout(timeout)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if dismiss_dialogs:
        page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}") or dialog.dismiss())
    yield page
    context.close()
    assert not errors, errors


@contextlib.contextmanager
def persistent(playwright: Any, profile: Path, *, timeout: float = 30_000) -> Iterator[Any]:
    """A browser with its profile on disk, as a phone's is; closed (its files written) at the end."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, locale="en-US", **PHONE
    )
    context.set_default_timeout(timeout)
    try:
        yield context
    finally:
        context.close()


def publish(ws_url: str, events: Sequence[Event]) -> None:
    """Publish ``events`` to the relay at ``ws_url``, one at a time, each acknowledged ``OK true``."""
    with connect(ws_url, open_timeout=10) as ws:
        for event in events:
            ws.send(json.dumps(["EVENT", event.to_dict()]))
            reply = json.loads(ws.recv(timeout=10))
            assert reply[:3] == ["OK", event.id, True], reply
