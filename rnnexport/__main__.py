"""``python -m rnnexport`` runs the CLI."""

from .cli.app import main

main()
