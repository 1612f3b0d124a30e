"""Seeding a benchmark workspace with many ended jobs, each with its MLflow run, and one job with a long metric.

- The experiment: created through the workspace's ``/mlflow`` with the real ``mlflow`` client.
- The runs: MLflow's own SQLAlchemy models (``SqlRun``, ``SqlTag``, ``SqlParam``, ``SqlMetric``,
  ``SqlLatestMetric``) written in bulk into the MLflow child's store, one transaction (5,000 runs in a few
  seconds; ``create_run`` one by one takes minutes on a shared machine). Each run has what kiln's
  ``JobService`` gives a job's run (its name, ``mlflow.source.*``, ``mlflow.user``, ``kiln.compute``), two
  params and a final ``accuracy``; status FINISHED or FAILED, as the job's.
- The jobs: kiln's ``JobRow`` (``kiln.store.tables``) in bulk into the workspace's database, one transaction,
  id = the MLflow run id (as ``JobService`` records them), ended, with a real command job spec.
- The long series: ``log_batch`` of 1,000 points at a time through ``/mlflow`` with the real client (what a
  training loop does), on its own job.

Writing the two stores under a running server is safe: both are SQLite in WAL mode (or whatever the URLs
say) and the rows are ended jobs, which the engine never claims.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

EXPERIMENT = "ui-bench"
CREATOR = "bench-user"
BATCH = 1_000  # MLflow's log_batch limit for metrics


@dataclass(frozen=True)
class Seeded:
    experiment_id: str
    job_names: list[str]  # newest first
    long_job: str  # the name of the job with the long series (the newest)
    long_run: str  # its id = its MLflow run's id
    metric: str  # its metric's key
    points: int


def seed(url: str, token: str, home: Path, jobs: int, points: int, metric: str = "loss") -> Seeded:
    """``jobs`` ended jobs (one of them with ``points`` values of ``metric``) in the workspace at ``url``."""
    import os

    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_TRACKING_TOKEN"] = token
    client = MlflowClient(tracking_uri=f"{url}/mlflow")
    # the tag MLflow 3's UI reads to show an experiment's training runs (not its GenAI overview)
    experiment_id = str(
        client.create_experiment(EXPERIMENT, tags={"mlflow.experimentKind": "custom_model_development"})
    )
    artifact_location = client.get_experiment(experiment_id).artifact_location
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [_job(index, jobs, now) for index in range(jobs)]
    _write_runs(_settings(home).resolved_mlflow_store_uri, experiment_id, artifact_location, rows)
    _write_jobs(_settings(home).resolved_database_url, experiment_id, rows)
    long_job = rows[0]
    log_series(client, long_job.run_id, metric, points)
    return Seeded(experiment_id, [row.name for row in rows], long_job.name, long_job.run_id, metric, points)


@dataclass(frozen=True)
class _Job:
    run_id: str
    name: str
    status: str  # kiln's
    created: datetime
    started: datetime
    ended: datetime
    lr: float
    epochs: int
    accuracy: float


def _job(index: int, total: int, now: datetime) -> _Job:
    """The ``index``-th newest job: one a minute back in time, one in ten failed."""
    created = now - timedelta(minutes=index)
    started = created + timedelta(seconds=3)
    rng = random.Random(index)
    run_id = uuid.uuid4().hex
    name = f"train-{total - index:05d}"
    return _Job(
        run_id=run_id, name=name, status="failed" if index % 10 == 7 else "completed", created=created,
        started=started, ended=started + timedelta(seconds=20 + rng.randint(0, 600)),
        lr=round(10 ** rng.uniform(-4, -1), 5), epochs=rng.choice((5, 10, 20)), accuracy=round(rng.uniform(0.7, 0.99), 4),
    )  # fmt: skip


def _settings(home: Path):  # type: ignore[no-untyped-def]
    from kiln.config import Settings

    return Settings.load(home=home)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _write_runs(store_uri: str, experiment_id: str, artifact_location: str, rows: list[_Job]) -> None:
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(store_uri, connect_args={"timeout": 60} if store_uri.startswith("sqlite") else {})
    objects: list[object] = []
    for job in rows:
        run, ended = job.run_id, _ms(job.ended)
        objects.append(
            SqlRun(
                run_uuid=run,
                name=job.name,
                source_type="JOB",
                source_name="python train.py",
                entry_point_name="",
                user_id=CREATOR,
                status="FAILED" if job.status == "failed" else "FINISHED",
                start_time=_ms(job.started),
                end_time=ended,
                source_version="",
                lifecycle_stage="active",
                artifact_uri=f"{artifact_location}/{run}/artifacts",
                experiment_id=int(experiment_id),
            )  # fmt: skip
        )
        tags = {
            "mlflow.runName": job.name, "mlflow.source.name": "python train.py", "mlflow.source.type": "JOB",
            "mlflow.user": CREATOR, "kiln.compute": "local",
        }  # fmt: skip
        objects += [SqlTag(key=key, value=value, run_uuid=run) for key, value in tags.items()]
        objects += [SqlParam(key="lr", value=str(job.lr), run_uuid=run)]
        objects += [SqlParam(key="epochs", value=str(job.epochs), run_uuid=run)]
        metric = {"key": "accuracy", "value": job.accuracy, "timestamp": ended, "step": 0, "is_nan": False}
        objects += [SqlMetric(run_uuid=run, **metric), SqlLatestMetric(run_uuid=run, **metric)]
    with Session(engine) as session, session.begin():
        session.add_all(objects)
    engine.dispose()


def _write_jobs(database_url: str, experiment_id: str, rows: list[_Job]) -> None:
    from sqlalchemy.orm import Session

    from kiln.specs.job_kinds import parse_job_spec
    from kiln.store.database import create_database_engine
    from kiln.store.tables import JobRow

    engine = create_database_engine(database_url)
    objects = []
    for job in rows:
        spec = parse_job_spec(
            {"type": "command", "name": job.name, "experiment_name": EXPERIMENT, "compute": "local",
             "command": f"python train.py --lr {job.lr} --epochs {job.epochs}", "tags": {"bench": "ui"}}
        )  # fmt: skip
        objects.append(
            JobRow(
                id=job.run_id,
                name=job.name,
                experiment_name=EXPERIMENT,
                experiment_id=experiment_id,
                compute="local",
                status=job.status,
                spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                created_at=job.created,
                preparing_at=job.created,
                started_at=job.started,
                ended_at=job.ended,
                exit_code=1 if job.status == "failed" else 0,
                created_by=CREATOR,
                pinned_inputs={},
                environment={},
                gpu_ids=[],
                failure_reason="exit code 1" if job.status == "failed" else None,
            )  # fmt: skip
        )
    with Session(engine) as session, session.begin():
        session.add_all(objects)
    engine.dispose()


def log_series(client: object, run_id: str, metric: str, points: int) -> float:
    """``points`` values of ``metric`` (a noisy decaying loss) by ``log_batch`` through ``/mlflow``;
    the seconds it took."""
    from mlflow.entities import Metric

    rng = random.Random(1)
    start_ms = int(time.time() * 1000) - points * 10
    began = time.perf_counter()
    for first in range(0, points, BATCH):
        batch = [
            Metric(metric, 2.5 * math.exp(-step / (points / 4)) + 0.1 + rng.gauss(0, 0.05), start_ms + step * 10, step)
            for step in range(first, min(points, first + BATCH))
        ]
        client.log_batch(run_id, metrics=batch)  # type: ignore[attr-defined]
    return time.perf_counter() - began
