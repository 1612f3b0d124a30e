"""The rollout capability's REST operations, declared as kiln.api's are (no server imported here)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from kiln.api.operation import Operation
from kiln.errors import Conflict, NotFound
from kiln.specs.bounded import Name
from kiln.specs.job import StrictModel
from kiln.specs.roles import Role

MAX_STEPS = 20
MAX_WINDOW_SECONDS = 3600.0
DEFAULT_WINDOW_SECONDS = 30.0

RolloutStatus = Literal["running", "succeeded", "rolled_back", "cancelled", "failed"]
Phase = Literal["mirror", "traffic"]


class RolloutRequest(StrictModel):
    """The body of ``rollouts.start``. ``steps``: the deployment's live share at each step, rising, ending at 100."""

    deployment: Name
    steps: list[int] = Field(min_length=1, max_length=MAX_STEPS)
    mirror: int = Field(0, ge=0, le=50, description="percent of requests copied to it first (0: no mirror phase)")
    max_error_rate: float = Field(0.01, ge=0, le=1, description="errors (5xx) / requests it may answer in a window")
    max_p99_ms: float | None = Field(None, gt=0, description="its p99 latency limit in a window (None: not watched)")
    window_seconds: float = Field(DEFAULT_WINDOW_SECONDS, gt=0, le=MAX_WINDOW_SECONDS)
    min_requests: int = Field(0, ge=0, description="requests a window must see before a step passes (0: any)")


class WindowResult(BaseModel):
    """What the deployment did during one step's window (so far, while the step runs)."""

    phase: Phase
    percent: int = Field(description="its live share, or the mirrored share in the mirror phase")
    requests: int = 0
    errors: int = 0
    error_rate: float = 0.0
    latency_p99_ms: float | None = None
    state: Literal["watching", "passed", "breached", "cancelled"] = "watching"


class RolloutView(BaseModel):
    endpoint: str
    deployment: str
    status: RolloutStatus
    steps: list[int]
    mirror: int
    max_error_rate: float
    max_p99_ms: float | None
    window_seconds: float
    min_requests: int
    traffic_before: dict[str, int] = Field(description="the split when it started (what a rollback restores)")
    mirror_before: dict[str, int]
    traffic: dict[str, int] = Field(description="the split now")
    windows: list[WindowResult] = Field(default_factory=list, description="one per phase so far, the last one live")
    reason: str | None = Field(None, description="why it rolled back, was cancelled or failed")
    cancel_requested: bool = Field(
        False, description="a cancel came through another server; the server running it stops it within a second"
    )
    started_by: str | None = None
    started_at: datetime
    ended_at: datetime | None = None


START = Operation(
    "rollouts.start", "POST", "/api/v1/online-endpoints/{name}/rollout",
    summary="Start a safe rollout of a deployment (mirror, then traffic steps watched; rolled back on a breach)",
    description="Runs in the server: the answer comes at once; read ``rollouts.show`` for its progress. One rollout "
    "at a time per endpoint. Every check (steps rising to 100, the deployment in the endpoint and ready, limits) "
    "is made before any traffic changes.",
    role=Role.CONTRIBUTOR, action="rolling out deployments",
    response=RolloutView, status_code=201, body=RolloutRequest, errors=(Conflict, NotFound),
)  # fmt: skip
SHOW = Operation(
    "rollouts.show", "GET", "/api/v1/online-endpoints/{name}/rollout",
    summary="Read the endpoint's latest rollout, live",
    description="Live on the server that runs it; through another server on the same database, as recorded at the "
    "start and end of its last window (the counters of the window under way may lag by one window). Kept across "
    "restarts: a rollout its server was running when it died is cancelled, its traffic put back, when it restarts.",
    role=Role.READER, action="reading rollouts",
    response=RolloutView, errors=(NotFound,),
)  # fmt: skip
CANCEL = Operation(
    "rollouts.cancel", "POST", "/api/v1/online-endpoints/{name}/rollout/cancel",
    summary="Stop the endpoint's running rollout and put its traffic back as it was",
    description="Through any server on the database. Through another server than the one running it, the answer "
    "waits a few seconds for that one to stop it (it checks once a second); if it has not by then (it is down), "
    "the answer is the rollout still running with ``cancel_requested``, which that server honours when it is back.",
    role=Role.CONTRIBUTOR, action="rolling out deployments",
    response=RolloutView, errors=(NotFound, Conflict),
)  # fmt: skip
