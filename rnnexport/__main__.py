"""``python -m rnnexport`` runs the CLI."""

from .cli import main

main()
