"""``python -m samizdat`` is the ``samizdat`` command."""

from samizdat.cli import main

main()
