"""Which artifact-store content kiln's records point to, and the archive names of things."""

from __future__ import annotations

import re
from typing import Any

JOBS_PREFIX = "jobs"
_CONTENT_KEY = re.compile(r"^(?:upload:|snapshots/)(?P<snapshot>[0-9a-f]{64})|^data/(?P<data>[0-9a-f]{64})")


def content_keys(record: Any) -> set[str]:
    """Every content-addressed store folder (``snapshots/<sha256>``, ``data/<sha256>``) that a
    record names anywhere: ``upload:`` references in specs, ``key`` fields of pinned inputs."""
    found: set[str] = set()
    if isinstance(record, str):
        match = _CONTENT_KEY.match(record)
        if match and match.group("snapshot"):
            found.add(f"snapshots/{match.group('snapshot')}")
        elif match and match.group("data"):
            found.add(f"data/{match.group('data')}")
    elif isinstance(record, dict):
        for value in record.values():
            found |= content_keys(value)
    elif isinstance(record, list):
        for value in record:
            found |= content_keys(value)
    return found


def job_key(job_id: str) -> str:
    """The store folder of a job's outputs and log."""
    return f"{JOBS_PREFIX}/{job_id}"


# archive member names ---------------------------------------------------------------------------
KILN_RECORDS = "records/kiln"
MLFLOW_RECORDS = "records/mlflow"
STORE = "store"
RUN_ARTIFACTS = "mlflow/runs"
MODEL_ARTIFACTS = "mlflow/logged-models"


def kiln_records(kind: str) -> str:
    return f"{KILN_RECORDS}/{kind}.json"


RUN_RECORDS = f"{MLFLOW_RECORDS}/runs"
METRIC_RECORDS = f"{MLFLOW_RECORDS}/metrics"
LOGGED_MODEL_RECORDS = f"{MLFLOW_RECORDS}/logged-models"


def run_record(run_id: str) -> str:
    return f"{RUN_RECORDS}/{run_id}.json"


def metric_record(run_id: str) -> str:
    return f"{METRIC_RECORDS}/{run_id}.json"


def logged_model_record(model_id: str) -> str:
    return f"{LOGGED_MODEL_RECORDS}/{model_id}.json"


EXPERIMENTS = f"{MLFLOW_RECORDS}/experiments.json"
REGISTERED_MODELS = f"{MLFLOW_RECORDS}/registered-models.json"
