"""``kiln schema export``: the JSON Schemas of kiln's YAML files, for editors (VS Code's YAML extension)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kiln.cli.output import show
from kiln.cli.render import list_table
from kiln.errors import InvalidSpec
from kiln.specs.json_schemas import json_schema, schema_kinds

app = typer.Typer(
    help="JSON Schemas of kiln's YAML files, for editors: kiln schema export --output schemas/.", no_args_is_help=True
)


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-d", help="The folder to write <kind>.json files into.")],
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="Only this kind (repeat for several); default: all.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Give each schema an $id under this URL, e.g. https://kiln.example.com."),
    ] = None,
) -> None:
    """Write one JSON Schema per YAML kind kiln reads (jobs of every registered type, data, environments, models,
    endpoints, deployments, computes, datastores); point a YAML file's $schema at one for checks as you type."""
    kinds = kind or schema_kinds()
    schemas = {name: json_schema(name, base_url) for name in kinds}  # NotFound naming the kinds, before writing
    if output.exists() and not output.is_dir():
        raise InvalidSpec(f"--output {output}: a file is there; give a folder")
    output.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, str]] = []
    for name, schema in schemas.items():
        path = output / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append({"kind": name, "file": str(path)})
    table = list_table("kind", "file", no_wrap=("kind", "file"))  # (--output names the folder: no -o json here)
    for row in written:
        table.add_row(row["kind"], row["file"])
    show(table)
