"""Where the artifact store lives, how kiln connects to it, and the check at start.

A local folder by default; ``s3://bucket/prefix`` for teams, through s3fs. The S3 endpoint
comes from the ``s3_endpoint_url`` setting, else the standard ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL`` variables, else AWS itself. Credentials come only from the standard
AWS chain (variables, ``~/.aws`` files, instance roles) and no message names them: a
failed check says which setting, what failed and how to fix it, and nothing more.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kiln.artifacts.store import ArtifactStore
from kiln.config import Settings
from kiln.errors import InvalidSpec, Unavailable
from kiln.extras import check_extra

ROOT_SETTING = "artifact_root (--artifact-root, KILN_ARTIFACT_ROOT or artifact_root in config.yaml)"
ENDPOINT_SETTING = "s3_endpoint_url (--s3-endpoint-url, KILN_S3_ENDPOINT_URL) or AWS_ENDPOINT_URL"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID")
PROBE_PREFIX = ".kiln-probe"
_CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AccessDenied")


@dataclass(frozen=True)
class ArtifactRoot:
    url: str
    endpoint_url: str | None = None
    endpoint_source: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> ArtifactRoot:
        given = settings.resolved_artifact_root
        url = given.rstrip("/")
        if urlsplit(given).scheme != "s3":
            return cls(url)
        if not urlsplit(given).netloc:
            raise InvalidSpec(f"{ROOT_SETTING}: {given!r} names no bucket; use s3://BUCKET or s3://BUCKET/PREFIX")
        environ = os.environ if environ is None else environ
        if settings.s3_endpoint_url:
            return cls(url, settings.s3_endpoint_url, "the s3_endpoint_url setting")
        for variable in ENDPOINT_VARIABLES:
            if environ.get(variable):
                return cls(url, environ[variable], variable)
        return cls(url)

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    @property
    def bucket(self) -> str:
        return urlsplit(self.url).netloc

    def storage_options(self) -> dict[str, Any]:
        if not self.is_s3:
            return {}
        # several servers and MLflow write one bucket: a cached listing would go stale
        options: dict[str, Any] = {"use_listings_cache": False}
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        return options

    def mlflow_environment(self) -> dict[str, str]:
        """What MLflow's server needs to reach the same store (it reads credentials the same way)."""
        return {"MLFLOW_S3_ENDPOINT_URL": self.endpoint_url} if self.is_s3 and self.endpoint_url else {}

    def describe_endpoint(self) -> str:
        if not self.is_s3:
            return self.url
        if not self.endpoint_url:
            return "AWS S3 (no endpoint is set)"
        return f"the S3 endpoint {_without_userinfo(self.endpoint_url)} (from {self.endpoint_source})"

    def open(self) -> ArtifactStore:
        """The store, after checking that it can be written; a clear error says what to fix."""
        if self.is_s3:  # s3fs for kiln's store, boto3 for MLflow's artifacts
            check_extra("s3", ("s3fs", "boto3"), needed_by=f"{ROOT_SETTING} {self.url}")
        try:
            store = ArtifactStore(self.url, self.storage_options())
        except ImportError as exc:
            raise InvalidSpec(
                f"{ROOT_SETTING}: {self.url} needs a package that is not installed ({_without_secrets(str(exc))})"
            ) from None
        except (ValueError, OSError) as exc:
            raise InvalidSpec(f"{ROOT_SETTING}: cannot open {self.url}: {_without_secrets(str(exc))}") from None
        if not store.is_local:
            self._check_writable(store)
        return store

    def _check_writable(self, store: ArtifactStore) -> None:
        """Write and remove one small object: a missing bucket, refused credentials or an
        unreachable endpoint show here, at start, rather than in the first job."""
        probe = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
        try:
            store.write_bytes(probe, b"kiln start-up check\n")
            store.remove(probe)
        except Exception as exc:  # every failure of the check becomes one explained error
            raise Unavailable(f"{ROOT_SETTING} is {self.url}, but {self._explain(exc)}") from None

    def _explain(self, exc: BaseException) -> str:
        where = self.describe_endpoint()
        code = _error_code(exc)
        kind = type(exc).__name__
        if code == "NoSuchBucket" or (isinstance(exc, FileNotFoundError) and not code):
            return (
                f"the bucket '{self.bucket}' does not exist at {where}; create it (for example "
                f"'aws s3 mb s3://{self.bucket}') or set artifact_root to a bucket that exists"
            )
        if code in _CREDENTIAL_CODES or isinstance(exc, PermissionError):
            return (
                f"{where} refused the credentials ({code or 'access denied'}); check AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY (or AWS_PROFILE and ~/.aws/credentials), and that they may read and write "
                f"{self.url}"
            )
        if kind in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
            return (
                "no AWS credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE with ~/.aws/credentials"
            )
        if _is_connection_failure(exc):
            return (
                f"{where} cannot be reached ({_without_secrets(str(exc)) or kind}); check that the address is right "
                f"and the service runs, or set {ENDPOINT_SETTING}"
            )
        return f"writing a test object at {where} failed: {kind}: {_without_secrets(str(exc))}"


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchBucket``…) of a botocore ClientError, here or among the causes."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
        seen = seen.__cause__ or seen.__context__
    return None


def _is_connection_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        if "Connect" in name or "Timeout" in name or isinstance(seen, ConnectionError | TimeoutError):
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def _without_secrets(text: str) -> str:
    """``text`` with every credential value kiln's environment holds replaced by ***."""
    for variable in SECRET_VARIABLES:
        value = os.environ.get(variable, "")
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text
