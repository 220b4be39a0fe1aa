"""Where the text of a post comes from on the command line: standard input, an editor, or (last) an argument.

What is typed on a command line stays in the shell's history, on the laptop's disk, and every account on the
machine reads a running command's arguments (``ps``; :func:`samizdat.services.hardening.hide_arguments` blanks
them once the command starts). So ``post`` and ``correct`` read their text from standard input (a pipe, a file,
``-``) or an editor when it is not given, and at a terminal one line says that a text given as an argument stays
in the history. The editor works on a file in memory (``/dev/shm``) with a name that does not say Samizdat, and a
vim keeps no swap file and no viminfo.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import typer

from samizdat.errors import UsageError

__all__ = ["typed_text"]


def typed_text(text: str | None, *, what: str, empty_ok: bool = True) -> str:
    """The text of a post: from standard input (a pipe, a file, or ``-``), else from an editor ($VISUAL/$EDITOR),
    so that what is written never lands in the shell's history; or as given on the command line, which the shell
    has already written to its history: at a terminal, one line on stderr says so (other accounts could also read
    it in ``ps`` until the command hid it as it started: samizdat/launch.py). UsageError when the
    editor was left without saving."""
    if text == "-" or (text is None and not sys.stdin.isatty()):
        return sys.stdin.read().rstrip("\n")
    if text is not None:
        if sys.stdin.isatty():
            typer.echo(
                f"note: the {what} was typed on the command line, so your shell's history keeps it; "
                "leave the text out next time (an editor opens) or pipe it in",
                err=True,
            )
        return text
    written = _edit(f"\n# Write the {what} above. Lines starting with # are left out.\n")
    if written is None:
        if empty_ok:
            return ""
        raise UsageError(f"nothing was written, so no {what} was published")
    return "\n".join(line for line in written.splitlines() if not line.startswith("#")).strip()


#: Editors of the vim family, by the name they are started with: they are told to keep no swap file (``-n``) and no
#: ``~/.viminfo`` (``-i NONE``), which would keep on disk, in plain, what was yanked or deleted (lines of the post)
#: and the file's name.
_VIMS = frozenset({"vi", "vim", "vim.basic", "vim.tiny", "vim.nox", "vim.gtk3", "view", "nvim", "gvim"})


def _edit(template: str) -> str | None:
    """Open $VISUAL or $EDITOR (else nano, else vi) on a private temporary file, in memory where the system
    has it (/dev/shm), and return what was saved (None when nothing changed). The file is removed at once. Its
    name says nothing of Samizdat (an editor may list it in a history of recent files); a vim is started with
    no swap file and no viminfo (:data:`_VIMS`)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or (shutil.which("nano") and "nano") or "vi"
    where = "/dev/shm" if os.path.isdir("/dev/shm") else None
    fd, path = tempfile.mkstemp(suffix=".txt", dir=where)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(template)
        words = shlex.split(editor)
        if words and os.path.basename(words[0]) in _VIMS:
            words[1:1] = ["-n", "-i", "NONE"]
        try:
            subprocess.run([*words, path], check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise UsageError(
                f"the editor {editor!r} did not run ({exc}); give the text as an argument or on stdin"
            ) from exc
        with open(path, encoding="utf-8") as handle:
            written = handle.read()
    finally:
        os.unlink(path)
    return None if written == template else written
