"""What is typed on a command line stays in the shell's history: `post` and `correct` take their text from
standard input or an editor when it is not given."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from conftest import Cli, cli_env, command


def run_with(home: Path, args: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command(home, *args), input=stdin, capture_output=True, text=True, timeout=90,
                          env={**cli_env(), **(env or {})}, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_post_and_correct_read_their_text_from_stdin_and_an_editor(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "yard", "--name", "Yard")
    run_with(cli.home, ["post", "yard", "--type", "news"], stdin="Water is back\non every floor\n")
    (item,) = cli.json("feed", "yard")
    assert item["text"] == "Water is back\non every floor"

    # An editor (here a script standing in for one) writes the correction into the file it is given.
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Water is back on floors 1-5 only\\n# a comment line\\n" > "$1"\n')
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    done = subprocess.run(["script", "-qec", " ".join([*command(cli.home, "correct", item["id"][:10])]), "/dev/null"],
                          capture_output=True, text=True, timeout=90, check=False,
                          env={**cli_env(), "EDITOR": str(editor)})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (corrected,) = cli.json("feed", "yard")
    assert corrected["text"] == "Water is back on floors 1-5 only"
    assert corrected["original_text"] == "Water is back\non every floor"
    assert not [p for p in os.listdir("/dev/shm") if p.startswith("samizdat-")]  # the editor's file is gone
