"""Data assets: the Azure ML CLI v2 data YAML and what the REST API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from kiln.specs.bounded import PathText, Tags, Text
from kiln.specs.html_tables import HtmlTable
from kiln.specs.job import StrictModel

DATA_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"
DATA_VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DATA_TYPES = ("uri_file", "uri_folder", "mltable")
LATEST = "latest"
DataType = Literal["uri_file", "uri_folder", "mltable"]


class DataPrivacy(StrictModel):
    """A private version's privacy budget (fixed with the version) and its SmartNoise table metadata.

    ``metadata`` is one table's SmartNoise metadata: table options (``max_ids``, ``row_privacy``…) and one
    entry per column (``type``, ``lower``/``upper`` bounds, ``private_id``). In a YAML file it may be a path to
    a YAML file beside it, which the CLI/SDK reads and sends inline."""

    epsilon: float = Field(gt=0, le=100, description="The total epsilon every query, synthesis and job may spend.")
    delta: float = Field(0.0, ge=0, lt=1, description="The total delta (0: pure epsilon-DP mechanisms only).")
    metadata: dict[str, Any] | PathText = Field(description="SmartNoise table metadata, inline or a YAML file's path.")


class DataSpec(StrictModel):
    """One version of a data asset. ``path`` is local for the CLI/SDK, ``upload:<hash>`` on the wire."""

    schema_: PathText | None = Field(None, alias="$schema")
    name: str = Field(pattern=DATA_NAME_PATTERN)
    version: str | None = Field(None, pattern=DATA_VERSION_PATTERN, description="Omitted: the next integer.")
    type: DataType = "uri_folder"
    path: PathText
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    privacy: DataPrivacy | None = Field(None, description="Makes the version private: raw rows for owners only.")

    @field_validator("version", mode="before", json_schema_input_type=str | int | None)
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if value == LATEST:
            raise ValueError("'latest' is a label for the newest version, not a version of its own")
        return value


class DataAssetView(HtmlTable, BaseModel):
    name: str
    version: str
    type: DataType
    content_hash: str
    description: str | None
    tags: dict[str, Any]
    created_at: datetime
    archived: bool
    files: int = Field(description="How many files the version holds.")
    size_bytes: int
    created_by: str | None = Field(None, description="the user who created it (None: created before users existed)")
    remote_path: str | None = Field(
        None, description="A reference to remote data: the path it names (not copied; content_hash is what kiln read)."
    )
    privacy: DataPrivacy | None = Field(None, description="A private version's budget and metadata (kiln privacy).")
