"""``kiln batch-endpoint …`` and ``kiln batch-deployment …``: parsing, one SDK call, rendering."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from kiln.batch.job_kind import PREDICTIONS_OUTPUT
from kiln.batch.spec import BatchDeploymentView, BatchEndpointView
from kiln.cli import render
from kiln.cli.render import OutputFormat, OutputOption, console, list_table, print_output, when
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec

endpoint_app = typer.Typer(help="Batch endpoints: score whole data sets as tracked jobs.", no_args_is_help=True)
deployment_app = typer.Typer(help="Deployments of models behind a batch endpoint.", no_args_is_help=True)

NameOption = Annotated[str, typer.Option("--name", "-n", help="The endpoint's name.")]
DeploymentOption = Annotated[str, typer.Option("--name", "-n", help="The deployment's name.")]
EndpointOption = Annotated[str, typer.Option("--endpoint-name", "-e", help="The endpoint's name.")]
FileOption = Annotated[Path, typer.Option("--file", "-f", help="The YAML file.")]


# Endpoints ---------------------------------------------------------------------------------------
@endpoint_app.command("create")
def create_endpoint(
    file: FileOption,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Overrides the file's name.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a batch endpoint (its first deployment becomes its default)."""
    view = client().batch_endpoints.create(file, **({"name": name} if name else {}))
    print_output(view, output, lambda: f"batch endpoint [bold]{view.name}[/] created")


@endpoint_app.command("list")
def list_endpoints(output: OutputOption = OutputFormat.table) -> None:
    """Batch endpoints with their deployments."""
    views = client().batch_endpoints.list()
    print_output(views, output, lambda: _endpoints_table(views))


@endpoint_app.command("show")
def show_endpoint(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """A batch endpoint: its default deployment and deployments."""
    view = client().batch_endpoints.get(name)
    print_output(view, output, lambda: _endpoints_table([view]))


@endpoint_app.command("delete")
def delete_endpoint(name: NameOption) -> None:
    """Delete a batch endpoint and its deployments (the jobs of its invocations are kept)."""
    client().batch_endpoints.delete(name)
    console.print(f"batch endpoint {name} deleted")


@endpoint_app.command("invoke")
def invoke(
    name: NameOption,
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="kiln:NAME@latest or kiln:NAME:VERSION (a data asset), a local folder or file (uploaded), or a "
            "datastore path azureml://datastores/NAME/paths/….",
        ),
    ],  # fmt: skip
    deployment: Annotated[
        str | None, typer.Option("--deployment", "-d", help="The deployment (default: the endpoint's).")
    ] = None,
    input_type: Annotated[
        str | None, typer.Option("--input-type", help="uri_folder, uri_file or mltable (default: the asset's).")
    ] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Follow the job's log until it ends.")] = False,
    output_path: Annotated[
        Path | None,
        typer.Option("--output-path", help="Wait for the job, then save its predictions file here."),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Score a data set with the endpoint: a tracked batch_scoring job, its predictions as its output."""
    if output_path is not None and output_path.is_dir():
        raise InvalidSpec(
            f"--output-path: {output_path} is a folder; name the file, e.g. {output_path / 'predictions.csv'}"
        )
    job = client().batch_endpoints.invoke(name, input, deployment_name=deployment, input_type=input_type)
    if not stream and output_path is None:
        print_output(
            job.view, output, lambda: f"job [bold]{job.name}[/] {job.status.value}  (kiln job stream -n {job.name})"
        )
        return
    from kiln.cli.job_actions import exit_code_of, wait_for_end

    render.err_console.print(f"[dim]job {job.name} submitted[/]")
    try:
        if stream:
            client().jobs.stream(job.name)
        ended = wait_for_end(job, say=lambda line: None)
    except KeyboardInterrupt:
        render.err_console.print(f"\nstopped watching; job {job.name} goes on (kiln job stream -n {job.name})")
        raise typer.Exit(130) from None
    print_output(ended.view, output, lambda: f"job [bold]{ended.name}[/] {ended.status.value}")
    if ended.status.value != "completed":
        raise typer.Exit(exit_code_of(ended.status))
    if output_path is not None:
        _save_predictions(ended.name, output_path)


def _save_predictions(job: str, target: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        client().jobs.download(job, folder, PREDICTIONS_OUTPUT)
        files = sorted(p for p in (Path(folder) / PREDICTIONS_OUTPUT).iterdir() if p.name != "summary.json")
        if not files:
            raise InvalidSpec(f"job {job} kept no predictions file (output_action: summary_only?); its summary is in "
                              f"kiln job download -n {job} --output-name {PREDICTIONS_OUTPUT}")  # fmt: skip
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[0], target)
    typer.echo(f"predictions saved to {target}")


@endpoint_app.command("list-jobs")
def list_jobs(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """The jobs of the endpoint's invocations, newest first."""
    from kiln.cli.list_tables import jobs_table

    views = client().batch_endpoints.list_jobs(name)
    print_output(views, output, lambda: jobs_table(views))


# Deployments -------------------------------------------------------------------------------------
@deployment_app.command("create")
def create_deployment(
    file: FileOption,
    set_default: Annotated[bool, typer.Option("--set-default", help="Make it the endpoint's default.")] = False,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Overrides the file's name.")] = None,
    endpoint_name: Annotated[str | None, typer.Option("--endpoint-name", "-e", help="Overrides the file's.")] = None,
    set_values: Annotated[
        list[str] | None, typer.Option("--set", help="KEY=VALUE over the file, e.g. --set mini_batch_size=5.")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create (or replace) a batch deployment; a local model or code folder is uploaded."""
    fields = {k: v for k, v in (("name", name), ("endpoint_name", endpoint_name)) if v}
    view = client().batch_deployments.create(file, set_default=set_default, set_values=set_values, **fields)
    default = " (the endpoint's default)" if view.is_default else ""
    print_output(view, output, lambda: f"batch deployment [bold]{view.endpoint_name}/{view.name}[/] created{default}")


@deployment_app.command("list")
def list_deployments(endpoint_name: EndpointOption, output: OutputOption = OutputFormat.table) -> None:
    """An endpoint's batch deployments."""
    views = client().batch_deployments.list(endpoint_name)
    print_output(views, output, lambda: _deployments_table(views))


@deployment_app.command("show")
def show_deployment(
    name: DeploymentOption, endpoint_name: EndpointOption, output: OutputOption = OutputFormat.table
) -> None:
    """A batch deployment."""
    view = client().batch_deployments.get(name, endpoint_name)
    print_output(view, output, lambda: _deployments_table([view]))


@deployment_app.command("delete")
def delete_deployment(name: DeploymentOption, endpoint_name: EndpointOption) -> None:
    """Delete a batch deployment (not the endpoint's default while others remain)."""
    client().batch_deployments.delete(name, endpoint_name)
    console.print(f"batch deployment {endpoint_name}/{name} deleted")


def _endpoints_table(views: list[BatchEndpointView]) -> Any:
    table = list_table("name", "default", "deployments", "created", no_wrap=("name",))
    for view in views:
        table.add_row(
            view.name, view.default_deployment or "-", ", ".join(view.deployments) or "-", when(view.created_at)
        )
    return table


def _deployments_table(views: list[BatchDeploymentView]) -> Any:
    table = list_table("name", "model", "script", "compute", "default", no_wrap=("name",))
    for view in views:
        table.add_row(view.name, view.model, view.scoring_script or "-", view.compute, "yes" if view.is_default else "")
    return table
