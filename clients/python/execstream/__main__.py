"""``python -m execstream`` runs the CLI."""

from .cli.main import main

raise SystemExit(main())
