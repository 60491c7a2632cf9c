"""``python -m lmprog.cli``: the same as the ``lmprog`` command."""

from lmprog.cli import main

main()
