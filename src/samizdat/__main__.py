"""``python -m samizdat`` is the ``samizdat`` command."""

from samizdat.launch import main

main()
