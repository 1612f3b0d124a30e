"""Batch endpoints and batch deployments: Azure ML CLI v2 field names, used as YAML schema, REST body, SDK argument
and stored JSON; and what the REST API answers about them. Imports no server, store or extra."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from kiln.specs.bounded import Name, PathText, Tags, Text
from kiln.specs.endpoint import DEPLOYMENT_NAME_PATTERN, ENDPOINT_NAME_PATTERN, CodeConfiguration, InlineModel
from kiln.specs.job import StrictModel
from kiln.specs.views import View

MAX_MINI_BATCH_SIZE = 100_000
MAX_CONCURRENCY = 64
MAX_INSTANCES = 64
MAX_RETRIES = 100
MAX_TIMEOUT_SECONDS = 86_400
DEFAULT_OUTPUT_FILE = "predictions.csv"
BATCH_AUTH_MODES = ("aad_token", "aml_token")
InputType = Literal["uri_folder", "uri_file", "mltable"]


def normalize_batch_auth_mode(value: Any) -> Any:
    """Azure's batch endpoints know one mode, ``aad_token`` (a Microsoft Entra token of a workspace user); kiln reads
    it, and ``aml_token``, as a workspace user's API token (contributor or owner to invoke). ``key`` is refused."""
    if not isinstance(value, str):
        return value
    folded = value.strip().lower().replace("_", "").replace("-", "")
    if folded in ("aadtoken", "amltoken"):
        return "aad_token" if folded == "aadtoken" else "aml_token"
    if folded == "key":
        raise ValueError(
            "'key': batch endpoints are invoked with a workspace user's token (as Azure's take an Entra token), not "
            "an endpoint key; use aad_token (or leave auth_mode out)"
        )
    raise ValueError(f"'{value}' is not an auth mode of a batch endpoint; use aad_token (or aml_token)")


class BatchEndpointDefaults(StrictModel):
    deployment_name: Name | None = Field(None, description="the deployment an invocation runs when it names none")


class BatchEndpointSpec(StrictModel):
    """``kiln batch-endpoint create -f endpoint.yml``."""

    schema_: PathText | None = Field(None, alias="$schema")
    name: str = Field(pattern=ENDPOINT_NAME_PATTERN, description="2-32 letters, digits and '-', starting with a letter")
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    auth_mode: Literal["aad_token", "aml_token"] = Field(
        "aad_token", description="both mean a workspace user's API token (contributor or owner), sent as Bearer"
    )
    defaults: BatchEndpointDefaults = Field(default_factory=BatchEndpointDefaults)

    @field_validator("auth_mode", mode="before", json_schema_input_type=str)
    @classmethod
    def _auth_mode_in_any_case(cls, value: Any) -> Any:
        return normalize_batch_auth_mode(value)


class RetrySettings(StrictModel):
    max_retries: int = Field(3, ge=0, le=MAX_RETRIES, description="tries of a failing mini-batch after the first")
    timeout: int = Field(30, ge=1, le=MAX_TIMEOUT_SECONDS, description="seconds a mini-batch may take per try")


class BatchResources(StrictModel):
    instance_count: int = Field(1, ge=1, le=MAX_INSTANCES, description="machines (Ray actors' groups); local is one")
    instance_type: Name | None = Field(None, description="accepted for Azure files; ignored")
    properties: dict[str, Any] = Field(default_factory=dict)


class BatchDeploymentSpec(StrictModel):
    """``kiln batch-deployment create -f deployment.yml``. ``model``: ``kiln:NAME:VERSION``, ``kiln:NAME@ALIAS``
    (``azureml:`` too), a local folder (uploaded), or ``{path: …}``. Without ``code_configuration`` the model must
    be an MLflow model: each file's rows go to its ``predict``."""

    schema_: PathText | None = Field(None, alias="$schema")
    type: Literal["model"] | None = Field(None, description="Azure's deployment type; model deployments only")
    name: str = Field(pattern=DEPLOYMENT_NAME_PATTERN)
    endpoint_name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    model: PathText | InlineModel
    code_configuration: CodeConfiguration | None = Field(
        None, description="a scoring script defining init() and run(mini_batch): a list of file paths in, rows out"
    )
    environment: PathText | dict[str, Any] | None = Field(None, description="default: the workspace's own Python")
    compute: Name = Field("local", description="local, a named local compute, or a Ray cluster (kiln:NAME)")
    resources: BatchResources = Field(default_factory=BatchResources)
    max_concurrency_per_instance: int = Field(1, ge=1, le=MAX_CONCURRENCY, description="worker processes (actors)")
    mini_batch_size: int = Field(10, ge=1, le=MAX_MINI_BATCH_SIZE, description="files per run() call")
    retry_settings: RetrySettings = Field(default_factory=RetrySettings)
    error_threshold: int = Field(
        -1, ge=-1, description="failed files tolerated before the job fails (-1: ignore every failure)"
    )
    logging_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    output_action: Literal["append_row", "summary_only"] = "append_row"
    output_file_name: str = Field(DEFAULT_OUTPUT_FILE, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    environment_variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("mini_batch_size", mode="before")
    @classmethod
    def _mini_batch_not_empty(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise ValueError(f"{value}: a mini-batch holds at least one file; give 1 or more")
        return value

    @field_validator("logging_level", mode="before", json_schema_input_type=str)
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("environment_variables", mode="before", json_schema_input_type=dict[str, str | int | float | bool])
    @classmethod
    def _variables_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
        return value


class BatchEndpointView(View):
    html_columns: ClassVar[tuple[str, ...]] = ("name", "default_deployment", "deployments", "created_at")

    name: str
    description: str | None = None
    tags: dict[str, Any] = {}
    auth_mode: str
    default_deployment: str | None = None
    deployments: list[str] = []
    invocation_url: str = Field(description="POST here (relative to the workspace) to invoke it")
    created_at: datetime
    created_by: str | None = None


class BatchDeploymentView(View):
    html_columns: ClassVar[tuple[str, ...]] = ("name", "endpoint_name", "model", "compute", "is_default")

    name: str
    endpoint_name: str
    model: str = Field(description="what an invocation scores with: kiln:NAME:VERSION, kiln:NAME@ALIAS or an upload")
    model_type: str
    scoring_script: str | None = None
    compute: str
    is_default: bool = False
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None


class BatchInvokeRequest(StrictModel):
    """The body of ``batch_endpoints.invoke``: what to score, with which deployment."""

    input: PathText = Field(
        description="a data asset (kiln:NAME:VERSION, kiln:NAME@latest), an upload (upload:…) or a datastore path"
    )
    input_type: InputType | None = Field(None, description="default: the data asset's type, else uri_folder")
    deployment: Name | None = Field(None, description="default: the endpoint's defaults.deployment_name")
    display_name: str | None = Field(None, max_length=255)
    experiment_name: str | None = Field(None, max_length=255)
