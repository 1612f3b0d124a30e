"""``kiln compute …``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kiln.cli.render import OutputFormat, OutputOption, console, details_table, list_table, print_output, when
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec
from kiln.specs.compute import ComputeUse, ComputeView

app = typer.Typer(
    help="Compute targets: 'local' (this machine), named local computes and Ray clusters.", no_args_is_help=True
)

NameOption = Annotated[str, typer.Option("--name", "-n", help="The compute target's name.")]
GIB = 1 << 30


@app.command("create")
def create(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="The compute target's YAML file.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Its name (overrides the file's).")] = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="local (this machine under a name of its own) or ray.")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="ray: the Ray dashboard's URL, e.g. http://HOST:8265.")
    ] = None,
    token_file: Annotated[
        str | None,
        typer.Option(
            "--token-file",
            help="ray: the file holding the cluster's token (its token authentication on), an absolute path on the "
            "workspace server's machine, mode 0600; read there at each connection, never stored (owner only).",
        ),
    ] = None,
    max_concurrent_jobs: Annotated[
        int | None,
        typer.Option("--max-concurrent-jobs", help="local: jobs it runs at once (default: local_concurrency)."),
    ] = None,
    gpus: Annotated[
        str | None, typer.Option("--gpus", help="local: the GPU ids its jobs may use, e.g. 0,1 (default: all).")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", help="A note for people.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Register a compute target; jobs then run there with compute: azureml:NAME (or NAME). --type local: this
    machine under a name of its own, with its own job limit and GPUs; --type ray: a Ray cluster (its dashboard
    must answer; --token-file names its token when it asks for one)."""
    if file is None and name is None:
        raise InvalidSpec(
            "give --file compute.yml, or --name NAME --type local, or --name NAME --type ray --address http://HOST:8265"
        )
    view = client().computes.create(
        file, name=name, type=type_, address=address, token_file=token_file,
        max_concurrent_jobs=max_concurrent_jobs, gpus=gpus, description=description,
    )  # fmt: skip
    print_output(view, output, lambda: details(view))


@app.command("list")
def list_(output: OutputOption = OutputFormat.table) -> None:
    """Every compute target with its capacity and what is in use now."""
    views = client().computes.list()
    print_output(views, output, lambda: computes_table(views))


@app.command("show")
def show(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """One compute target: address, capacity and use."""
    view = client().computes.get(name)
    print_output(view, output, lambda: details(view))


@app.command("delete")
def delete(name: NameOption) -> None:
    """Forget a named local compute or a Ray cluster (the cluster keeps running); refused while kiln jobs use it."""
    client().computes.delete(name)
    console.print(f"compute target [bold]{name}[/] deleted")


def computes_table(views: list[ComputeView]) -> Table:
    columns = ("name", "type", "nodes", "CPUs", "GPUs", "memory", "jobs", "address")
    table = list_table(*columns, no_wrap=columns[:-1])
    for view in views:
        use = view.use
        if use is None:
            table.add_row(view.name, view.type, "-", "-", "-", "-", "-", f"{view.address or ''} [red](unreachable)[/]")
            continue
        table.add_row(
            view.name, view.type, str(use.nodes), _taken(use.cpus_used, use.cpus), _taken(use.gpus_used, use.gpus),
            _memory(use), _jobs(use), view.address or "",
        )  # fmt: skip
    return table


def details(view: ComputeView) -> Table:
    rows = [("name", view.name), ("type", view.type)]
    shown = (("address", view.address), ("token file", view.token_file), ("description", view.description))
    rows += [(key, value) for key, value in shown if value]
    if view.gpus is not None:
        rows.append(("GPU ids", ", ".join(view.gpus) or "none"))
    use = view.use
    if use is not None:
        rows += [
            ("nodes", str(use.nodes)),
            ("CPUs", _taken(use.cpus_used, use.cpus) + ("" if use.cpus_used is not None else " (in use: unknown)")),
            ("GPUs", _taken(use.gpus_used, use.gpus)),
            ("memory", _memory(use)),
            ("jobs", _jobs(use)),
        ]
    if view.problem:
        rows.append(("problem", f"[red]{view.problem}[/]"))
    if view.created_at:
        rows.append(("created", when(view.created_at)))
    return details_table(rows)


def _number(value: float) -> str:
    return f"{value:g}"


def _taken(used: float | None, total: float) -> str:
    """``1/2`` (in use of total), or the total alone when use is not known."""
    return f"{_number(used)}/{_number(total)}" if used is not None else _number(total)


def _memory(use: ComputeUse) -> str:
    if use.memory_bytes is None:
        return "-"
    total = f"{use.memory_bytes / GIB:.1f} GiB"
    return f"{use.memory_used_bytes / GIB:.1f}/{total}" if use.memory_used_bytes is not None else total


def _jobs(use: ComputeUse) -> str:
    slots = f" of {use.job_slots} slots" if use.job_slots is not None else ""
    return f"{use.jobs_running} running{slots}, {use.jobs_queued} queued"
