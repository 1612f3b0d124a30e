"""What ``kiln job list`` and ``kiln job create`` do once their options are read, shared by typer's commands
(``kiln.cli.jobs``) and the fast front that reads the same options without typer (``kiln.cli.quick``).
Nothing here imports typer; a table of jobs is drawn without pydantic."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.cli.list_tables import jobs_table, status_text
from kiln.cli.output import OutputFormat, print_json, print_output, show
from kiln.cli.workspace import client
from kiln.errors import InvalidSpec
from kiln.specs.job_status import JobStatus
from kiln.specs.tag_filters import parse_tag_filters

if TYPE_CHECKING:
    from kiln.sdk.jobs import Job
    from kiln.specs.views import JobPlanView

LIST_LIMIT = 50
"""How many jobs ``kiln job list`` shows when ``--limit`` is not given."""

JOB_EXIT_CODES = {JobStatus.COMPLETED: 0, JobStatus.FAILED: 1, JobStatus.CANCELED: 9}
"""What ``kiln job create --wait`` (and ``--stream``, ``kiln job stream``) exits with once the job has ended: 0 only
if it completed. 9 is no error's code (kiln.errors: 2 to 8; 130 is Ctrl+C), so a script tells a canceled job
from a refused command; 1 is a failed job, as it always was for ``--stream``."""
WAIT_POLL_SECONDS = 1.0


def list_jobs(status: JobStatus | None, limit: int, output: OutputFormat, tags: Sequence[str] = ()) -> None:
    """The newest ``limit`` jobs (with each ``--tag`` KEY=VALUE or KEY, if given): as JSON, the views (validated,
    as the SDK gives them); as a table, the rows the table shows, read without building the views
    (``Client.job_rows``)."""
    wanted = parse_tag_filters(tags, "--tag")
    if output == OutputFormat.json:
        print_json([job.view for job in client().jobs.list(status, limit, wanted)])
    else:
        show(jobs_table(client().job_rows(status, limit, wanted)))


def submit_job(file: Path | None, rerun: str | None, overrides: list[str]) -> Job:
    """A job submitted from ``file`` (with ``--set`` overrides), or ``rerun`` again; a mix of these is refused."""
    _check_source(file, rerun, overrides)
    return client().jobs.rerun(rerun) if rerun is not None else client().jobs.create(file, overrides=overrides)  # type: ignore[arg-type]


def _check_source(file: Path | None, rerun: str | None, overrides: list[str]) -> None:
    if (file is None) == (rerun is None):
        raise InvalidSpec("give either --file (a job's YAML) or --rerun NAME (a job to run again)")
    if rerun is not None and overrides:
        raise InvalidSpec("--set cannot be combined with --rerun: a rerun repeats the job as it was")


def plan_job(file: Path | None, rerun: str | None, overrides: list[str]) -> JobPlanView:
    """``--dry-run``: what ``file`` (with ``--set`` overrides) would submit, checked by the workspace; nothing
    submitted, uploaded or recorded."""
    _check_source(file, rerun, overrides)
    if rerun is not None:
        raise InvalidSpec("--dry-run checks a job's YAML (--file); a rerun repeats a job the workspace already checked")
    assert file is not None  # _check_source: a file where no rerun is given
    return client().jobs.create(file, overrides=overrides, dry_run=True)


def exit_code_of(status: JobStatus) -> int:
    return JOB_EXIT_CODES.get(status, 1)


def wait_for_end(job: Job, say: Callable[[str], object] | None = None, poll: float = WAIT_POLL_SECONDS) -> Job:
    """Poll ``job`` until it has ended, saying each change of status (with the time since the wait began) on
    stderr; the ended job (its params and metrics read)."""
    tell = say or _to_stderr
    began, last = time.monotonic(), None
    while True:
        if job.status != last:
            last = job.status
            tell(f"job {job.name}: {last.value} ({time.monotonic() - began:.0f} s)")
        if last.is_terminal:
            return job.refresh(run_data=True)
        time.sleep(poll)
        job.refresh()


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def print_submitted(job: Job, output: OutputFormat) -> None:
    print_output(  # the view as JSON data: the server's answer as it came when the job holds it (no pydantic)
        job.view_data(),
        output,
        lambda: f"job [bold]{job.name}[/] {status_text(job.status)}  (kiln job stream -n {job.name})",
    )
