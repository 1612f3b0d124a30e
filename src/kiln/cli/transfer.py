"""``kiln workspace export`` / ``kiln workspace import``: move a workspace (for example an
embedded one to a team server) with its jobs, runs, data, environments and models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from kiln.cli.render import console, err_console
from kiln.cli.workspace import client
from kiln.sdk.workspace import ImportStopped
from kiln.transfer.report import ImportReport, OnConflict, ProgressEvent

app = typer.Typer(
    help="Move a workspace: export it to one file, import that file into another workspace (KILN_URL).",
    no_args_is_help=True,
)


@app.command("export")
def export(
    to: Annotated[Path, typer.Option("--to", help="The file to write, e.g. workspace.tar.gz.")],
    include_endpoints: Annotated[
        bool, typer.Option("--include-endpoints", help="Also the online endpoints and deployments (their specs).")
    ] = False,
) -> None:
    """Write this workspace's jobs, MLflow runs and models, data assets and environments to one file.
    The server keeps running; jobs that have not ended are left out (and listed)."""
    columns = (TextColumn("exporting"), BarColumn(), DownloadColumn(), TimeElapsedColumn())
    with _progress(*columns) as progress:
        task = progress.add_task("export", total=None)

        def advance(received: int, expected: int) -> None:
            progress.update(task, completed=received, total=max(expected, received) or None)

        manifest = client().workspace.export(to, include_endpoints=include_endpoints, progress=advance)
    counts = ", ".join(f"{count} {kind}" for kind, count in manifest.counts.items() if count)
    console.print(f"exported to [bold]{escape(str(to))}[/]: {counts or 'an empty workspace'}", soft_wrap=True)
    for what in manifest.left_out:
        err_console.print(f"[yellow]left out:[/] {escape(what)}", soft_wrap=True)


@app.command("import")
def import_(
    archive: Annotated[Path, typer.Argument(help="A file written by kiln workspace export.")],
    on_conflict: Annotated[
        str,
        typer.Option(
            "--on-conflict",
            help="fail (default): refuse, writing nothing, if the target holds a different object under a name or id "
            "of the archive; skip: import everything else and keep the target's objects.",
        ),
    ] = "fail",
) -> None:
    """Import an exported workspace into this one (KILN_URL for a team server). Same job names, run ids,
    model versions and lineage; what is there already is skipped, so running it again is safe."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _progress(*columns) as progress:
        upload = progress.add_task("uploading", total=None)
        items = progress.add_task("importing", total=None, visible=False)

        def uploaded(sent: int, size: int) -> None:
            progress.update(upload, completed=sent, total=size)

        def imported(event: ProgressEvent) -> None:
            progress.update(upload, visible=False)
            progress.update(items, visible=True, completed=event.done, total=event.total)
            progress.update(items, description=f"importing {escape(event.item[:60])}")

        try:
            report = client().workspace.import_(
                archive, on_conflict=_policy(on_conflict), upload_progress=uploaded, progress=imported
            )
        except ImportStopped as stopped:
            progress.stop()
            _print_report(stopped.report)
            raise
    _print_report(report)


def _progress(*columns: ProgressColumn) -> Progress:
    """A bar on stderr while the command runs, for a person at a terminal (none in logs and pipes)."""
    return Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal)


def _policy(value: str) -> OnConflict:
    if value == "fail":
        return "fail"
    if value == "skip":
        return "skip"
    raise typer.BadParameter(f"{value!r} is not one of fail, skip", param_hint="--on-conflict")


def _print_report(report: ImportReport) -> None:
    console.print(escape(report.summary()) or "nothing to import", soft_wrap=True)
    for kind, items in report.kinds.items():
        for skipped in items.skipped:
            err_console.print(f"[yellow]skipped {escape(kind)}[/] {escape(skipped)}", soft_wrap=True)
    for note in report.notes:
        err_console.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True)
