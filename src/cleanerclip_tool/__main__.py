"""``python -m cleanerclip_tool`` runs the CLI."""

from cleanerclip_tool.cli.app import main

main()
