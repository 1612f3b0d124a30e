"""``kiln job …``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kiln.cli import child_jobs, render
from kiln.cli.job_actions import (
    LIST_LIMIT,
    exit_code_of,
    list_jobs,
    plan_job,
    print_submitted,
    submit_job,
    wait_for_end,
)
from kiln.cli.list_tables import jobs_table
from kiln.cli.render import OutputFormat, OutputOption, job_details, plan_details, print_output, status_text
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec
from kiln.specs.views import JobStatus

app = typer.Typer(help="Train and track jobs (command jobs, and every other registered type).", no_args_is_help=True)

SWEEP = "sweep"  # = kiln.sweeps.spec.JOB_TYPE: its trials are shown (the CLI does not import the capability)
PARENTS = (SWEEP, "pipeline")  # kinds whose children (trials, steps) are shown, live with --stream
NameOption = Annotated[str, typer.Option("--name", "-n", help="The job's name (or its id).")]


@app.command("create")
def create(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="The job's YAML file.")] = None,
    rerun: Annotated[
        str | None,
        typer.Option("--rerun", help="Run job NAME again: same spec, code, inputs and exact recorded environment."),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: --set limits.timeout=60 (repeatable).")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Follow the log until the job ends, then show its result.")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait until the job ends (its status changes on stderr), then show its result; exit code 0 only "
            "if it completed (1 failed, 9 canceled).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check everything a submit checks (fields, references, inputs, code, the workspace's checks) and "
            "show what would be submitted; nothing is submitted, uploaded or recorded.",
        ),
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Submit a job of any registered type (or --rerun one); it runs in the background unless --stream or --wait
    is given."""
    if sum((stream, wait, dry_run)) > 1:
        raise InvalidSpec("give at most one of --stream, --wait and --dry-run")
    if dry_run:
        plan = plan_job(file, rerun, set_ or [])
        print_output(plan, output, lambda: plan_details(plan))
        return
    job = submit_job(file, rerun, set_ or [])
    if wait:
        render.err_console.print(
            f"[dim]job {job.name} submitted; waiting for its end (Ctrl+C stops waiting, not the job)[/]"
        )
        try:
            ended = wait_for_end(job)
        except KeyboardInterrupt:
            render.err_console.print(f"\nstopped waiting; job {job.name} goes on (kiln job show -n {job.name})")
            raise typer.Exit(130) from None
        print_output(ended.view, output, lambda: job_details(ended.view))
        raise typer.Exit(exit_code_of(ended.status))
    if not stream:
        print_submitted(job, output)
        return
    render.err_console.print(
        f"[dim]job {job.name} submitted; streaming its log (Ctrl+C stops watching, not the job)[/]"
    )
    _follow(job.name, output)


def _follow(name: str, output: OutputFormat) -> None:
    try:
        if client().jobs.get(name).view.type in PARENTS:
            child_jobs.follow_sweep(name)  # a sweep or pipeline has no log of its own: its children's table, live
        else:
            client().jobs.stream(name)
    except KeyboardInterrupt:
        render.err_console.print(f"\nstopped watching; job {name} goes on (kiln job stream -n {name})")
        raise typer.Exit(130) from None
    _finish(name, output)


def _finish(name: str, output: OutputFormat) -> None:
    job = client().jobs.get(name, run_data=True)
    print_output(job.view, output, lambda: job_details(job.view))
    if job.status != JobStatus.COMPLETED:
        raise typer.Exit(exit_code_of(job.status))


@app.command("list")
def list_(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs with this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = LIST_LIMIT,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Only the child jobs of job NAME (a sweep's trials), oldest first.")
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", help="Only jobs with this tag: KEY=VALUE (that value) or KEY (any value); repeat for several."
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List jobs, newest first."""
    if parent is not None:
        trials = child_jobs.children(parent, limit, tags or [])
        print_output([trial.view for trial in trials], output, lambda: jobs_table([trial.view for trial in trials]))
        return
    list_jobs(status, limit, output, tags or [])


@app.command("show")
def show(name: NameOption, output: OutputOption = OutputFormat.table) -> None:
    """Status, timings, inputs, outputs, params, latest metrics and the MLflow run link."""
    job = client().jobs.get(name, run_data=True)
    view = job.view
    print_output(view, output, lambda: job_details(view))
    if view.type in PARENTS and output == OutputFormat.table:
        render.console.print(child_jobs.children_table(job, child_jobs.children(view.name)))


@app.command("stream")
def stream(name: NameOption) -> None:
    """Follow a job's log until it ends, then show its result."""
    _follow(name, OutputFormat.table)


@app.command("cancel")
def cancel(
    name: NameOption, wait: Annotated[bool, typer.Option(help="Wait until the job has stopped.")] = True
) -> None:
    """Cancel a queued or running job; its whole process tree is ended."""
    job = client().jobs.cancel(name)
    if wait:
        job.wait(timeout=120, poll=0.2)
    render.console.print(f"job [bold]{job.name}[/] {status_text(job.status)}")


@app.command("download")
def download(
    name: NameOption,
    output_name: Annotated[
        str | None, typer.Option("--output-name", help="One output (default: all; 'default' is ./outputs).")
    ] = None,
    download_path: Annotated[
        Path, typer.Option("--download-path", help="Folder to write into (default: ./<job name>).")
    ] = None,  # type: ignore[assignment]
) -> None:
    """Download a job's outputs, each into its own folder."""
    target = download_path or Path(name)
    written = client().jobs.download(name, target, output_name)
    if not written:
        render.console.print(f"job {name} has no outputs to download")
    for path in written:
        render.console.print(f"downloaded {path}")
