"""The post's text in ``ps`` while the command starts: another account on the laptop (or a script the police left
running) that reads every process's command line caught ``samizdat post town "text"`` during the 0.4 s the
command line took to load (Typer, the services, the stores), before it blanked its arguments.

Now the ``samizdat`` command (the installed script and ``python -m samizdat``) blanks them before it loads any of
that. The test looks at the command's own command line at the moment it starts to load Typer, the first of the
heavy imports: a ``sitecustomize`` on ``PYTHONPATH`` (Python runs it at start) adds an audit hook that, at the
``import typer`` event, copies ``/proc/self/cmdline`` to a file, exactly what ``ps`` would read then."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CLI_TIMEOUT, cli_env

SECRET = "the van is parked behind the school"

WATCHER = """
import os, sys

def _watch(event, args):
    if event == "import" and args[0] == "typer" and not os.path.exists(os.environ["CMDLINE_SEEN"]):
        with open("/proc/self/cmdline", "rb") as f, open(os.environ["CMDLINE_SEEN"], "wb") as out:
            out.write(f.read())

sys.addaudithook(_watch)
"""


@pytest.mark.parametrize("how", ["script", "module"])
def test_the_arguments_are_blank_before_the_command_line_loads(tmp_path: Path, how: str) -> None:
    """``samizdat post town TEXT``: when it begins to import Typer its command line, as ``ps`` reads it, holds no
    argument; the command still gets them (it names the home it was given)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(WATCHER)
    seen = tmp_path / "cmdline"
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(hooks), env.get("PYTHONPATH", "")] if p)
    env["CMDLINE_SEEN"] = str(seen)
    start = [str(Path(sys.executable).with_name("samizdat"))] if how == "script" else [sys.executable, "-m", "samizdat"]
    done = subprocess.run([*start, "--home", str(tmp_path / "node"), "post", "no-such-town", SECRET],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT, env=env, stdin=subprocess.DEVNULL,
                          check=False)  # fmt: skip
    assert seen.exists(), f"the command never imported typer: {done.stderr}"
    line = seen.read_bytes()
    assert b"samizdat" in line  # the interpreter and the script's or module's name stay
    assert SECRET.encode() not in line
    assert b"no-such-town" not in line
    assert b"post" not in line.split(b"\0")[-3:]
    assert done.returncode != 0
    assert str(tmp_path / "node") in done.stderr  # the command itself read its arguments: "no identity in HOME"
