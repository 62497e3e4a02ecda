"""Command lines: `python -m core.cli.generate` and `python -m core.cli.infill`."""
