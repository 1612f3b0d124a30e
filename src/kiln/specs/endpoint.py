"""Online endpoints and deployments: Azure ML CLI v2 field names, used as YAML schema, REST
body, SDK argument and stored JSON; and what the REST API answers about them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from kiln.specs.bounded import (
    MAX_CONCURRENT_REQUESTS,
    MAX_PROBE_SECONDS,
    MAX_PROBE_THRESHOLD,
    MAX_PROBE_TIMEOUT_SECONDS,
    MAX_REPLICAS,
    MAX_REQUEST_TIMEOUT_MS,
    Name,
    PathText,
    Tags,
    Text,
    TextVariables,
)
from kiln.specs.html_tables import HtmlTable
from kiln.specs.job import StrictModel
from kiln.specs.model import ModelType
from kiln.specs.replica import RUNTIMES, BatchingSettings, EncryptionSettings, OnnxRuntimeSettings

ENDPOINT_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9-]{1,31}$"
DEPLOYMENT_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9-]{1,31}$"
MAX_MIRROR_PERCENT = 50  # Azure ML's limit: mirroring is for testing, not for doubling load


def check_traffic(traffic: dict[str, int], field: str) -> dict[str, int]:
    """Live traffic: whole percentages that sum to 0 (no traffic yet) or 100."""
    for name, share in traffic.items():
        if not 0 <= share <= 100:
            raise ValueError(f"{field}: {name}={share} is not a percentage between 0 and 100")
    total = sum(traffic.values())
    if total not in (0, 100):
        shares = " ".join(f"{k}={v}" for k, v in traffic.items())
        raise ValueError(f"{field}: the shares must sum to 100 (or 0 for no traffic), but {shares} sums to {total}")
    return traffic


def check_mirror_traffic(mirror: dict[str, int], traffic: dict[str, int], field: str) -> dict[str, int]:
    """Mirrored traffic: at most one deployment, at most 50 %, and not one that takes live traffic."""
    shares = {name: share for name, share in mirror.items() if share}
    for name, share in mirror.items():
        if not 0 <= share <= MAX_MIRROR_PERCENT:
            raise ValueError(f"{field}: {name}={share}; a mirrored share is between 0 and {MAX_MIRROR_PERCENT} percent")
    if len(shares) > 1:
        raise ValueError(f"{field}: only one deployment can receive mirrored traffic, not {', '.join(shares)}")
    for name in shares:
        if traffic.get(name, 0) > 0:
            raise ValueError(
                f"{field}: '{name}' takes live traffic ({traffic[name]} %); mirror only to a deployment with 0 % live traffic"
            )
    return mirror


def parse_traffic_text(text: str, flag: str) -> dict[str, int]:
    """``"blue=90 green=10"`` (spaces or commas between pairs) → ``{"blue": 90, "green": 10}``."""
    shares: dict[str, int] = {}
    for pair in text.replace(",", " ").split():
        name, sep, value = pair.partition("=")
        if not sep or not name or not value.strip().isdigit():
            raise ValueError(f'{flag}: {pair!r} is not NAME=PERCENT, e.g. {flag} "blue=90 green=10"')
        shares[name] = int(value)
    return shares


AUTH_MODES = {"key": "key", "amltoken": "aml_token"}


def normalize_auth_mode(value: Any) -> Any:
    """Azure's ``auth_mode`` in any of its spellings (``key``, ``Key``, ``aml_token``, ``AMLToken``) → ``key`` or
    ``aml_token``; ``aad_token`` is refused with what to use instead."""
    if not isinstance(value, str):
        return value
    folded = value.strip().lower().replace("_", "").replace("-", "")
    if folded in AUTH_MODES:
        return AUTH_MODES[folded]
    if folded == "aadtoken":
        raise ValueError(
            f"'{value}' (Microsoft Entra ID tokens) is not available in kiln; use key (the endpoint's keys) or "
            "aml_token (a workspace user's API token)"
        )
    raise ValueError(f"'{value}' is not an auth mode; use key or aml_token (in any case: Key, AMLToken)")


class OnlineEndpointSpec(StrictModel):
    """``kiln online-endpoint create -f endpoint.yml``."""

    schema_: PathText | None = Field(None, alias="$schema")
    name: str = Field(pattern=ENDPOINT_NAME_PATTERN, description="2-32 letters, digits and '-', starting with a letter")
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    auth_mode: Literal["key", "aml_token"] = Field(
        "key",
        description="key: a primary and a secondary key, sent as Bearer; aml_token: a workspace user's API token "
        "(contributor or owner), sent as Bearer. Any case (Key, AMLToken).",
    )
    traffic: dict[str, int] = Field(default_factory=dict, description="deployment → percent; sums to 0 or 100")
    mirror_traffic: dict[str, int] = Field(default_factory=dict, description="deployment → percent copied to it")

    @field_validator("auth_mode", mode="before", json_schema_input_type=str)  # any case
    @classmethod
    def _auth_mode_in_any_case(cls, value: Any) -> Any:
        return normalize_auth_mode(value)

    @field_validator("traffic")
    @classmethod
    def _traffic_sums(cls, value: dict[str, int]) -> dict[str, int]:
        return check_traffic(value, "traffic")

    def checked_mirror(self) -> dict[str, int]:
        return check_mirror_traffic(self.mirror_traffic, self.traffic, "mirror_traffic")


class CodeConfiguration(StrictModel):
    code: PathText = Field(description="a local folder (uploaded by the CLI/SDK) or upload:<hash>")
    scoring_script: PathText = Field(description="relative to code; defines init() and run(raw_data)")


class InlineModel(StrictModel):
    """Azure's inline model. With ``name``, kiln registers it as that model (``version``: the version it
    gets, or the existing version of that number when its files are the same); without, it serves the
    files unregistered."""

    path: PathText
    type: ModelType = "mlflow_model"
    name: Name | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
    version: str | None = Field(
        None, pattern=r"^[1-9][0-9]{0,8}$", description="a whole number, as the registry counts"
    )
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)

    @field_validator("version", mode="before", json_schema_input_type=str | int | None)
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("version")
    @classmethod
    def _version_needs_a_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not info.data.get("name"):
            raise ValueError("a version belongs to a registered model; give model.name too (or leave version out)")
        return value


class RequestSettings(StrictModel):
    request_timeout_ms: int = Field(5000, ge=1, le=MAX_REQUEST_TIMEOUT_MS)
    max_concurrent_requests_per_instance: int = Field(64, ge=1, le=MAX_CONCURRENT_REQUESTS)


class ProbeSettings(StrictModel):
    """Azure's probe fields. kiln probes more often than ``period`` while a replica starts; a
    replica that is not ready after ``initial_delay + period × failure_threshold`` seconds failed."""

    initial_delay: int = Field(10, ge=0, le=MAX_PROBE_SECONDS)
    period: int = Field(10, ge=1, le=MAX_PROBE_SECONDS)
    timeout: int = Field(2, ge=1, le=MAX_PROBE_TIMEOUT_SECONDS)
    success_threshold: int = Field(1, ge=1, le=MAX_PROBE_THRESHOLD)
    failure_threshold: int = Field(30, ge=1, le=MAX_PROBE_THRESHOLD)

    @property
    def deadline_seconds(self) -> float:
        return float(self.initial_delay + self.period * self.failure_threshold)


class OnlineDeploymentSpec(StrictModel):
    """``kiln online-deployment create -f blue.yml``. ``model``: ``kiln:NAME:VERSION``,
    ``kiln:NAME@ALIAS`` (``azureml:`` too), a local folder (uploaded), or ``{path: …}``."""

    schema_: PathText | None = Field(None, alias="$schema")
    name: str = Field(pattern=DEPLOYMENT_NAME_PATTERN)
    endpoint_name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    model: PathText | InlineModel
    code_configuration: CodeConfiguration | None = None
    environment: str | dict[str, Any] | None = Field(
        None, description="not needed for MLflow models (no-code deployment); replicas run in kiln's own Python"
    )
    environment_variables: TextVariables = Field(default_factory=dict)
    instance_type: Name | None = Field(None, description="accepted for Azure files; local replicas ignore it")
    app_insights_enabled: bool | None = Field(None, description="accepted for Azure files; kiln has its own metrics")
    egress_public_network_access: Literal["enabled", "disabled"] | None = Field(
        None, description="accepted for Azure files; local replicas ignore it (the machine's network applies)"
    )
    instance_count: int = Field(1, ge=1, le=MAX_REPLICAS, description="how many replica processes")
    request_settings: RequestSettings = Field(default_factory=RequestSettings)
    liveness_probe: ProbeSettings = Field(default_factory=ProbeSettings)
    readiness_probe: ProbeSettings = Field(default_factory=ProbeSettings)
    batching: BatchingSettings = Field(
        default_factory=BatchingSettings,
        description="kiln's own field: adaptive batching of concurrent requests (max_batch_size: 1 turns it off)",
    )
    runtime: str = Field(
        "native",
        description="kiln's own field: native (the model's flavor through MLflow) or onnx (ONNX Runtime; an "
        "sklearn or PyTorch model is converted when its replicas start, and refused when parity fails)",
    )
    onnx: OnnxRuntimeSettings = Field(
        default_factory=OnnxRuntimeSettings,
        description="kiln's own field: ONNX Runtime's threads (for ONNX models and runtime: onnx) and the parity tolerance",
    )
    encryption: EncryptionSettings | None = Field(
        None,
        description="kiln's own field: {scheme: ckks} scores only homomorphically encrypted requests "
        "(kiln.encrypted.EncryptedClient, kiln online-endpoint invoke --encrypted); linear models and square networks",
    )

    @field_validator("runtime", mode="before", json_schema_input_type=str)  # any case
    @classmethod
    def _known_runtime(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in RUNTIMES:
            return value.strip().lower()
        known = "; ".join(f"{name}: {what}" for name, what in RUNTIMES.items())
        raise ValueError(f"{value!r} is not a runtime kiln serves with; use one of {known}")

    @model_validator(mode="after")
    def _onnx_runtime_serves_a_model(self) -> OnlineDeploymentSpec:
        if self.runtime == "onnx" and self.code_configuration is not None:
            raise ValueError(
                "runtime: onnx serves an MLflow model's ONNX graph, with no code; remove code_configuration "
                "(or runtime, to run the scoring script)"
            )
        return self

    @model_validator(mode="after")
    def _encryption_serves_a_model(self) -> OnlineDeploymentSpec:
        if self.encryption is not None and (self.code_configuration is not None or self.runtime != "native"):
            raise ValueError(
                "encryption scores the model's own weights on ciphertexts, with no scoring script and the native "
                "runtime; remove code_configuration and runtime (or encryption)"
            )
        return self

    @field_validator("environment_variables", mode="before", json_schema_input_type=dict[str, str | int | float | bool])
    @classmethod
    def _variables_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
        return value

    @property
    def model_path(self) -> str:
        return self.model if isinstance(self.model, str) else self.model.path


class DeploymentState(StrEnum):
    CREATING = "creating"
    UPDATING = "updating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DELETING = "deleting"


class ReplicaView(BaseModel):
    """What a user needs to know of one replica. Not where it listens nor its process id: a replica
    answers only the workspace's gateway, and nobody, owner included, reaches it but through the
    scoring URI; the server's log names both for whoever operates the machine."""

    index: int
    generation: int
    state: str = Field(description="starting, ready or stopping")
    restarts: int = Field(0, description="how many times this replica was started again after it died")
    started_at: datetime | None = Field(None, description="when this replica's process started")


