"""``python -m kbagent`` runs the ``kb`` command."""

from kbagent.cli import main

main()
