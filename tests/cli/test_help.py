"""``samizdat COMMAND --help`` for every command: option types a person reads, no Python type names."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from samizdat.cli import app

PYTHON_TYPES = re.compile(r"list\[|tuple\[|dict\[|Optional\[|NoneType|<class ")


def commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, TyperGroup):
            yield from commands(command, (*prefix, name))


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)
ALL = list(commands(ROOT))


def test_every_command_is_listed() -> None:
    names = {" ".join(c) for c in ALL}
    for expected in ("init", "keys show", "channel create", "channel edit", "post", "correct", "feed", "sync",
                     "export", "import", "serve", "status", "netcheck", "peers add", "web login", "passphrase add",
                     "passphrase change", "passphrase remove", "lock", "wipe"):  # fmt: skip
        assert expected in names


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_help_shows_readable_types(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Usage: samizdat " + " ".join(path) in text
    assert not PYTHON_TYPES.search(text), text


def test_init_is_listed_first() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    listed = result.output[result.output.index("Commands") :].splitlines()[1]
    assert listed.strip("│ ").split()[0] == "init"
