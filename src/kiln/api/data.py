"""Data assets: immutable versions whose content arrives first as an upload."""

from __future__ import annotations

from kiln.api.operation import TAR, Operation
from kiln.errors import AlreadyExists, Conflict, MissingExtra, NotFound, Unavailable
from kiln.specs.data import DataAssetView, DataSpec
from kiln.specs.roles import Role

CREATE = Operation(
    "data.create", "POST", "/api/v1/data",
    summary="Create a data asset version",
    description="Its ``path`` is an ``upload:<hash>`` reference (the same content again is a no-op), or a remote "
    "path (``https://``, ``s3://``, ``azureml://datastores/NAME/paths/…``…), recorded with the hash of what was read "
    "(503 when the store does not answer, 501 when its extra is not installed).",
    role=Role.CONTRIBUTOR, action="creating data assets",
    response=DataAssetView, status_code=201, body=DataSpec, errors=(AlreadyExists, Conflict, Unavailable, MissingExtra),
)  # fmt: skip
LIST = Operation(
    "data.list", "GET", "/api/v1/data",
    summary="List data assets",
    description="The latest version of each asset, or every version of ``name`` (newest first; 404 if there is "
    "no asset of that name).",
    role=Role.READER, action="listing data assets",
    response=list[DataAssetView], query=("name", "include_archived"), errors=(NotFound,),
)  # fmt: skip
SHOW = Operation(
    "data.show", "GET", "/api/v1/data/{name}/versions/{version}",
    summary="Read a data asset version",
    description="``latest`` is the newest version that is not archived.",
    role=Role.READER, action="reading data assets",
    response=DataAssetView,
)  # fmt: skip
CONTENT = Operation(
    "data.content", "GET", "/api/v1/data/{name}/versions/{version}/content",
    summary="Download a data asset version",
    description="The version's files as an uncompressed tar whose top folder is the asset's name.",
    role=Role.READER, action="downloading data assets",
    response=bytes, media_type=TAR,
    limit="downloads",
)  # fmt: skip
ARCHIVE = Operation(
    "data.archive", "POST", "/api/v1/data/{name}/archive",
    summary="Archive a data asset version (or all)",
    description="Hidden from listings and ``latest``; explicit references keep working.",
    role=Role.CONTRIBUTOR, action="archiving data assets",
    response=list[DataAssetView], query=("version",),
)  # fmt: skip
RESTORE = Operation(
    "data.restore", "POST", "/api/v1/data/{name}/restore",
    summary="Restore an archived data asset version (or all)",
    role=Role.CONTRIBUTOR, action="restoring data assets",
    response=list[DataAssetView], query=("version",),
)  # fmt: skip
