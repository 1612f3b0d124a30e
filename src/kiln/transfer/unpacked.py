"""An archive unpacked (and checked) on the server's scratch disk, read back as records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidSpec
from kiln.transfer import references as names
from kiln.transfer.archive import Manifest
from kiln.transfer.mlflow_json import (
    experiment_of,
    logged_model_of,
    metric_of,
    model_version_of,
    registered_model_of,
    run_of,
)
from kiln.transfer.parts import CAPABILITY_RECORDS, capability_records

if TYPE_CHECKING:
    from mlflow.entities import Experiment, LoggedModel, Metric, Run
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel


@dataclass
class ArchivedModel:
    model: RegisteredModel
    versions: list[ModelVersion]


@dataclass
class UnpackedArchive:
    root: Path
    manifest: Manifest
    label: str

    def _json(self, member: str) -> Any:
        try:
            return json.loads((self.root / member).read_text())
        except FileNotFoundError:
            raise InvalidSpec(f"{self.label} has no {member}; it is not a complete kiln workspace export") from None
        except ValueError as exc:
            raise InvalidSpec(f"{self.label}: {member} is not valid JSON ({exc})") from None

    def kiln(self, kind: str, since_added: bool = False) -> list[Any]:
        """The archive's kiln records of ``kind``; ``since_added``: a kind added later, none in older archives."""
        if since_added and not (self.root / names.kiln_records(kind)).is_file():
            return []
        records = self._json(names.kiln_records(kind))
        if not isinstance(records, list):
            raise InvalidSpec(f"{self.label}: {names.kiln_records(kind)} is not a list of records")
        return records

    def capability(self, member: str) -> list[Any]:
        """A capability part's records (none in an archive made before the capability carried them)."""
        path = self.root / capability_records(member)
        if not path.is_file():
            return []
        records = self._json(capability_records(member))
        if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
            raise InvalidSpec(f"{self.label}: {capability_records(member)} is not a list of records")
        return records

    def capability_members(self) -> set[str]:
        """The capability parts whose records the archive holds."""
        return {path.stem for path in (self.root / CAPABILITY_RECORDS).glob("*.json")}

    def experiments(self) -> list[Experiment]:
        return [experiment_of(data) for data in self._json(names.EXPERIMENTS)]

    def runs(self) -> Iterator[Run]:
        """Every run (without its metric histories), oldest first."""
        folder = self.root / names.RUN_RECORDS
        runs = [run_of(json.loads(path.read_text())) for path in folder.glob("*.json")]
        yield from sorted(runs, key=lambda run: (run.info.start_time or 0, run.info.run_id))

    def metric_histories(self, run_id: str) -> dict[str, list[Metric]]:
        histories = self._json(names.metric_record(run_id))
        return {key: [metric_of(point) for point in points] for key, points in histories.items()}

    def logged_models(self) -> list[LoggedModel]:
        folder = self.root / names.LOGGED_MODEL_RECORDS
        models = [logged_model_of(json.loads(path.read_text())) for path in folder.glob("*.json")]
        return sorted(models, key=lambda model: (model.creation_timestamp, model.model_id))

    def registered_models(self) -> list[ArchivedModel]:
        return [
            ArchivedModel(registered_model_of(item["model"]), [model_version_of(v) for v in item["versions"]])
            for item in self._json(names.REGISTERED_MODELS)
        ]

    def run_artifacts(self, run_id: str) -> Path | None:
        return _folder(self.root / names.RUN_ARTIFACTS / run_id)

    def model_artifacts(self, model_id: str) -> Path | None:
        return _folder(self.root / names.MODEL_ARTIFACTS / model_id)

    def store_folder(self, key: str) -> Path:
        """The archived content of a store key (an empty folder if it held no files)."""
        folder = self.root / names.STORE / key
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _folder(path: Path) -> Path | None:
    return path if path.is_dir() and any(path.iterdir()) else None
