"""The ``kiln`` command: one Typer sub-app per resource, then each capability's commands (``cli.capabilities``);
each command parses its flags, calls the SDK and renders the answer (``cli.render``)."""
