"""Fixtures for every test folder, on the public test kit :mod:`samizdat.testing` (the helpers themselves live
there; a folder's own conftest.py may override these), and two rules for the whole suite:

- In CI (``CI=true``) a skipped test is a failed test: CI installs everything the tests need (``scripts/test``
  runs ``scripts/system-packages.sh`` as root), so a skip there means a tool is missing (chromium, nft, ip netns,
  microsocks, node, openssl, nostr-sdk) and a whole suite would pass without running. Only the skips in
  :data:`CI_MAY_SKIP`, which depend on who runs the tests rather than on what is installed, stay skips.
  Elsewhere skips stay skips, and every skip's reason is printed at the end of the run (``-rs``).
- Hypothesis runs derandomized in CI (the "ci" profile: the same examples on every run, no example database),
  so a CI failure reproduces; elsewhere it explores new examples each run.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from hypothesis import settings

from samizdat.store import pgconn
from samizdat.testing import FakeClock, test_node
from samizdat.testing_postgres import POSTGRES_TEMPLATE, Cluster, bin_dir, start_cluster

if TYPE_CHECKING:
    from samizdat.node import Node

CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
#: Reasons (or parts of them) a test may skip even in CI.
CI_MAY_SKIP = (
    "root can write to read-only files",  # CI runs as root: the permission test cannot run there
    "no IPv4 network with room for a neighbour",  # a CI machine may have no network interface but loopback
    "the hard open-file limit here is",  # set by whoever runs the machine, not by what is installed
    "cannot loop-mount an ext4 image here",  # a container without loop devices: the machine's, not installed
)

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if CI:
    settings.load_profile("ci")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _must_not_skip(report: pytest.TestReport | pytest.CollectReport) -> bool:
    return (
        CI
        and report.skipped
        and not hasattr(report, "wasxfail")
        and not any(allowed in _skip_reason(report) for allowed in CI_MAY_SKIP)
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if _must_not_skip(report):
        reason = _skip_reason(report)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where everything the tests need must be installed: {reason}"
    return report


_SKIPPED_MODULES: list[str] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    # A module that skips as a whole (``pytest.importorskip`` at its top): failing its collection would stop the
    # run, so it is listed at the end and fails the run there.
    if _must_not_skip(report):
        _SKIPPED_MODULES.append(f"{report.nodeid}: {_skip_reason(report)}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SKIPPED_MODULES:
        terminalreporter.section("modules skipped in CI, where everything the tests need must be installed")
        for line in _SKIPPED_MODULES:
            terminalreporter.line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED_MODULES and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock (at 1,700,000,000 s) that moves only when the test moves it."""
    return FakeClock()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    """A node on a fresh data directory (``tmp_path / "node"``, on the real clock); closed in teardown."""
    async with test_node(tmp_path / "node") as opened:
        yield opened


# --- PostgreSQL (samizdat.testing_postgres) ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the whole session (fsync off: its data are thrown away), with a migrated
    template database that :func:`postgres_url` copies. Skips without PostgreSQL; under CI=true that fails."""
    if bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (Debian: postgresql, postgresql-contrib)")
    with start_cluster(fsync=False) as cluster:
        with psycopg.connect(cluster.create_database(POSTGRES_TEMPLATE), autocommit=True) as conn:
            pgconn.migrate(conn)
        yield cluster


_databases = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    """The URL of a new, migrated, empty database of the session's cluster."""
    return postgres_cluster.create_database(f"test_{next(_databases)}", template=POSTGRES_TEMPLATE)
