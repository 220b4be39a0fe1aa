"""The protocol cores do no I/O: nothing in samizdat.core imports asyncio, sqlite3 or socket (STYLE.md, habit 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import samizdat.core

FORBIDDEN = {"asyncio", "sqlite3", "socket", "time", "datetime", "websockets", "threading", "subprocess"}


def test_core_modules_import_no_io() -> None:
    core = Path(samizdat.core.__file__).parent
    offenders = []
    for path in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert len(list(core.glob("*.py"))) >= 8
    assert offenders == []
