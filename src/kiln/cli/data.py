"""``kiln data …``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kiln.cli.render import (
    OutputFormat,
    OutputOption,
    console,
    details_table,
    list_table,
    longest,
    print_output,
    when,
)
from kiln.cli.workspace import client
from kiln.specs.data import DataAssetView

app = typer.Typer(help="Data assets: immutable, versioned files and folders that jobs read.", no_args_is_help=True)

NameOption = Annotated[str, typer.Option("--name", "-n", help="The data asset's name.")]
VersionOption = Annotated[
    str | None, typer.Option("--version", "-v", help="A version (default: the latest that is not archived).")
]


@app.command("create")
def create(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="The data asset's YAML file.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Name (overrides the file's).")] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="Version (default: the next number).")] = None,
    type_: Annotated[
        str | None, typer.Option("--type", "-t", help="uri_file, uri_folder (default) or mltable.")
    ] = None,
    path: Annotated[str | None, typer.Option("--path", "-p", help="The local file or folder to store.")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Store a file or folder as a new, immutable version (the same content again changes nothing)."""
    view = client().data.create(file, name=name, version=version, type=type_, path=path, description=description)
    print_output(
        view, output,
        lambda: f"data asset [bold]{view.name}[/] version [bold]{view.version}[/] ({view.type}, {view.files} files, "
        f"sha256 {view.content_hash[:12]}…)  use it as path: kiln:{view.name}:{view.version}",
    )  # fmt: skip


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Option("--name", "-n", help="Every version of this asset.")] = None,
    include_archived: Annotated[bool, typer.Option("--include-archived", help="Show archived versions too.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """The latest version of every data asset, or with --name every version of one."""
    views = client().data.list(name, include_archived)
    print_output(views, output, lambda: data_table(views))


@app.command("show")
def show(name: NameOption, version: VersionOption = None, output: OutputOption = OutputFormat.table) -> None:
    """One version: type, content hash, size, tags."""
    view = client().data.get(name, version)
    print_output(view, output, lambda: data_details(view))


@app.command("download")
def download(
    name: NameOption,
    version: VersionOption = None,
    download_path: Annotated[Path, typer.Option("--download-path", help="Folder to write into.")] = Path("."),
) -> None:
    """Download a version's files into DOWNLOAD_PATH/<name>."""
    written = client().data.download(name, version, download_path)
    console.print(f"downloaded {written}")


@app.command("archive")
def archive(name: NameOption, version: VersionOption = None) -> None:
    """Hide a version (all versions without --version) from listings and @latest; jobs that name it still work."""
    for view in client().data.archive(name, version):
        console.print(f"data asset {view.name} version {view.version} archived")


@app.command("restore")
def restore(name: NameOption, version: VersionOption = None) -> None:
    """Undo archive."""
    for view in client().data.restore(name, version):
        console.print(f"data asset {view.name} version {view.version} restored")


def data_table(views: list[DataAssetView]) -> Table:
    table = list_table(
        "name", "version", "type", "files", "size", "created", "description",
        no_wrap=("name",), min_widths={"name": longest(v.name for v in views)},
    )  # fmt: skip
    for view in views:
        version = view.version + (" (archived)" if view.archived else "")
        table.add_row(
            view.name, version, view.type, str(view.files), _size(view.size_bytes), when(view.created_at),
            view.description or "",
        )  # fmt: skip
    return table


def data_details(view: DataAssetView) -> Table:
    rows = [
        ("name", view.name),
        ("version", view.version + (" (archived)" if view.archived else "")),
        ("type", view.type),
        ("content sha256", view.content_hash),
        ("files", f"{view.files} ({_size(view.size_bytes)})"),
        ("created", when(view.created_at) + _by(view.created_by)),
        ("reference", f"kiln:{view.name}:{view.version}"),
    ]
    if view.description:
        rows.append(("description", view.description))
    if view.tags:
        rows.append(("tags", ", ".join(f"{k}: {v}" for k, v in sorted(view.tags.items()))))
    return details_table(rows)


def _by(creator: str | None) -> str:
    return f" by {creator}" if creator else ""


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
