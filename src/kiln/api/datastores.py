"""Datastores: where remote data lives (blob, ADLS Gen2, S3, GCS, a shared local folder, HTTPS) and its credential."""

from __future__ import annotations

from kiln.api.operation import NO_CONTENT, Operation
from kiln.errors import AlreadyExists, MissingExtra
from kiln.specs.datastore import DatastoreSpec, DatastoreView
from kiln.specs.roles import Role

CREATE = Operation(
    "datastores.create", "POST", "/api/v1/datastores",
    summary="Register a datastore",
    description="Its credential is stored encrypted and never answered; ``credential`` says which kind is set.",
    role=Role.CONTRIBUTOR, action="registering datastores",
    response=DatastoreView, status_code=201, body=DatastoreSpec, errors=(AlreadyExists, MissingExtra),
)  # fmt: skip
LIST = Operation(
    "datastores.list", "GET", "/api/v1/datastores",
    summary="List datastores (no secrets)",
    role=Role.READER, action="listing datastores",
    response=list[DatastoreView],
)  # fmt: skip
SHOW = Operation(
    "datastores.show", "GET", "/api/v1/datastores/{name}",
    summary="Read a datastore: its location and which credential kind is set, never the credential",
    role=Role.READER, action="reading datastores",
    response=DatastoreView,
)  # fmt: skip
DELETE = Operation(
    "datastores.delete", "DELETE", "/api/v1/datastores/{name}",
    summary="Forget a datastore and its credential",
    description="The store itself is untouched; data assets that name paths in it can no longer be read.",
    role=Role.CONTRIBUTOR, action="deleting datastores",
    response=NO_CONTENT, status_code=204,
)  # fmt: skip
