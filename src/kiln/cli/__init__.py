"""The ``kiln`` command: one Typer sub-app per resource; each command parses, calls the SDK, renders."""
