"""Remote paths as users write them: ``https://…``, ``s3://…``, ``gs://…``, ``wasbs://…``, ``abfss://…``,
``azureml://datastores/NAME/paths/PATH`` (and Azure's long form with subscription and workspace)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from kiln.errors import InvalidSpec

REMOTE_SCHEMES = ("https://", "http://", "s3://", "gs://", "gcs://", "wasbs://", "wasb://", "abfss://", "abfs://")
DATASTORE_URI = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/(?:providers/[^/]+/)?workspaces/[^/]+/)?"
    r"datastores/(?P<name>[^/]+)/paths/(?P<path>.*)$",
    re.IGNORECASE,
)
_AZURE_HOST = re.compile(r"^(?P<container>[^@/]+)@(?P<account>[a-z0-9]+)\.(?:blob|dfs)\.(?P<endpoint>[a-z0-9.-]+)$")


@dataclass(frozen=True)
class RemotePath:
    """A path outside the workspace: in a named datastore, or a store's own URL that kiln matches to one."""

    url: str  # as the user wrote it
    type: str  # the datastore type it needs
    path: str  # inside the datastore (below its container, bucket, folder or base URL); "" is its root
    datastore: str | None = None  # azureml://datastores/NAME/…
    bucket: str | None = None  # s3, gcs
    account_name: str | None = None  # azure
    container: str | None = None  # azure: the container or file system


def is_remote_path(text: str | None) -> bool:
    """Whether ``text`` names remote data (a URL or an ``azureml://datastores/…`` path), not a local file."""
    if not text:
        return False
    lowered = text.lower()
    return lowered.startswith(REMOTE_SCHEMES) or bool(DATASTORE_URI.match(text))


def parse_remote_path(text: str, field: str) -> RemotePath:
    """The parts of a remote path; InvalidSpec naming ``field`` when it is malformed."""
    if any(ord(char) < 32 or char in " \x7f" for char in text):
        raise InvalidSpec(f"{field}: {text!r} has spaces or control characters; write them %-encoded")
    if match := DATASTORE_URI.match(text):
        return RemotePath(text, "", _clean(match.group("path"), text, field), datastore=match.group("name"))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidSpec(f"{field}: {text!r} has no host name")
        if re.search(r"(^|&)sig=", parts.query, re.IGNORECASE) or parts.username or parts.password:
            raise InvalidSpec(
                f"{field}: the URL carries a credential (a SAS signature or user:password), which would be shown "
                "with the job or asset; keep it in a datastore (credentials: sas_token) and name "
                "azureml://datastores/NAME/paths/PATH instead"
            )
        return RemotePath(text, "https", text)
    if scheme in ("s3", "gs", "gcs"):
        if not parts.netloc:
            raise InvalidSpec(f"{field}: {text!r} names no bucket (write {scheme}://BUCKET/PATH)")
        kind = "s3" if scheme == "s3" else "gcs"
        return RemotePath(text, kind, _clean(parts.path, text, field), bucket=parts.netloc)
    if scheme in ("wasbs", "wasb", "abfss", "abfs"):
        host = _AZURE_HOST.match(parts.netloc.lower())
        if not host:
            example = (
                "CONTAINER@ACCOUNT.blob.core.windows.net"
                if scheme.startswith("wasb")
                else "FILESYSTEM@ACCOUNT.dfs.core.windows.net"
            )
            raise InvalidSpec(f"{field}: {text!r} is not an Azure storage URL (write {scheme}://{example}/PATH)")
        kind = "azure_blob" if scheme.startswith("wasb") else "azure_data_lake_gen2"
        return RemotePath(
            text, kind, _clean(parts.path, text, field), account_name=host.group("account"),
            container=host.group("container"),
        )  # fmt: skip
    raise InvalidSpec(
        f"{field}: {text!r} is not a remote path kiln reads (https://, s3://, gs://, wasbs://, abfss://, "
        "azureml://datastores/NAME/paths/PATH)"
    )


def _clean(path: str, text: str, field: str) -> str:
    """A path inside a store: no '..' or '.' segments (a path never leaves its datastore)."""
    path = unquote(path)  # %-encoded as in a URL ('%20' a space); checked once decoded ('%2e%2e' is '..')
    if "\0" in path:
        raise InvalidSpec(f"{field}: {text!r} names a NUL byte")
    segments = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        raise InvalidSpec(f"{field}: {text!r} has a '.' or '..' segment; name the path inside the datastore plainly")
    return "/".join(segments)
