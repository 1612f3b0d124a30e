"""The model registry (on MLflow's): models, their versions, aliases and files."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kiln.api.operation import TAR, Operation
from kiln.errors import Conflict, MissingExtra, NotFound, Unavailable
from kiln.specs.bounded import Name, Text, TextTags
from kiln.specs.model import ModelSpec, ModelVersionView, ModelView
from kiln.specs.model_compare import CompareRequest, ModelComparison
from kiln.specs.roles import Role


class ModelUpdate(BaseModel):
    """The body of ``models.update``: the description and tags of the model, or of one version."""

    version: Name | None = None
    description: Text | None = None
    tags: TextTags = Field(default_factory=dict)


class AliasBody(BaseModel):
    version: Name


CREATE = Operation(
    "models.create", "POST", "/api/v1/models",
    summary="Register a model version",
    description="``path`` is an ``upload:`` reference, a ``runs:/<job>/<path>`` URI or a registered reference.",
    role=Role.CONTRIBUTOR, action="registering models",
    response=ModelVersionView, status_code=201, body=ModelSpec, errors=(Conflict, NotFound),
    limit="registrations",
)  # fmt: skip
LIST = Operation(
    "models.list", "GET", "/api/v1/models",
    summary="List models",
    role=Role.READER, action="listing models",
    response=list[ModelView], query=("include_archived",),
    limit="scans",
)  # fmt: skip
SHOW = Operation(
    "models.show", "GET", "/api/v1/models/{name}",
    summary="Read a model with its versions",
    role=Role.READER, action="reading models",
    response=ModelView, query=("include_archived",),
)  # fmt: skip
UPDATE = Operation(
    "models.update", "PATCH", "/api/v1/models/{name}",
    summary="Change a model's (or a version's) description and tags",
    role=Role.CONTRIBUTOR, action="updating models",
    response=ModelView, body=ModelUpdate,
)  # fmt: skip
SHOW_VERSION = Operation(
    "models.show_version", "GET", "/api/v1/models/{name}/versions/{version}",
    summary="Read a model version",
    description="``version`` may also be ``latest`` or an alias.",
    role=Role.READER, action="reading models",
    response=ModelVersionView,
)  # fmt: skip
ARCHIVE_VERSION = Operation(
    "models.archive_version", "POST", "/api/v1/models/{name}/versions/{version}/archive",
    summary="Archive a model version",
    role=Role.CONTRIBUTOR, action="archiving models",
    response=ModelVersionView,
)  # fmt: skip
RESTORE_VERSION = Operation(
    "models.restore_version", "POST", "/api/v1/models/{name}/versions/{version}/restore",
    summary="Restore an archived model version",
    role=Role.CONTRIBUTOR, action="restoring models",
    response=ModelVersionView,
)  # fmt: skip
FILES = Operation(
    "models.files", "GET", "/api/v1/models/{name}/versions/{version}/files",
    summary="Download a model version",
    description="The version's files as an uncompressed tar whose top folder is the model's name.",
    role=Role.READER, action="downloading models",
    response=bytes, media_type=TAR,
    limit="downloads",
)  # fmt: skip
SET_ALIAS = Operation(
    "models.set_alias", "PUT", "/api/v1/models/{name}/aliases/{alias}",
    summary="Point an alias at a version",
    role=Role.CONTRIBUTOR, action="setting model aliases",
    response=ModelVersionView, body=AliasBody,
)  # fmt: skip
DELETE_ALIAS = Operation(
    "models.delete_alias", "DELETE", "/api/v1/models/{name}/aliases/{alias}",
    summary="Remove an alias",
    role=Role.CONTRIBUTOR, action="deleting model aliases",
    response=ModelView,
)  # fmt: skip
COMPARE = Operation(
    "models.compare", "POST", "/api/v1/models/{name}/compare",
    summary="Compare a candidate version with a baseline on their runs' metrics, or scored on a data asset (a gate)",
    description="Versions are numbers, ``latest`` or ``@ALIAS``. The answer has one row per metric and "
    "``passed``; a version, alias or metric that does not exist is an error (404, 422), not a failed gate. "
    "With ``data`` and ``label`` both versions predict on the data asset's rows (in a sandboxed child process) "
    "and accuracy, f1, precision, recall (macro), rmse, mae or r2 are computed; a private data version: owners only.",
    role=Role.READER, action="comparing models",
    response=ModelComparison, body=CompareRequest, errors=(MissingExtra, Unavailable),
    audited=False,  # a reading POST (its body names the versions and metrics): it changes nothing
)  # fmt: skip
