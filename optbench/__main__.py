"""``python -m optbench``: the command line, as the ``optbench`` script runs it."""

from optbench.cli import main

main()
