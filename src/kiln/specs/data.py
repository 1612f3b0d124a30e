"""Data assets: the Azure ML CLI v2 data YAML and what the REST API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from kiln.specs.bounded import PathText, Tags, Text
from kiln.specs.job import StrictModel

DATA_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"
DATA_VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DATA_TYPES = ("uri_file", "uri_folder", "mltable")
LATEST = "latest"
DataType = Literal["uri_file", "uri_folder", "mltable"]


class DataSpec(StrictModel):
    """One version of a data asset. ``path`` is local for the CLI/SDK, ``upload:<hash>`` on the wire."""

    schema_: PathText | None = Field(None, alias="$schema")
    name: str = Field(pattern=DATA_NAME_PATTERN)
    version: str | None = Field(None, pattern=DATA_VERSION_PATTERN, description="Omitted: the next integer.")
    type: DataType = "uri_folder"
    path: PathText
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if value == LATEST:
            raise ValueError("'latest' is a label for the newest version, not a version of its own")
        return value


class DataAssetView(BaseModel):
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
