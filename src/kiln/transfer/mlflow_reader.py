"""What an export reads from MLflow, through MLflow's own client: active experiments and
runs (with every metric value), MLflow 3 logged models, registered models and their
versions, and artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities import Experiment, LoggedModel, Metric, Run
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.tracking import MlflowClient

PAGE = 1000


@dataclass
class RegisteredModelRecord:
    model: RegisteredModel
    versions: list[ModelVersion]  # oldest first


class MlflowReader:
    def __init__(self, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client: MlflowClient = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def experiments(self) -> list[Experiment]:
        from mlflow.entities import ViewType

        return list(_pages(lambda token: self.client.search_experiments(ViewType.ACTIVE_ONLY, PAGE, page_token=token)))

    def runs(self, experiment_ids: list[str]) -> list[Run]:
        """Every active run, oldest first (so parents come before their nested runs)."""
        from mlflow.entities import ViewType

        if not experiment_ids:
            return []
        found = _pages(
            lambda token: self.client.search_runs(
                experiment_ids,
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=PAGE,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )  # fmt: skip
        )
        return list(found)

    def metric_histories(self, run: Run) -> dict[str, list[Metric]]:
        return {key: list(self.client.get_metric_history(run.info.run_id, key)) for key in sorted(run.data.metrics)}

    def logged_models(self, experiment_ids: list[str]) -> list[LoggedModel]:
        if not experiment_ids:
            return []
        found = _pages(
            lambda token: self.client.search_logged_models(experiment_ids, max_results=100, page_token=token)
        )
        return sorted(found, key=lambda model: model.creation_timestamp)

    def registered_models(self) -> list[RegisteredModelRecord]:
        models = _pages(lambda token: self.client.search_registered_models(max_results=PAGE, page_token=token))
        return [RegisteredModelRecord(model, self.versions(model.name)) for model in models]

    def versions(self, name: str) -> list[ModelVersion]:
        quoted = name.replace("'", "\\'")
        found = _pages(
            lambda token: self.client.search_model_versions(f"name = '{quoted}'", max_results=PAGE, page_token=token)
        )
        return sorted(found, key=lambda version: int(version.version))

    # Artifacts -----------------------------------------------------------------------------------
    def artifact_sizes(self, uri: str) -> dict[str, int]:
        """Relative path → size of every artifact file below ``uri``."""
        repository = self._repository(uri)
        sizes: dict[str, int] = {}
        folders: list[str | None] = [None]
        while folders:
            for info in repository.list_artifacts(folders.pop()):
                if info.is_dir:
                    folders.append(info.path)
                else:
                    sizes[info.path] = int(info.file_size or 0)
        return sizes

    def download(self, uri: str, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        self._repository(uri).download_artifacts("", str(dest))

    def _repository(self, uri: str) -> Any:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        return get_artifact_repository(uri, tracking_uri=self.tracking_uri)


def _pages(search: Any) -> Iterator[Any]:
    """Every item of a paged MLflow search (``search(page_token)`` returns a PagedList)."""
    token = None
    while True:
        page = search(token)
        yield from page
        token = page.token
        if not token:
            return
