"""The ``samizdat`` command's first lines: hide its arguments, then load the command line.

Every account on the machine reads a running command's arguments (``ps``), and loading the command line (Typer,
the services, the stores) takes about 0.4 s before :func:`samizdat.cli.main` could blank them: long enough for a
``ps`` in a loop to catch ``post town "text"``. So the entry point is this module, which imports nothing but
:mod:`samizdat.services.hardening` (the standard library's ``ctypes``, ``os``, ``resource``), blanks the arguments
and shuts out core dumps there, and only then imports the rest. What is left is the interpreter's own start (a few
tens of milliseconds).
"""

from __future__ import annotations

from samizdat.services import hardening


def main() -> None:
    hardening.harden()
    hardening.hide_arguments()
    from samizdat.cli import main as cli_main  # the 0.4 s of imports, now with nothing to show

    cli_main()
