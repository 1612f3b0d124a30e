"""Registered models: Azure ML's model YAML, and what the REST API answers about models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from kiln.specs.bounded import Name, PathText, Tags, Text
from kiln.specs.html_tables import HtmlTable
from kiln.specs.job import StrictModel

ModelType = Literal["mlflow_model", "custom_model"]


MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"  # a registered model's name


class ModelSpec(StrictModel):
    """``kiln model create -f model.yml``. ``path``: a local folder or file (uploaded by the
    CLI/SDK as ``upload:<hash>``), ``runs:/JOB/PATH``, or a job output
    ``azureml://jobs/JOB/outputs/OUTPUT`` (``kiln://`` too)."""

    schema_: PathText | None = Field(None, alias="$schema")
    name: str = Field(pattern=MODEL_NAME_PATTERN)
    version: Name | None = Field(
        None, description="MLflow numbers versions 1, 2, 3…; if given it must be the next one."
    )
    type: ModelType = "mlflow_model"
    path: PathText
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)


class ModelVersionView(HtmlTable, BaseModel):
    name: str
    version: str
    type: str
    description: str | None
    tags: dict[str, str]
    aliases: list[str]
    source: str
    job: str | None = Field(None, description="The job (= MLflow run) that produced it")
    created_at: datetime
    archived: bool
    uri: str = Field(description="models:/NAME/VERSION, for the mlflow client")
    created_by: str | None = Field(None, description="who registered it (its kiln.created_by tag; None: before users)")


class ModelView(HtmlTable, BaseModel):
    name: str
    description: str | None
    aliases: dict[str, str]
    latest_version: str | None
    versions: list[ModelVersionView] = Field(default_factory=list)


class LineageNode(BaseModel):
    """One node of a lineage graph, with the nodes it came from (upstream)."""

    kind: Literal["model", "job", "data", "upload", "environment", "code", "deployment"]
    id: str
    details: dict[str, Any] = Field(default_factory=dict)
    upstream: list[LineageNode] = Field(default_factory=list)
