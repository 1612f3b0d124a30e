"""Runs and logged models created with the ids they had in the exported workspace.

MLflow's REST API draws a new id whenever it creates a run or a logged model, and a kiln
job's name is its run id (so are MLflow's own links: ``runs:/<id>/…`` sources, parent runs,
logged models' source runs, metrics' model ids). So the server writes these two rows itself,
into MLflow's SQL store (its configured backend, SQLite or PostgreSQL alike), with MLflow's
own table models, as ``SqlAlchemyStore.create_run`` and ``create_logged_model`` write them
but with the given id. Everything else then goes through MLflow's public client.

Each row is written with the tag ``kiln.import.incomplete``; the import removes it once the
run (or model) is whole, and a later import finds a run still carrying it half-written and
writes it again from the start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.errors import Unavailable
from kiln.tracking.run_store import is_sql_store, open_sql_store

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel, Run

INCOMPLETE_TAG = "kiln.import.incomplete"


class MlflowIdWriter:
    def __init__(self, store_uri: str) -> None:
        if not is_sql_store(store_uri):
            raise Unavailable(
                f"importing needs MLflow's store to be a SQL database (SQLite or PostgreSQL), so that runs keep their "
                f"ids; this server's MLflow store is {store_uri.split(':', 1)[0]}:…"
            )
        # the artifact root only names where *new experiments* would keep artifacts; none are created here
        self._store: Any = open_sql_store(store_uri)

    def _location(self, experiment_id: str, *parts: str) -> str:
        """``<experiment's artifact location>/<parts>``, as MLflow's store joins them."""
        from mlflow.utils import uri

        join: Any = uri.append_to_uri_path
        return str(join(self._store.get_experiment(experiment_id).artifact_location, *parts))

    def create_run(self, run: Run, experiment_id: str) -> str:
        """The run's row and tags, with ``run``'s id, name, user and start time, in ``experiment_id``
        of this store; RUNNING until the import ends it. Returns its artifact URI here."""
        from mlflow.entities import LifecycleStage, RunStatus, SourceType
        from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag

        info = run.info
        artifact_uri = self._location(experiment_id, info.run_id, "artifacts")
        row = SqlRun(
            name=info.run_name, artifact_uri=artifact_uri, run_uuid=info.run_id, experiment_id=int(experiment_id),
            source_type=SourceType.to_string(SourceType.UNKNOWN), source_name="", entry_point_name="",
            user_id=info.user_id, status=RunStatus.to_string(RunStatus.RUNNING), start_time=info.start_time,
            end_time=None, deleted_time=None, source_version="", lifecycle_stage=LifecycleStage.ACTIVE,
        )  # fmt: skip
        tags = {**run.data.tags, INCOMPLETE_TAG: "true"}
        row.tags = [SqlTag(key=key, value=value) for key, value in tags.items()]
        with self._store.ManagedSessionMaker(read_only=False) as session:
            session.add(row)
        return artifact_uri

    def create_logged_model(self, model: LoggedModel, experiment_id: str) -> str:
        """The logged model's row, params and tags with its id (PENDING until finalized); its artifact location here."""
        from mlflow.entities import LifecycleStage, LoggedModelParameter, LoggedModelStatus, LoggedModelTag
        from mlflow.store.tracking.dbmodels.models import SqlLoggedModel

        location = self._location(experiment_id, "models", model.model_id, "artifacts")
        row = SqlLoggedModel(
            model_id=model.model_id, experiment_id=int(experiment_id), name=model.name, artifact_location=location,
            creation_timestamp_ms=model.creation_timestamp, last_updated_timestamp_ms=model.last_updated_timestamp,
            model_type=model.model_type, status=LoggedModelStatus.PENDING.to_int(),
            lifecycle_stage=LifecycleStage.ACTIVE, source_run_id=model.source_run_id,
            status_message=model.status_message,
        )  # fmt: skip
        with self._store.ManagedSessionMaker(read_only=False) as session:
            session.add(row)
        params = [LoggedModelParameter(key, value) for key, value in model.params.items()]
        if params:
            self._store.log_logged_model_params(model.model_id, params)
        tags = {**model.tags, INCOMPLETE_TAG: "true"}
        self._store.set_logged_model_tags(model.model_id, [LoggedModelTag(k, v) for k, v in tags.items()])
        return location

    def remove_run(self, run_id: str) -> None:
        """Remove a half-imported run entirely (metrics, params, tags included), as ``mlflow gc`` does."""
        self._store._hard_delete_run(run_id)

    def remove_logged_model(self, model_id: str) -> None:
        self._store._hard_delete_logged_model(model_id)