class DeploymentMetricsView(BaseModel):
    requests: int = 0
    errors: int = Field(0, description="answers of 5xx, and requests no replica answered")
    mirrored: int = Field(0, description="mirrored copies sent to it (their answers are discarded)")
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None


class OnlineDeploymentView(HtmlTable, BaseModel):
    name: str
    endpoint_name: str
    state: DeploymentState
    failure_reason: str | None
    model: str = Field(description="what the spec asked for")
    model_name: str | None
    model_version: str | None = Field(None, description="the exact version served (pinned at create/update)")
    instance_count: int
    ready_replicas: int
    replicas: list[ReplicaView]
    generation: int = Field(description="grows with each update; replicas roll to the newest")
    created_at: datetime
    updated_at: datetime
    metrics: DeploymentMetricsView = Field(default_factory=DeploymentMetricsView)
    spec: dict[str, Any]
    created_by: str | None = Field(None, description="the user who created it (None: created before users existed)")


class OnlineEndpointView(HtmlTable, BaseModel):
    name: str
    description: str | None
    tags: dict[str, Any]
    auth_mode: str
    scoring_uri: str
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    created_at: datetime
    updated_at: datetime
    deployments: list[OnlineDeploymentView] = Field(default_factory=list)
    created_by: str | None = Field(None, description="the user who created it (None: created before users existed)")


class EndpointKeys(BaseModel):
    primary_key: str
    secondary_key: str


class EndpointUpdate(BaseModel):
    """The body of PATCH /api/v1/online-endpoints/{name}: only what is given changes."""

    traffic: dict[str, int] | None = None
    mirror_traffic: dict[str, int] | None = None
    description: Text | None = None
    tags: Tags | None = None
