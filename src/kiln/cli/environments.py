"""``kiln environment …``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from kiln.cli.render import OutputFormat, OutputOption, details_table, err_console, list_table, print_output, when
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec, KilnError
from kiln.specs.environment import LATEST, EnvironmentView
from kiln.specs.pins import BuiltEnvironmentPin, environment_pin

app = typer.Typer(help="Python environments for jobs: built with uv, cached by content.", no_args_is_help=True)

STATUS_STYLE = {"building": "cyan", "ready": "green", "failed": "red"}


@app.command("create")
def create(
    file: Annotated[Path, typer.Option("--file", "-f", help="The environment's YAML file.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Overrides 'name' in the file.")] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="Overrides 'version' in the file.")] = None,
    wait: Annotated[bool, typer.Option(help="Show the build as it runs and wait for it to end.")] = True,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Register an environment version and build it (the same spec again is reused at once)."""
    operations = client().environments
    view = operations.create(file, name=name, version=version, wait=False)
    if wait and view.status == "building":
        _show_build(view)
        view = operations.wait(view.name, view.version)
    elif view.status == "ready":
        err_console.print(f"[dim]environment {view.name}:{view.version}: the venv {view.hash[:12]} is in the cache[/]")
    print_output(view, output, lambda: environment_details(view, packages=False))
    if view.status == "failed":
        raise KilnError(f"environment {view.name}:{view.version} failed to build: {view.error}")


def _show_build(view: EnvironmentView) -> None:
    """A spinner while the build runs, with uv's lines printed above it as they come."""
    operations = client().environments
    pending = ""
    with err_console.status(f"building environment [bold]{view.name}:{view.version}[/] with uv…"):
        for text in operations.logs(view.name, view.version, follow=True):
            pending += text
            *lines, pending = pending.split("\n")
            for line in lines:
                err_console.print(f"[dim]{escape(line)}[/]", highlight=False)
    if pending:
        err_console.print(f"[dim]{escape(pending)}[/]", highlight=False)


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only the versions of this environment.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List environment versions (by name, newest version first)."""
    views = client().environments.list(name)
    print_output(views, output, lambda: environments_table(views))


@app.command("show")
def show(
    name: Annotated[str | None, typer.Option("--name", "-n", help="The environment's name.")] = None,
    version: Annotated[str, typer.Option("--version", "-v", help="A version, or 'latest'.")] = LATEST,
    job: Annotated[str | None, typer.Option("--job", help="Instead: the environment recorded with this job.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Spec, hash, status, python, the exact package list and where the build log is kept."""
    if (name is None) == (job is None):
        raise InvalidSpec("give --name (an environment) or --job (the environment a job ran with)")
    if job is not None:
        record = client().environments.of_job(job)
        print_output(record, output, lambda: _record_details(record))
        return
    view = client().environments.get(str(name), version)
    print_output(view, output, lambda: environment_details(view, packages=True))


def environments_table(views: list[EnvironmentView]) -> Table:
    columns = ("name", "version", "status", "python", "packages", "hash", "created")
    table = list_table(*columns, no_wrap=columns[:-1])
    for view in views:
        table.add_row(
            view.name, view.version, _status(view.status), view.python, str(len(view.packages) or "-"),
            view.hash[:12], when(view.created_at),
        )  # fmt: skip
    return table


def environment_details(view: EnvironmentView, packages: bool) -> Table:
    rows: list[tuple[str, str]] = [
        ("name", f"{view.name}:{view.version}"),
        ("status", _status(view.status)),
        ("python", view.python),
        ("hash", view.hash),
        ("requirements", escape("\n".join(view.requirements)) or "-"),
    ]
    if view.description:
        rows.insert(1, ("description", view.description))
    if view.image:
        rows.append(("image", view.image))
    if view.notes:
        rows.append(("notes", escape("\n".join(view.notes))))
    if view.tags:
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in view.tags.items())))
    created = when(view.created_at) + (f" by {view.created_by}" if view.created_by else "")
    rows += [("created", created), ("built", when(view.built_at))]
    if view.error:
        rows.append(("error", escape(view.error)))
    if packages:
        rows.append(("packages", "\n".join(view.packages) or "-"))
    else:
        rows.append(
            ("packages", f"{len(view.packages)} installed (kiln environment show -n {view.name} -v {view.version})")
        )
    rows.append(("build log", view.build_log or "-"))
    return details_table(rows)


def _record_details(record: dict[str, Any]) -> Table:
    pin = environment_pin(record)
    rows = [("environment", pin.label), ("python", str(pin.python or "-"))]
    if isinstance(pin, BuiltEnvironmentPin):
        rows.append(("hash", pin.hash))
        if pin.requirements:
            rows.append(("requirements", escape("\n".join(pin.requirements))))
        if pin.notes:
            rows.append(("notes", escape("\n".join(pin.notes))))
    rows.append(("packages", "\n".join(pin.lock or []) or "- (not built yet)"))
    if pin.build_log:
        rows.append(("build log", pin.build_log))
    return details_table(rows)


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'dim')}]{status}[/]"
