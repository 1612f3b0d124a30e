"""Thousands of recorded jobs in a moment, through the repository (no job runs): the studio's list tests and
benchmarks need 5,000 of them. Statuses, experiments, creators, computes and tags cycle so every filter finds some."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kiln.store.jobs import JobRepository
from kiln.store.tables import JobRow

STATUSES = ("completed", "failed", "canceled", "completed", "failed")  # ended: no engine picks one up
EXPERIMENTS = ("mnist", "cifar", "bert")
CREATORS = ("alice", "bob")


def many_job_rows(count: int, prefix: str = "bulk", start: datetime | None = None) -> list[JobRow]:
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        status = STATUSES[index % len(STATUSES)]
        created = start + timedelta(minutes=index)
        ended = status != "canceled"  # canceled while queued: never started
        rows.append(
            JobRow(
                id=f"{prefix}{index:028d}"[-32:],
                name=f"{prefix}-{index:05d}",
                display_name=None,
                experiment_name=EXPERIMENTS[index % 3],
                experiment_id=str(index % 3),
                compute="local",
                status=status,
                created_at=created,
                created_by=CREATORS[index % 2],
                started_at=created + timedelta(seconds=5) if ended else None,
                ended_at=created + timedelta(seconds=5 + index % 97) if ended else created + timedelta(seconds=1),
                spec={
                    "type": "command",
                    "command": f"python train.py --seed {index}",
                    "experiment_name": EXPERIMENTS[index % 3],
                    "tags": {"lr": str(index % 4), "team": "vision"},
                },
                code_hash=None,
                pinned_inputs={},
                environment={},
                gpu_ids=[],
            )  # fmt: skip
        )
    return rows


def add_many_jobs(jobs: JobRepository, count: int, prefix: str = "bulk") -> None:
    jobs.add_many(many_job_rows(count, prefix))
