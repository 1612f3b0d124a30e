"""Registered models as job inputs (``type: mlflow_model|custom_model``, ``path: kiln:NAME@ALIAS``):
how transfer learning and fine-tuning start from an earlier model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiln.errors import InvalidSpec, NotFound
from kiln.jobs.inputs import expect_pin
from kiln.services.models import ModelService
from kiln.specs.job import MODEL_TYPES, JobInput
from kiln.specs.pins import InputPin, ModelPin
from kiln.specs.references import is_asset_reference, parse_asset_reference
from kiln.tracking.mlflow_secret import send_with_mlflow_client


@dataclass
class ModelInputs:
    models: ModelService

    def accepts(self, item: JobInput) -> bool:
        return item.type in MODEL_TYPES and is_asset_reference(item.path)

    def pin(self, name: str, item: JobInput) -> ModelPin:
        reference = parse_asset_reference(item.path or "", f"inputs.{name}.path")
        try:
            version = self.models.resolve(reference)
        except NotFound as exc:
            raise InvalidSpec(f"inputs.{name}.path: {exc.message}") from None
        return ModelPin(name=version.name, version=str(version.version), requested=item.path)

    def materialize(self, name: str, item: JobInput, pinned: InputPin, target: Path) -> Path:
        send_with_mlflow_client()  # MLflow imported once, under its lock; the fluent API's calls carry the secret
        import mlflow

        model = expect_pin(pinned, ModelPin, name)
        local = mlflow.artifacts.download_artifacts(f"models:/{model.name}/{model.version}", dst_path=str(target))
        return Path(local)

    def stored_key(self, name: str, pinned: InputPin) -> str | None:
        model = expect_pin(pinned, ModelPin, name)
        return self.models.stored_key(model.name, model.version)
