"""Jobs: submit, list, read, rerun, cancel; their logs, metric histories and outputs."""

from __future__ import annotations

from kiln.api.operation import TAR, TEXT, Operation
from kiln.errors import AlreadyExists, Conflict, MissingExtra, NotFound, Unavailable
from kiln.specs.job_kinds import ANY_JOB_KIND
from kiln.specs.roles import Role
from kiln.specs.views import JobMetricsView, JobView

CREATE = Operation(
    "jobs.create", "POST", "/api/v1/jobs",
    summary="Submit a job",
    description="Local paths must have been uploaded first (``upload:`` references); named inputs must exist.",
    role=Role.CONTRIBUTOR, action="creating jobs",
    response=JobView, status_code=201, body=ANY_JOB_KIND, errors=(AlreadyExists, NotFound, Unavailable, MissingExtra),
)  # fmt: skip
LIST = Operation(
    "jobs.list", "GET", "/api/v1/jobs",
    summary="List jobs, newest first",
    role=Role.READER, action="listing jobs",
    response=list[JobView], query=("status", "limit"),
)  # fmt: skip
SHOW = Operation(
    "jobs.show", "GET", "/api/v1/jobs/{name}",
    summary="Read a job (by name or id)",
    role=Role.READER, action="reading jobs",
    response=JobView, query=("run_data",),
)  # fmt: skip
RERUN = Operation(
    "jobs.rerun", "POST", "/api/v1/jobs/{name}/rerun",
    summary="Run a job again",
    description="A new job with the same spec, code snapshot, pinned inputs and recorded environment (exact pins).",
    role=Role.CONTRIBUTOR, action="rerunning jobs",
    response=JobView, status_code=201,
)  # fmt: skip
CANCEL = Operation(
    "jobs.cancel", "POST", "/api/v1/jobs/{name}/cancel",
    summary="Cancel a job",
    description="A queued job ends at once; a running one is stopped (its process tree gets a grace period).",
    role=Role.CONTRIBUTOR, action="canceling jobs",
    response=JobView, errors=(Conflict,),
)  # fmt: skip
LOGS = Operation(
    "jobs.logs", "GET", "/api/v1/jobs/{name}/logs",
    summary="A job's log",
    description="From the start; with ``follow``, new lines as they come until the job ends.",
    role=Role.READER, action="reading job logs",
    response=str, media_type=TEXT, query=("follow",),
    limit="logs",
)  # fmt: skip
METRICS = Operation(
    "jobs.metrics", "GET", "/api/v1/jobs/{name}/metrics",
    summary="A job's metric histories",
    description="Every value of every MLflow metric of the job, with its step and timestamp.",
    role=Role.READER, action="reading metrics",
    response=JobMetricsView,
    limit="scans",
)  # fmt: skip
OUTPUT = Operation(
    "jobs.output", "GET", "/api/v1/jobs/{name}/outputs/{output}",
    summary="Download one output of a job",
    description=(
        "The output as an uncompressed tar whose top folder is the output's name. Outputs 'default' and "
        "'logs' are the job's ./outputs and ./logs; 'logs' can be read while the job runs."
    ),
    role=Role.READER, action="downloading job outputs",
    response=bytes, media_type=TAR, errors=(Conflict,),
    limit="downloads",
)  # fmt: skip
