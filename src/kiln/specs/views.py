"""What the REST API answers with: read models shared by server, SDK and CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from kiln.specs.html_tables import HtmlTable
from kiln.specs.job_status import ACTIVE_STATUSES as ACTIVE_STATUSES  # the statuses live without pydantic
from kiln.specs.job_status import TERMINAL_STATUSES as TERMINAL_STATUSES
from kiln.specs.job_status import JobStatus
from kiln.specs.pins import EnvironmentPin, InputPin, ServerInterpreterPin

JOB_SORTS = ("created", "duration", "name", "status")
"""What a job list sorts by (``GET /api/v1/jobs?sort=``; a ``-`` first: descending)."""

LOGS_OUTPUT = "logs"
"""The output that holds a job's ``./logs`` (its TensorBoard folder), kept as Azure ML keeps it."""


class View(HtmlTable, BaseModel):
    """A REST answer's model, built on first use (``defer_build``): a client that lists jobs builds the list's
    parser once (``kiln.specs.adapters``), while the server works on its request, not each view at import."""

    model_config = ConfigDict(defer_build=True)


class JobOutputView(View):
    name: str
    type: str
    available: bool


class JobView(View):
    html_columns: ClassVar[tuple[str, ...]] = (
        "name", "type", "status", "experiment_name", "compute", "created_at", "duration_seconds",
    )  # fmt: skip

    id: str
    name: str
    type: str = "command"  # the job's kind (its spec's ``type``)
    display_name: str | None
    experiment_name: str
    experiment_id: str
    status: JobStatus
    compute: str
    command: str  # what the job runs, in one line (a command job: its command)
    code_hash: str | None
    created_at: datetime
    preparing_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    exit_code: int | None
    failure_reason: str | None
    inputs: dict[str, Any]
    outputs: list[JobOutputView]
    tags: dict[str, Any]
    mlflow_run_url: str
    pinned_inputs: dict[str, InputPin] = {}  # the exact versions the job's path inputs named
    environment: EnvironmentPin = Field(default_factory=ServerInterpreterPin)  # pinned, then as built
    gpu_ids: list[str] = []  # the GPUs the job holds (or held), as its CUDA_VISIBLE_DEVICES named them
    server_id: str | None = None  # the workspace server that claimed (runs, ran) the job
    created_by: str | None = None  # the user who submitted it (None: submitted before users existed)
    submission_id: str | None = None  # on a Ray compute target: the Ray job's submission id (ray job logs ID)
    isolation: str | None = None  # local compute: "sandboxed (bubblewrap, …)" or "not isolated: <why>"
    params: dict[str, str] | None = None
    metrics: dict[str, float] | None = None


class MetricHistory(View):
    """Every value logged for one MLflow metric, as three columns (compact for long histories);
    timestamps in milliseconds since the epoch. NaN and infinities travel as "NaN"/"Infinity" strings."""

    model_config = ConfigDict(ser_json_inf_nan="strings", defer_build=True)

    steps: list[int] = []
    values: list[float] = []
    timestamps: list[int] = []


class JobMetricsView(View):
    """All metric histories of a job's MLflow run, by metric key."""

    metrics: dict[str, MetricHistory]


class JobFileView(View):
    path: str  # relative to the folder listed
    size: int  # bytes


class JobFilesView(View):
    """The files of a job's code snapshot or of one of its outputs."""

    files: list[JobFileView]


class UploadView(View):
    reference: str
    kind: str
    content_hash: str


class JobPlanView(View):
    """What a dry run of a submission answers (``jobs.validate``): everything a submit would record, resolved and
    pinned, with nothing recorded, charged or stored."""

    type: str
    name: str | None  # None: a submit names the job by its run id
    display_name: str | None
    experiment_name: str
    compute: str
    command: str
    code_hash: str | None  # an uploaded code snapshot's content hash
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    pinned_inputs: dict[str, InputPin] = {}
    environment: EnvironmentPin = Field(default_factory=ServerInterpreterPin)
    pending_uploads: dict[str, str] = {}  # field → a path on the submitting machine, uploaded at submit
    privacy: dict[str, float] | None = None  # what a submit would charge each private input's budget
    notes: list[str] = []  # what a dry run could not check and a submit will
