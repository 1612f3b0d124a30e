"""What a role may do through ``/mlflow``: MLflow's read-only calls, and the creator tag on model versions.

MLflow's REST API writes with POST, PUT, PATCH and DELETE, and reads with GET, except for
the searches that send their filters as a POST body. Readers get GET/HEAD/OPTIONS and the
POSTs listed in ``READ_ONLY_POSTS``; every other call counts as a write (contributor or
owner), so an endpoint MLflow adds later is a write until someone lists it here.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from kiln.errors import Forbidden
from kiln.tracking.registry import CREATED_BY_TAG

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

READ_ONLY_POSTS = frozenset(
    {
        "/api/2.0/mlflow/experiments/search",
        "/api/2.0/mlflow/experiments/search-datasets",
        "/api/2.0/mlflow/runs/search",
        "/api/2.0/mlflow/logged-models/search",
        "/api/2.0/mlflow/registered-models/get-latest-versions",
        "/api/2.0/mlflow/artifacts/presigned-download-url",
        "/api/3.0/mlflow/traces/search",
        "/api/3.0/mlflow/traces/batchGetInfos",
        "/api/3.0/mlflow/traces/metrics",
        "/api/3.0/mlflow/traces/calculate-filter-correlation",
        "/api/3.0/mlflow/issues/search",
        "/api/3.0/mlflow/datasets/search",
        "/api/3.0/mlflow/prompt-optimization/jobs/search",
        # MLflow's GraphQL schema (3.x) only reads: its "mutations" are searches (a unit test checks)
        "/graphql",
    }
)

MODEL_VERSION_CREATE = "/api/2.0/mlflow/model-versions/create"
MODEL_VERSION_TAG_CHANGES = frozenset(
    {"/api/2.0/mlflow/model-versions/set-tag", "/api/2.0/mlflow/model-versions/delete-tag"}
)


class TrackingForbidden(Forbidden):
    """A 403 that both kiln's client and MLflow's (``error_code`` + ``message``) understand."""

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {"type": Forbidden.__name__, "message": self.message},
            "error_code": "PERMISSION_DENIED",
            "message": self.message,
        }


def mlflow_path(path: str) -> str:
    """The API path of a call under /mlflow, with the UI's ``/ajax-api`` spelled ``/api``."""
    path = "/" + path.lstrip("/")
    if path.startswith("/ajax-api/"):
        path = "/api/" + path[len("/ajax-api/") :]
    return path.rstrip("/") or "/"


def is_read_only(method: str, path: str) -> bool:
    method = method.upper()
    return method in READ_METHODS or (method == "POST" and mlflow_path(path) in READ_ONLY_POSTS)


def with_creator_tag(body: bytes, creator: str) -> bytes:
    """A model-versions/create body with ``kiln.created_by`` set to ``creator`` (replacing any sent)."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return body  # MLflow answers a body it cannot read with its own error
    if not isinstance(request, dict):
        return body
    tags = [
        tag for tag in request.get("tags") or [] if not (isinstance(tag, dict) and tag.get("key") == CREATED_BY_TAG)
    ]
    request["tags"] = [*tags, {"key": CREATED_BY_TAG, "value": creator}]
    return json.dumps(request).encode()


def names_creator_tag(body: bytes, query: dict[str, str]) -> bool:
    """Whether a model-version tag change is about ``kiln.created_by``, which only kiln sets."""
    if query.get("key") == CREATED_BY_TAG:
        return True
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return False
    return isinstance(request, dict) and request.get("key") == CREATED_BY_TAG


ARTIFACT_CALLS = ("/artifacts/", "/get-artifact", "/mlflow-artifacts/", "/artifacts/list")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def artifact_runs(api_path: str, query: str) -> list[str]:
    """The runs whose artifacts a call under /mlflow reads: ``run_id``/``run_uuid`` of its query, and every
    segment of an ``mlflow-artifacts`` path shaped like a run id (``<experiment>/<run>/artifacts/…``). Empty for
    calls that read no run's artifacts."""
    path = api_path + "/"
    if not any(part in path for part in ARTIFACT_CALLS):
        return []
    found = [value for key, value in parse_qsl(query) if key in ("run_id", "run_uuid")]
    if "/mlflow-artifacts/" in path:
        found += [segment for segment in unquote(api_path).split("/") if _RUN_ID.match(segment)]
    return list(dict.fromkeys(found))
