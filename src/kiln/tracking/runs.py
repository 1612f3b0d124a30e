"""The bridge from jobs to MLflow runs: a job and its run share one id.

The workspace talks to its MLflow child directly on loopback; jobs and users go through
the authenticated ``/mlflow`` proxy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.errors import KilnError, Unavailable
from kiln.specs.views import JobStatus, MetricHistory
from kiln.tracking import run_store
from kiln.tracking.metric_series import After, MetricSeries, after_of
from kiln.tracking.mlflow_client import mlflow_client
from kiln.tracking.mlflow_errors import caller_errors
from kiln.tracking.run_store import LazyStore, is_sql_store

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

RUN_STATUS_OF_JOB = {
    JobStatus.COMPLETED: "FINISHED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELED: "KILLED",
}


class RunTracker:
    def __init__(
        self, tracking_uri: str, ready: Callable[[], None] | None = None, series: MetricSeries | None = None,
        store_uri: str | None = None,
    ) -> None:  # fmt: skip
        self._client: MlflowClient = mlflow_client(tracking_uri, ready)  # each use waits for ready() first
        self._series = series  # reads MLflow's database itself (charts of long series)
        # with MLflow's SQL store: a job's run created and started through it here (kiln.tracking.run_store)
        self._store = LazyStore(store_uri, ready) if store_uri and is_sql_store(store_uri) else None
        self._experiments: dict[str, str] = {}
        self._lock = threading.Lock()

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created on first use (and restored if deleted); a name MLflow
        refuses is InvalidSpec naming ``experiment_name``."""
        with self._lock:
            if name in self._experiments:
                return self._experiments[name]
            shown = name if len(name) <= 80 else name[:80] + "…"
            with caller_errors(f"experiment_name: the MLflow experiment '{shown}'"):
                experiment_id = self._find_or_create(name)
            self._experiments[name] = experiment_id
            return experiment_id

    def _find_or_create(self, name: str) -> str:
        experiment = self._client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return str(self._client.create_experiment(name))
            except Exception:  # another server sharing the store created it just now
                experiment = self._client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            self._client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)

    def create_run(self, experiment_id: str, run_name: str | None, tags: dict[str, str]) -> str:
        """A SCHEDULED run named ``run_name``; with None, named by its id (a job without a name is)."""
        if self._store is not None:
            try:
                return run_store.create_run(self._store(), experiment_id, run_name, tags, "SCHEDULED")
            except KilnError:
                raise
            except Exception as exc:  # MLflow's own errors, the database's
                raise Unavailable(f"could not create the job's MLflow run: {exc}") from exc
        try:
            run = self._client.create_run(experiment_id, run_name=run_name, tags=tags)
        except Exception as exc:  # MLflow's own errors, connection errors
            raise Unavailable(f"could not create the job's MLflow run: {exc}") from exc
        run_id = str(run.info.run_id)
        self._client.update_run(run_id, status="SCHEDULED", name=None if run_name else run_id)  # one call, not two
        return run_id

    def delete_run(self, run_id: str) -> None:
        self._client.delete_run(run_id)

    def mark_started(self, run_id: str) -> None:
        if self._store is not None:
            run_store.update_status(self._store(), run_id, "RUNNING")
        else:
            self._client.update_run(run_id, status="RUNNING")

    def mark_ended(self, run_id: str, status: JobStatus) -> None:
        self._client.set_terminated(run_id, status=RUN_STATUS_OF_JOB[status])

    def record(self, run_id: str, tags: dict[str, str], params: dict[str, str], metrics: dict[str, float]) -> None:
        """Set ``tags`` and log ``params`` and ``metrics`` (at step 0) on the run, in one call."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self._client.log_batch(
            run_id,
            metrics=[Metric(key, value, now, 0) for key, value in metrics.items()],
            params=[Param(key, value) for key, value in params.items()],
            tags=[RunTag(key, value) for key, value in tags.items()],
        )

    def log_artifacts(self, run_id: str, local: Path, artifact_path: str) -> None:
        if local.is_dir() and any(local.iterdir()):
            self._client.log_artifacts(run_id, str(local), artifact_path)
        elif local.is_file():
            self._client.log_artifact(run_id, str(local), artifact_path)

    def download_artifacts(self, run_id: str, artifact_path: str, into: Path) -> bool:
        """Copy the run's artifact folder ``artifact_path`` to ``into/artifact_path``; False if it has none there."""
        if not self._client.list_artifacts(run_id, artifact_path):
            return False
        into.mkdir(parents=True, exist_ok=True)
        self._client.download_artifacts(run_id, artifact_path, str(into))
        return True

    def params_and_metrics(self, run_id: str) -> tuple[dict[str, str], dict[str, float]]:
        data = self._client.get_run(run_id).data
        return dict(data.params), dict(data.metrics)

    def metric_histories(self, run_id: str) -> dict[str, MetricHistory]:
        """Every value of every metric of the run (MLflow pages through long histories)."""
        histories = {}
        for key in self._client.get_run(run_id).data.metrics:
            points = self._client.get_metric_history(run_id, key)
            histories[key] = MetricHistory(
                steps=[point.step for point in points],
                values=[point.value for point in points],
                timestamps=[point.timestamp for point in points],
            )
        return histories

    def metric_series(
        self, run_id: str, max_points: int | None, after: dict[str, After] | After | None = None
    ) -> dict[str, MetricHistory]:
        """The run's metrics for charts: each at most ``max_points`` long (downsampled in MLflow's database,
        keeping each bucket's first, last, lowest and highest point), from ``after[key]`` on."""
        if self._series is not None:
            return self._series.read(run_id, max_points, after)
        histories = self.metric_histories(run_id)  # no database to ask: whole, through MLflow's client
        return {key: _after(history, after_of(after, key)) for key, history in histories.items()}


def _after(history: MetricHistory, after: After | None) -> MetricHistory:
    if after is None:
        return history
    kept = [
        i for i, (step, timestamp) in enumerate(zip(history.steps, history.timestamps, strict=True))
        if (step, timestamp) > (after.step, after.timestamp)
    ]  # fmt: skip
    return MetricHistory(
        steps=[history.steps[i] for i in kept],
        values=[history.values[i] for i in kept],
        timestamps=[history.timestamps[i] for i in kept],
    )
