"""Datastores: the Azure ML CLI v2 datastore YAML, what the REST API answers, and remote paths as users write them.

A datastore names where data lives outside the workspace (a blob container, an ADLS Gen2 file system, an S3
or GCS bucket, a folder the server's operator shares, an HTTPS site) and the credential that reads it. Job
inputs and data assets then name paths in it: ``azureml://datastores/NAME/paths/PATH``, or the store's own
URL (``wasbs://``, ``abfss://``, ``s3://``, ``gs://``, ``https://``), which kiln matches to a datastore.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator

from kiln.specs.job import Scalar, StrictModel

DATASTORE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
DatastoreType = Literal["azure_blob", "azure_data_lake_gen2", "s3", "gcs", "local", "https"]
DATASTORE_TYPES: tuple[str, ...] = ("azure_blob", "azure_data_lake_gen2", "s3", "gcs", "local", "https")

_TEXT = 1024  # any one location field
_SECRET = 16384  # a credential (a GCS service account's JSON is a few KB)

# type -> (location fields it needs, location fields it may have, credential fields it may have)
LOCATION_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "azure_blob": (("account_name", "container_name"), ("endpoint", "protocol")),
    "azure_data_lake_gen2": (("account_name", "filesystem"), ("endpoint", "protocol")),
    "s3": (("bucket",), ("endpoint_url", "region")),
    "gcs": (("bucket",), ()),
    "local": (("path",), ()),
    "https": (("url",), ()),
}
ALL_LOCATION_FIELDS = (
    "account_name", "container_name", "filesystem", "endpoint", "protocol", "bucket", "endpoint_url", "region", "path",
    "url",
)  # fmt: skip
# credential kind -> the fields that make it, by datastore type
CREDENTIAL_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "azure_blob": {"account_key": ("account_key",), "sas_token": ("sas_token",)},
    "azure_data_lake_gen2": {
        "service_principal": ("tenant_id", "client_id", "client_secret"),
        "account_key": ("account_key",),
    },
    "s3": {"access_key": ("access_key_id", "secret_access_key")},
    "gcs": {"service_account": ("service_account_json",)},
    "local": {},
    "https": {},
}


class DatastoreCredentials(StrictModel):
    """Secrets that read the store. Stored encrypted by the server and never answered (``show`` names the kind)."""

    account_key: str | None = Field(None, max_length=_SECRET)
    sas_token: str | None = Field(None, max_length=_SECRET)
    tenant_id: str | None = Field(None, max_length=_TEXT)
    client_id: str | None = Field(None, max_length=_TEXT)
    client_secret: str | None = Field(None, max_length=_SECRET)
    access_key_id: str | None = Field(None, max_length=_TEXT)
    secret_access_key: str | None = Field(None, max_length=_SECRET)
    service_account_json: str | None = Field(None, max_length=_SECRET)

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


class DatastoreSpec(StrictModel):
    """One datastore, as Azure ML's datastore YAML writes it (``type`` picks the location fields)."""

    schema_: str | None = Field(None, alias="$schema", max_length=_TEXT)
    name: str = Field(pattern=DATASTORE_NAME_PATTERN)
    type: DatastoreType
    description: str | None = Field(None, max_length=4096)
    tags: dict[str, Scalar] = Field(default_factory=dict, max_length=64)
    account_name: str | None = Field(None, pattern=r"^[a-z0-9]{3,24}$")
    container_name: str | None = Field(None, pattern=r"^[a-z0-9$][a-z0-9-]{1,62}$")
    filesystem: str | None = Field(None, pattern=r"^[a-z0-9$][a-z0-9-]{1,62}$")
    endpoint: str | None = Field(None, pattern=r"^[a-z0-9.-]{3,253}$", description="Default core.windows.net.")
    protocol: str | None = Field(None, pattern=r"^(https|wasbs|abfss)$")
    bucket: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$")
    endpoint_url: str | None = Field(None, max_length=_TEXT, description="S3 API endpoint (default AWS).")
    region: str | None = Field(None, pattern=r"^[a-z0-9-]{1,32}$")
    path: str | None = Field(None, max_length=_TEXT, description="local: a folder on the server's machine.")
    url: str | None = Field(None, max_length=_TEXT, description="https: the base URL paths are relative to.")
    credentials: DatastoreCredentials | None = None

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> DatastoreSpec:
        needed, optional = LOCATION_FIELDS[self.type]
        for name in needed:
            if not getattr(self, name):
                raise ValueError(f"a {self.type} datastore needs '{name}'")
        for name in ALL_LOCATION_FIELDS:
            if getattr(self, name) and name not in (*needed, *optional):
                raise ValueError(
                    f"'{name}' is not a field of a {self.type} datastore (its fields: {', '.join(needed + optional)})"
                )
        self.credential_kind()  # raises on credentials the type does not take
        for name in ("endpoint_url", "url"):
            value = getattr(self, name)
            if value and urlsplit(value).scheme not in ("http", "https"):
                raise ValueError(f"'{name}' must be an http:// or https:// URL, not {value!r}")
        return self

    def credential_kind(self) -> str | None:
        """Which credential is given (None: none, anonymous access); ValueError on an incomplete or foreign one."""
        given = set(self.credentials.given()) if self.credentials else set()
        if not given:
            return None
        kinds = CREDENTIAL_KINDS[self.type]
        for kind, fields in kinds.items():
            if given == set(fields):
                return kind
        accepted = "; ".join(f"{kind}: {', '.join(fields)}" for kind, fields in kinds.items()) or "none"
        raise ValueError(
            f"credentials: a {self.type} datastore takes one of these credentials ({accepted}), "
            f"not {', '.join(sorted(given))}"
        )


class DatastoreView(BaseModel):
    """A datastore as the API answers it: where it points and which credential kind is set, never a secret."""

    name: str
    type: DatastoreType
    description: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)
    location: dict[str, str] = Field(description="Its location fields (account_name, bucket, path, url…).")
    credential: str | None = Field(
        None, description="The kind of credential stored (account_key, sas_token, service_principal, access_key, "
        "service_account); None: anonymous access. The secret itself is never answered.",
    )  # fmt: skip
    created_at: datetime
    created_by: str | None = None
