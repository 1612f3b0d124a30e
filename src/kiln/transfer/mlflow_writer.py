"""Writes the archive's MLflow content into the target's MLflow: experiments by name, runs
and logged models with their own ids (``mlflow_ids``), then everything else through MLflow's
client — params, every metric value with its step and timestamp (``log_batch``), dataset
inputs, model outputs, artifacts, end status and time — and registered models whose
versions keep their numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from kiln.errors import Conflict
from kiln.transfer.import_plan import RunUnit, unless_missing
from kiln.transfer.mlflow_ids import INCOMPLETE_TAG, MlflowIdWriter
from kiln.transfer.unpacked import ArchivedModel, UnpackedArchive

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel, Run
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

METRICS_PER_BATCH = 1000  # MLflow's log_batch limits
PARAMS_PER_BATCH = 100
TERMINAL_RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")
FINAL_MODEL_STATUSES = ("READY", "FAILED")
T = TypeVar("T")
_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]+)/?$")


class MlflowWriter:
    def __init__(self, client: MlflowClient, tracking_uri: str, ids: MlflowIdWriter, archive: UnpackedArchive) -> None:
        self._client = client
        self._tracking_uri = tracking_uri
        self._ids = ids
        self._archive = archive
        self._experiments: dict[str, str] = {}  # archive experiment id -> target experiment id
        self._locations: dict[str, str] = {}  # archive artifact location -> the target's
        self._all_locations: dict[str, str] | None = None

    # Experiments ---------------------------------------------------------------------------------
    def experiments(self) -> None:
        """Each archive experiment mapped to the target's experiment of that name (created or restored)."""
        for experiment in self._archive.experiments():
            target = self._client.get_experiment_by_name(experiment.name)
            if target is None:
                target_id = str(self._client.create_experiment(experiment.name, tags=experiment.tags))
            else:
                target_id = str(target.experiment_id)
                if target.lifecycle_stage == "deleted":
                    self._client.restore_experiment(target_id)
                for key, value in experiment.tags.items():
                    if key not in target.tags:
                        self._client.set_experiment_tag(target_id, key, value)
            self._experiments[experiment.experiment_id] = target_id

    def experiment_id(self, archive_experiment_id: str) -> str:
        return self._experiments[archive_experiment_id]

    # Runs and logged models ---------------------------------------------------------------------------
    def run_unit(self, unit: RunUnit, redo: bool) -> None:
        """The run, its logged models, its data and artifacts; its marker tag goes last."""
        run = unit.run
        if redo:
            self._remove(unit)
        experiment_id = self.experiment_id(run.info.experiment_id)
        self._locations[run.info.artifact_uri] = self._ids.create_run(run, experiment_id)
        for model in unit.models:
            self._logged_model(model)
        self._log_data(run)
        local = self._archive.run_artifacts(run.info.run_id)
        if local is not None:
            self._repository(self._locations[run.info.artifact_uri]).log_artifacts(str(local))
        if run.info.status in TERMINAL_RUN_STATUSES:
            self._client.set_terminated(run.info.run_id, run.info.status, run.info.end_time)
        else:
            self._client.update_run(run.info.run_id, status=run.info.status)
        for model in unit.models:
            self._client.delete_logged_model_tag(model.model_id, INCOMPLETE_TAG)
        self._client.delete_tag(run.info.run_id, INCOMPLETE_TAG)

    def lone_model(self, model: LoggedModel, redo: bool) -> None:
        if redo:
            self._ids.remove_logged_model(model.model_id)
        self._logged_model(model)
        self._client.delete_logged_model_tag(model.model_id, INCOMPLETE_TAG)

    def _logged_model(self, model: LoggedModel) -> None:
        location = self._ids.create_logged_model(model, self.experiment_id(model.experiment_id))
        self._locations[model.artifact_location] = location
        local = self._archive.model_artifacts(model.model_id)
        if local is not None:
            self._repository(location).log_artifacts(str(local))
        status = str(model.status)
        if status in FINAL_MODEL_STATUSES:
            self._client.finalize_logged_model(model.model_id, status)  # type: ignore[arg-type]

    def _remove(self, unit: RunUnit) -> None:
        """What an import that stopped left of this run: removed, to be written whole again."""
        for model in unit.models:
            unless_missing(self._ids.remove_logged_model, model.model_id)
        unless_missing(self._ids.remove_run, unit.run.info.run_id)

    def _log_data(self, run: Run) -> None:
        from mlflow.entities import Param

        run_id = run.info.run_id
        params = [Param(key, value) for key, value in sorted(run.data.params.items())]
        for batch in _batches(params, PARAMS_PER_BATCH):
            self._client.log_batch(run_id, params=batch)
        points = [point for history in self._archive.metric_histories(run_id).values() for point in history]
        for metrics in _batches(points, METRICS_PER_BATCH):
            self._client.log_batch(run_id, metrics=metrics)
        inputs = run.inputs
        if inputs is not None and (inputs.dataset_inputs or inputs.model_inputs):
            self._client.log_inputs(run_id, datasets=inputs.dataset_inputs or None, models=inputs.model_inputs or None)
        if run.outputs is not None and run.outputs.model_outputs:
            self._client.log_outputs(run_id, run.outputs.model_outputs)

    def _repository(self, uri: str) -> Any:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        return get_artifact_repository(uri, tracking_uri=self._tracking_uri)

    # Registered models ------------------------------------------------------------------------------
    def registered_model(self, archived: ArchivedModel) -> None:
        """The model and the versions it lacks, each under its own number; then aliases and tags."""
        model = archived.model
        name = model.name
        target = unless_missing(self._client.get_registered_model, name)
        if target is None:
            target = self._client.create_registered_model(name, tags=model.tags, description=model.description or None)
        quoted = name.replace("'", "\\'")
        present = set()
        for version in self._client.search_model_versions(f"name = '{quoted}'", max_results=10_000):
            if INCOMPLETE_TAG in version.tags:  # left by an import that stopped
                self._client.delete_model_version(name, version.version)
            else:
                present.add(str(version.version))
        for version in sorted(archived.versions, key=lambda v: int(v.version)):
            if str(version.version) not in present:
                self._version(version)
        for alias, number in model.aliases.items():
            self._client.set_registered_model_alias(name, alias, str(number))
        for key, value in model.tags.items():
            if target.tags.get(key) != value:
                self._client.set_registered_model_tag(name, key, value)
        if (model.description or None) != (target.description or None):
            self._client.update_registered_model(name, description=model.description)

    def _version(self, version: ModelVersion) -> None:
        """Create ``version`` under its number: versions the source deleted left gaps, which are
        filled with a version deleted at once (MLflow never reuses a number)."""
        name, wanted = version.name, int(version.version)
        tags = {**version.tags, INCOMPLETE_TAG: "true"}
        model_id = _logged_model_of(version)
        while True:
            created = self._client.create_model_version(
                name, self._target_source(version.source), run_id=version.run_id or None, tags=tags,
                description=version.description or None, model_id=model_id,
            )  # fmt: skip
            number = int(created.version)
            if number == wanted:
                self._client.delete_model_version_tag(name, created.version, INCOMPLETE_TAG)
                return
            self._client.delete_model_version(name, created.version)
            if number > wanted:
                raise Conflict(
                    f"the target's registry numbers the next version of model '{name}' {number}, not {wanted} "
                    "(it once had versions that were deleted), so its versions cannot keep their numbers"
                )

    def _target_source(self, source: str | None) -> str:
        """A version's source inside an imported run's or logged model's artifacts, pointed at
        where those artifacts are on the target (experiment ids may differ)."""
        source = source or ""
        for archived, target in sorted(self._known_locations().items(), key=lambda item: -len(item[0])):
            if source == archived or source.startswith(archived.rstrip("/") + "/"):
                return target + source[len(archived) :]
        return source

    def _known_locations(self) -> dict[str, str]:
        """Artifact locations of the archive's runs and logged models that are on the target (imported
        now or before; those skipped as conflicts may be missing)."""
        if self._all_locations is None:
            locations = dict(self._locations)
            for run in self._archive.runs():
                found_run = unless_missing(self._client.get_run, run.info.run_id)
                if found_run is not None:
                    locations.setdefault(run.info.artifact_uri, found_run.info.artifact_uri)
            for model in self._archive.logged_models():
                found_model = unless_missing(self._client.get_logged_model, model.model_id)
                if found_model is not None:
                    locations.setdefault(model.artifact_location, found_model.artifact_location)
            self._all_locations = locations
        return self._all_locations


def _logged_model_of(version: ModelVersion) -> str | None:
    """The MLflow 3 logged model a version promotes (its ``models:/m-…`` source; MLflow's REST
    representation of a version does not carry ``model_id`` itself)."""
    match = _LOGGED_MODEL_SOURCE.match(version.source or "")
    return getattr(version, "model_id", None) or (match.group(1) if match else None)


def _batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
