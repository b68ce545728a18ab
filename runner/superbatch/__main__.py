"""``python -m superbatch`` is the ``superbatch`` command."""

from superbatch.cli import main

main()
