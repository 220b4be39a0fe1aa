"""Fixtures for LAN tests in real network namespaces (see ``lan_netns.py`` for how the networks are built).

They need root and iproute2 (CI runs ``scripts/test`` as root, and ``scripts/system-packages.sh`` installs
iproute2); elsewhere they skip and say why. Leftover ``smzl`` namespaces of earlier runs that died are removed
once at session start; each test's own namespaces and processes go in its teardown, even when it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lan_netns import Lab, missing_requirement, remove_leftovers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.netns)


@pytest.fixture(scope="session")
def netns_ready() -> None:
    """Skipped where namespaces cannot be made; under CI the LAN tests must run, so a missing tool fails them."""
    reason = missing_requirement()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the LAN tests cannot run: {reason}")
        pytest.skip(reason)
    remove_leftovers()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def lab(netns_ready: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """An empty test network: ``lab.lan()``, ``lab.node(lan)``, ``lab.move(node, lan)``; torn down after.
    When the test failed, the end of every node's ``serve`` log is printed (pytest shows it with the failure)."""
    with Lab(tmp_path / "lab") as built:
        yield built
        if request.node.stash.get(FAILED, False):
            for node in built.nodes:
                print(f"\n===== {node.name} ({node.addr}, {node.ns}) serve log, last lines =====")
                print(node.output()[-3000:])
