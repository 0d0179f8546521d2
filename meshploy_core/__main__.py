"""``python -m meshploy_core`` runs the CLI (same as the ``meshploy`` command)."""

from meshploy_core.cli.main import main

main()
