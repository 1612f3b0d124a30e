"""What ``kiln job list`` and ``kiln job create`` do once their options are read, shared by typer's commands
(``kiln.cli.jobs``) and the fast front that reads the same options without typer (``kiln.cli.quick``).
Nothing here imports typer; a table of jobs is drawn without pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kiln.cli.list_tables import jobs_table, status_text
from kiln.cli.output import OutputFormat, print_json, print_output, show
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec
from kiln.specs.job_status import JobStatus

if TYPE_CHECKING:
    from kiln.sdk.jobs import Job

LIST_LIMIT = 50
"""How many jobs ``kiln job list`` shows when ``--limit`` is not given."""


def list_jobs(status: JobStatus | None, limit: int, output: OutputFormat) -> None:
    """The newest ``limit`` jobs: as JSON, the views (validated, as the SDK gives them); as a table, the rows the
    table shows, read without building the views (``Client.job_rows``)."""
    if output == OutputFormat.json:
        print_json([job.view for job in client().jobs.list(status, limit)])
    else:
        show(jobs_table(client().job_rows(status, limit)))


def submit_job(file: Path | None, rerun: str | None, overrides: list[str]) -> Job:
    """A job submitted from ``file`` (with ``--set`` overrides), or ``rerun`` again; a mix of these is refused."""
    if (file is None) == (rerun is None):
        raise InvalidSpec("give either --file (a job's YAML) or --rerun NAME (a job to run again)")
    if rerun is not None and overrides:
        raise InvalidSpec("--set cannot be combined with --rerun: a rerun repeats the job as it was")
    return client().jobs.rerun(rerun) if rerun is not None else client().jobs.create(file, overrides=overrides)  # type: ignore[arg-type]


def print_submitted(job: Job, output: OutputFormat) -> None:
    print_output(  # the view as JSON data: the server's answer as it came when the job holds it (no pydantic)
        job.view_data(),
        output,
        lambda: f"job [bold]{job.name}[/] {status_text(job.status)}  (kiln job stream -n {job.name})",
    )
