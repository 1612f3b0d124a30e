"""Jobs: submit, list, read, rerun, cancel; their logs, metric histories and outputs."""

from __future__ import annotations

from kiln.api.operation import BYTES, EVENT_STREAM, TAR, TEXT, Operation
from kiln.api.paths import JOBS
from kiln.errors import AlreadyExists, Conflict, MissingExtra, NotFound, Unavailable
from kiln.specs.job_kinds import ANY_JOB_KIND
from kiln.specs.roles import Role
from kiln.specs.views import JobFilesView, JobMetricsView, JobPlanView, JobView

CREATE = Operation(
    "jobs.create", "POST", JOBS,
    summary="Submit a job",
    description="Local paths must have been uploaded first (``upload:`` references); named inputs must exist.",
    role=Role.CONTRIBUTOR, action="creating jobs",
    response=JobView, status_code=201, body=ANY_JOB_KIND, errors=(AlreadyExists, NotFound, Unavailable, MissingExtra),
)  # fmt: skip
LIST = Operation(
    "jobs.list", "GET", JOBS,
    summary="List jobs, newest first",
    description=(
        "Filters (each given one must hold): ``status`` (repeat it for several), ``experiment``, ``created_by``, "
        "``compute``, ``tag`` (``key=value``, or ``key``: the job has the tag; repeat it for several), ``q`` (in "
        "the name). ``sort`` "
        "(created, duration, name, status; ``-`` first for descending: ``-created`` is the default) and "
        "``offset`` page through them; with any of these the answer's ``X-Total-Count`` says how many match."
    ),
    role=Role.READER, action="listing jobs",
    response=list[JobView],
    query=("status", "limit", "experiment", "created_by", "compute", "tag", "q", "sort", "offset"),
    response_headers=(("X-Total-Count", "how many jobs match the filters (with filters, sort or offset)"),),
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
    description=(
        "Every value of every MLflow metric of the job, with its step and timestamp. With ``max_points``, "
        "each series is thinned on the server to at most that many points (each of equal step ranges keeps "
        "its lowest and highest value; the first and last point stay), for charts; ``since_step`` and "
        "``since_time`` (ms) keep only later points."
    ),
    role=Role.READER, action="reading metrics",
    response=JobMetricsView, query=("max_points", "since_step", "since_time"),
    limit="scans",
)  # fmt: skip
METRIC_STREAM = Operation(
    "jobs.metric_stream", "GET", "/api/v1/jobs/{name}/metrics/stream",
    summary="A job's new metric points as server-sent events",
    description=(
        "Server-sent events: ``metrics`` events whose data is a JobMetricsView of the points logged since the "
        "last event (the first: the series so far, each thinned to ``max_points``), until the job ends; then "
        "one ``end`` event with the job's status."
    ),
    role=Role.READER, action="reading metrics",
    response=str, media_type=EVENT_STREAM, query=("max_points",),
    limit="logs",
)  # fmt: skip
CODE_FILES = Operation(
    "jobs.code_files", "GET", "/api/v1/jobs/{name}/code/files",
    summary="List the files of a job's code snapshot",
    role=Role.READER, action="reading job code",
    response=JobFilesView,
)  # fmt: skip
CODE_FILE = Operation(
    "jobs.code_file", "GET", "/api/v1/jobs/{name}/code/file",
    summary="Download one file of a job's code snapshot (``path``)",
    role=Role.READER, action="reading job code",
    response=bytes, media_type=BYTES, query=("path",),
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
OUTPUT_FILES = Operation(
    "jobs.output_files", "GET", "/api/v1/jobs/{name}/outputs/{output}/files",
    summary="List the files of one output of a job",
    description="Once the job has ended ('logs': also while it runs).",
    role=Role.READER, action="downloading job outputs",
    response=JobFilesView, errors=(Conflict,),
)  # fmt: skip
OUTPUT_FILE = Operation(
    "jobs.output_file", "GET", "/api/v1/jobs/{name}/outputs/{output}/file",
    summary="Download one file of one output of a job (``path``)",
    role=Role.READER, action="downloading job outputs",
    response=bytes, media_type=BYTES, query=("path",), errors=(Conflict,),
    limit="downloads",
)  # fmt: skip
VALIDATE = Operation(
    "jobs.validate", "POST", "/api/v1/jobs/validate",
    summary="Check a job without submitting it (a dry run)",
    description=(
        "Every check ``jobs.create`` makes — the fields, the compute target, the code snapshot, the inputs and "
        "environment resolved and pinned, the capabilities' submission checks, a privacy budget's sufficiency — "
        "answering what a submit would record; nothing is recorded, charged, stored or created in MLflow. A path "
        "that is not an ``upload:`` reference is taken for a file on the client, to be uploaded at submit "
        "(``pending_uploads``)."
    ),
    role=Role.CONTRIBUTOR, action="validating jobs",
    response=JobPlanView, body=ANY_JOB_KIND, errors=(AlreadyExists, NotFound, Conflict, Unavailable, MissingExtra),
    audited=False,  # a dry run changes nothing kept; the submit it checks is audited
)  # fmt: skip
