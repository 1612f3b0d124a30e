"""A registered MLflow model's signature (the inputs and outputs in its ``MLmodel`` file), for kiln
studio's model page: the one file is read, never the model."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.errors import InvalidSpec
from kiln.specs.yaml_source import load_yaml
from kiln.tracking.mlflow_secret import send_with_mlflow_client


@dataclass(frozen=True)
class Column:
    name: str  # "—" for an unnamed tensor
    type: str  # "double", "tensor float64 [-1, 4]"…
    required: bool = True


@dataclass(frozen=True)
class Signature:
    inputs: list[Column]
    outputs: list[Column]


def read_signature(name: str, version: str) -> Signature | None:
    """The signature of ``models:/NAME/VERSION`` (None: no MLmodel file, or no signature in it)."""
    send_with_mlflow_client()  # MLflow imported once, under its lock; the fluent API's calls carry the secret
    import mlflow
    from mlflow.exceptions import MlflowException

    scratch = tempfile.mkdtemp(prefix="kiln-mlmodel-")
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}/MLmodel", dst_path=scratch)
        return parse_signature(Path(local).read_text(errors="replace"))
    except (MlflowException, OSError, InvalidSpec):
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def parse_signature(mlmodel: str) -> Signature | None:
    """``signature:`` of an MLmodel file: its ``inputs`` and ``outputs`` are JSON lists of column or tensor specs."""
    data = load_yaml(mlmodel, "MLmodel")[1]
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        return None
    return Signature(_columns(signature.get("inputs")), _columns(signature.get("outputs")))


def _columns(text: Any) -> list[Column]:
    try:
        specs = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return []
    if not isinstance(specs, list):
        return []
    return [_column(spec) for spec in specs if isinstance(spec, dict)]


def _column(spec: dict[str, Any]) -> Column:
    kind = str(spec.get("type", "?"))
    if kind == "tensor":
        tensor = spec.get("tensor-spec") or {}
        kind = f"tensor {tensor.get('dtype', '?')} {list(tensor.get('shape', []))}"
    elif kind in ("array", "object", "map"):
        kind = f"{kind} {json.dumps({k: v for k, v in spec.items() if k not in ('name', 'type', 'required')})}"
    return Column(str(spec.get("name") or "—"), kind, bool(spec.get("required", True)))


_EXAMPLE_VALUES = {"double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False, "string": "", "binary": ""}


def example_request(signature: Signature | None) -> dict[str, Any] | None:
    """A scoring body with one row of placeholder values in the signature's named columns (Azure's
    ``input_data`` split shape, which an endpoint's replicas read); None for tensors or no signature."""
    if signature is None or not signature.inputs:
        return None
    if any(column.name == "—" or column.type not in _EXAMPLE_VALUES for column in signature.inputs):
        return None
    row = [_EXAMPLE_VALUES[column.type] for column in signature.inputs]
    return {"input_data": {"columns": [column.name for column in signature.inputs], "data": [row]}}
