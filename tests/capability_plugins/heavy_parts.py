"""Importing this fails, as a heavy optional package that is missing would: listing the command must not."""

import kiln_test_heavy_dependency_not_installed  # noqa: F401
import typer

app = typer.Typer()
