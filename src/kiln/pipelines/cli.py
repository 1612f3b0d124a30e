"""``kiln component``: command components, versioned in the workspace (``create -f train.yml``, ``list``,
``show -n NAME``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kiln.cli.render import OutputFormat, OutputOption, details_table, print_output, when
from kiln.cli.workspace import client
from kiln.pipelines.api import ComponentView

app = typer.Typer(help="Command components: create, list, show.", no_args_is_help=True)
NameOption = Annotated[str, typer.Option("--name", "-n", help="The component's name.")]


@app.command("create")
def create(
    file: Annotated[Path, typer.Option("--file", "-f", help="The component's YAML file (type: command).")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Its version (default: the file's, or the next).")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Register a version of a command component; its code folder is uploaded and pinned by its hash."""
    view = client().components.create(file, version)
    print_output(view, output, lambda: _details(view))


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Option("--name", "-n", help="Every version of this component.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """The latest version of each component (or every version of one), newest first."""
    views = client().components.list(name)
    print_output(views, output, lambda: _table(views))


@app.command("show")
def show(
    name: NameOption,
    version: Annotated[str, typer.Option("--version", "-v", help="The version (default: latest).")] = "latest",
    output: OutputOption = OutputFormat.table,
) -> None:
    """A component version: its inputs, outputs, command, code hash and environment."""
    view = client().components.get(name, version)
    print_output(view, output, lambda: _details(view))


def _table(views: list[ComponentView]) -> Table:
    table = Table("name", "version", "inputs", "outputs", "deterministic", "created")
    for view in views:
        table.add_row(
            view.name, view.version, ", ".join(view.inputs), ", ".join(view.outputs), str(view.is_deterministic),
            when(view.created_at),
        )  # fmt: skip
    return table


def _details(view: ComponentView) -> Table:
    inputs = ", ".join(f"{name} ({item.get('type', 'uri_folder')})" for name, item in view.inputs.items())
    outputs = ", ".join(f"{name} ({item.get('type', 'uri_folder')})" for name, item in view.outputs.items())
    return details_table([
        ("name", view.name), ("version", view.version), ("description", view.description or ""),
        ("inputs", inputs), ("outputs", outputs), ("command", view.command), ("code hash", view.code_hash or ""),
        ("environment", str(view.environment or "")), ("deterministic", str(view.is_deterministic)),
        ("created", f"{when(view.created_at)} by {view.created_by or '?'}"),
    ])  # fmt: skip
