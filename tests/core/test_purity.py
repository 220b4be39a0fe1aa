"""The protocol cores do no I/O: nothing in samizdat.core, nor the relay's protocol state machine
(relay/connection.py), imports asyncio, sqlite3 or socket (STYLE.md, habit 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import samizdat.core
import samizdat.relay

FORBIDDEN = {"asyncio", "sqlite3", "socket", "time", "datetime", "websockets", "threading", "subprocess"}

CORE = Path(samizdat.core.__file__).parent
RELAY = Path(samizdat.relay.__file__).parent


def io_imports(path: Path) -> list[str]:
    """The forbidden modules ``path`` imports, anywhere in it (inside functions and TYPE_CHECKING too)."""
    offenders = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    return offenders


def test_core_modules_import_no_io() -> None:
    paths = sorted(CORE.glob("*.py"))
    assert len(paths) >= 8
    assert [o for path in paths for o in io_imports(path)] == []


def test_the_relay_protocol_state_machine_imports_no_io() -> None:
    assert io_imports(RELAY / "connection.py") == []


@pytest.mark.parametrize("module", ["asyncio", "time.monotonic", "datetime"])
def test_the_check_sees_imports_anywhere(tmp_path: Path, module: str) -> None:
    source = tmp_path / "probe.py"
    source.write_text(f"def f() -> None:\n    import {module}\n")
    assert io_imports(source) == [f"probe.py: {module}"]
