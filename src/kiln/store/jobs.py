"""Reads and writes of job rows. Status changes are compare-and-set so that two
actors (the job engine, a cancel request, a restart, another server) never both win.

Several servers may share one database: a queued job belongs to no server until one claims
it (``claim_queued``); from then on ``server_id`` names the server that runs it, and only
that server counts it against its slots or recovers it after a restart."""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from kiln.errors import Conflict, NotFound
from kiln.specs.views import ACTIVE_STATUSES, JOB_SORTS, JobStatus
from kiln.store.postgres import lock_key, transaction_lock
from kiln.store.tables import JobRow

SHORT_ID = re.compile(r"[0-9a-f]{6,31}")  # the start of a job id (MLflow run ids are 32 hex digits)


SORTS = JOB_SORTS

AS_TEXT = ("spec", "environment", "pinned_inputs")  # records many jobs share (one file, one environment)
NOT_VIEWED = frozenset({"pid", "pid_started", "cancel_requested", *AS_TEXT})
VIEW_COLUMNS = (
    *(column for column in JobRow.__table__.columns if column.key not in NOT_VIEWED),
    *(cast(JobRow.__table__.columns[name], Text).label(f"{name}_json") for name in AS_TEXT),
)
"""What a job's view reads of its row, as a list selects it (``listing``, ``search``): plain rows with ``JobRow``'s
attribute names, but the spec, the environment and the pinned inputs as their stored JSON text (``spec_json``,
``environment_json``, ``pinned_inputs_json``): a list parses each text once for the jobs that share it."""
JobListing = namedtuple("JobListing", [column.key for column in VIEW_COLUMNS])  # type: ignore[misc]
"""A list's row: a tuple whose fields are read as quickly as a local's (a SQLAlchemy ``Row``'s take ~0.4 µs each)."""


@dataclass(frozen=True)
class JobFilters:
    """What a job list may be narrowed to (each given filter must hold): exact status, experiment, creator and
    compute; every tag of the job's spec: ``key: value``, or ``key: None`` for a job that has the tag whatever its
    value; ``text`` found in the name or display name."""

    statuses: tuple[JobStatus, ...] = ()
    experiment: str | None = None
    created_by: str | None = None
    compute: str | None = None
    tags: dict[str, str | None] = field(default_factory=dict)
    text: str | None = None


PARENT_TAG = "kiln.parent"  # a child job's tag: the name of the job it belongs to (a sweep's trials)


class JobRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @contextmanager
    def one_server_at_a_time(self, name: str) -> Iterator[None]:
        """The body runs in one server of the workspace at a time, the others waiting their turn (PostgreSQL: an
        advisory lock on ``name`` held by a transaction for the body; on SQLite one server has the database)."""
        with self._sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":  # (no connection taken elsewhere)
                transaction_lock(session.connection(), lock_key(name))
            yield

    def add(self, row: JobRow) -> None:
        with self._sessions.begin() as session:
            session.add(row)

    def add_many(self, rows: Iterable[JobRow]) -> None:
        """Record many jobs in one transaction (imports; the studio's benchmarks of long lists)."""
        with self._sessions.begin() as session:
            session.add_all(list(rows))

    def find(self, name_or_id: str) -> JobRow | None:
        """The job of that name or id, or of the one id that starts with it (a short id, as `kiln job list`
        shows them and git takes them: at least 6 hex digits); Conflict when several ids start with it."""
        with self._sessions() as session:
            query = select(JobRow).where(or_(JobRow.name == name_or_id, JobRow.id == name_or_id))
            row: JobRow | None = session.scalars(query).first()
            if row is not None or not SHORT_ID.fullmatch(name_or_id):
                return row
            prefixed = list(session.scalars(select(JobRow).where(JobRow.id.startswith(name_or_id)).limit(3)))
        if len(prefixed) > 1:
            names = ", ".join(job.name for job in prefixed[:2])
            raise Conflict(f"'{name_or_id}' is the start of several jobs' ids ({names}, …); give more of it")
        return prefixed[0] if prefixed else None

    def get(self, name_or_id: str) -> JobRow:
        row = self.find(name_or_id)
        if row is None:
            raise NotFound(f"job '{name_or_id}' not found (kiln job list shows the jobs there are)")
        return row

    def name_taken(self, name: str) -> bool:
        return self.find(name) is not None

    def children(self, parent: str, limit: int = 1000) -> list[JobRow]:
        """The jobs whose spec's tag ``kiln.parent`` names ``parent`` (a sweep's trials), oldest first."""
        query = select(JobRow).where(JobRow.spec["tags"][PARENT_TAG].as_string() == parent)
        with self._sessions() as session:
            return list(session.scalars(query.order_by(JobRow.created_at, JobRow.id).limit(limit)))

    def of_type(self, job_type: str, statuses: Iterable[JobStatus]) -> list[JobRow]:
        """The jobs of type ``job_type`` in ``statuses``, oldest first (a capability's own jobs: live sweeps)."""
        query = select(JobRow).where(
            JobRow.spec["type"].as_string() == job_type, JobRow.status.in_([s.value for s in statuses])
        )
        with self._sessions() as session:
            return list(session.scalars(query.order_by(JobRow.created_at, JobRow.id)))

    def recent(self, statuses: Iterable[JobStatus] | None = None, limit: int = 100) -> list[JobRow]:
        query = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
        if statuses is not None:
            query = query.where(JobRow.status.in_([s.value for s in statuses]))
        with self._sessions() as session:
            return list(session.scalars(query))

    def listing(self, statuses: Iterable[JobStatus] | None = None, limit: int = 100) -> list[JobListing]:
        """The newest jobs as :data:`VIEW_COLUMNS`: plain rows, not ORM objects (a list of a thousand jobs reads
        only what its views show, without the ORM's bookkeeping). ``recent`` gives whole ``JobRow``s."""
        query = _viewed().order_by(JobRow.created_at.desc()).limit(limit)
        if statuses is not None:
            query = query.where(JobRow.status.in_([s.value for s in statuses]))
        with self._sessions() as session:
            return [JobListing._make(row) for row in session.execute(query)]

    def search(
        self, filters: JobFilters, sort: str = "created", descending: bool = True, offset: int = 0, limit: int = 50
    ) -> tuple[list[JobListing], int]:
        """One page of the jobs that match ``filters`` (as :data:`VIEW_COLUMNS`), sorted in the database, and how
        many match in all. ``sort`` is one of SORTS (``duration``: jobs that have not ended come last either way)."""
        conditions = _conditions(filters)
        key = _sort_key(sort, self._dialect())
        order = [key.desc() if descending else key.asc(), JobRow.created_at.desc(), JobRow.id]
        if sort == "duration":
            order.insert(0, key.is_(None))  # unfinished jobs last, in both directions
        query = _viewed().where(*conditions).order_by(*order).offset(offset).limit(limit)
        counting = select(func.count()).select_from(JobRow).where(*conditions)
        with self._sessions() as session:
            rows = [JobListing._make(row) for row in session.execute(query)]
            total = len(rows) + offset if 0 < len(rows) < limit else int(session.scalar(counting) or 0)
        return rows, total

    def choices(self) -> dict[str, list[str]]:
        """The experiments, creators and computes that jobs name (a list's filter choices), sorted."""
        columns = {"experiment": JobRow.experiment_name, "created_by": JobRow.created_by, "compute": JobRow.compute}
        with self._sessions() as session:
            return {
                name: [value for value in session.scalars(select(column).distinct().order_by(column)) if value]
                for name, column in columns.items()
            }

    def _dialect(self) -> str:
        engine = self._sessions.kw.get("bind")
        return engine.dialect.name if engine is not None else "sqlite"

    def oldest_queued(self, compute: str, limit: int | None = None) -> list[JobRow]:
        query = (
            select(JobRow)
            .where(JobRow.status == JobStatus.QUEUED.value, JobRow.compute == compute)
            .order_by(JobRow.created_at)
            .limit(limit)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def claim_queued(
        self,
        compute: str,
        server_id: str | None,
        choose: Callable[[list[JobRow]], Sequence[tuple[JobRow, dict[str, Any]]]],
    ) -> list[JobRow]:
        """Move the queued jobs that ``choose`` picks (oldest first) to preparing, for ``server_id``.

        ``choose`` gets the queued rows and returns ``(row, fields)`` for those to start. On
        PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``: servers dispatching at the same
        moment each see only rows no other is claiming, and none waits for another. Elsewhere
        each move is the usual compare-and-set. Either way a job is claimed by one server only.
        Returns the rows this call claimed.
        """
        query = (
            select(JobRow)
            .where(JobRow.status == JobStatus.QUEUED.value, JobRow.compute == compute)
            .order_by(JobRow.created_at)
        )
        owner = {"server_id": server_id} if server_id is not None else {}
        engine = self._sessions.kw.get("bind")
        if engine is None or engine.dialect.name != "postgresql":
            chosen = choose(self.oldest_queued(compute))
            return [
                row
                for row, fields in chosen
                if self.transition(row.id, [JobStatus.QUEUED], JobStatus.PREPARING, **fields, **owner)
            ]
        claimed = []
        with self._sessions.begin() as session:
            rows = list(session.scalars(query.with_for_update(skip_locked=True)))
            for row, fields in choose(rows):
                moved = session.execute(
                    update(JobRow)
                    .where(JobRow.id == row.id, JobRow.status == JobStatus.QUEUED.value)
                    .values(status=JobStatus.PREPARING.value, **fields, **owner)
                )
                if getattr(moved, "rowcount", 0):
                    claimed.append(row)
        return claimed

    def active_of(self, server_id: str | None) -> list[JobRow]:
        """Preparing and running jobs of ``server_id``; first it takes over those that name no
        server (recorded before servers were told apart)."""
        active = [s.value for s in ACTIVE_STATUSES]
        with self._sessions.begin() as session:
            if server_id is not None:
                session.execute(
                    update(JobRow)
                    .where(JobRow.status.in_(active), JobRow.server_id.is_(None))
                    .values(server_id=server_id)
                )
            query = select(JobRow).where(JobRow.status.in_(active)).order_by(JobRow.created_at.desc())
            if server_id is not None:
                query = query.where(JobRow.server_id == server_id)
            return list(session.scalars(query))

    def gpus_held(
        self, statuses: Iterable[JobStatus], compute: str | None = None, server_id: str | None = None
    ) -> set[str]:
        """The GPU ids that jobs in ``statuses`` (on ``compute``, of ``server_id``, where given) hold."""
        query = select(JobRow.gpu_ids).where(JobRow.status.in_([s.value for s in statuses]))
        if compute is not None:
            query = query.where(JobRow.compute == compute)
        if server_id is not None:
            query = query.where(JobRow.server_id == server_id)
        with self._sessions() as session:
            return {gpu for ids in session.scalars(query) for gpu in ids or []}

    def count(
        self, statuses: Iterable[JobStatus], compute: str | None = None, server_id: str | None = None,
        except_types: Iterable[str] = (),
    ) -> int:  # fmt: skip
        """How many jobs are in ``statuses`` (on ``compute``, run by ``server_id``, where given; not of
        ``except_types``: kinds that run no process hold no slot)."""
        query = select(func.count()).select_from(JobRow).where(JobRow.status.in_([s.value for s in statuses]))
        if except_types:
            query = query.where(JobRow.spec["type"].as_string().not_in(list(except_types)))
        if compute is not None:
            query = query.where(JobRow.compute == compute)
        if server_id is not None:
            query = query.where(JobRow.server_id == server_id)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def transition(self, job_id: str, allowed_from: Iterable[JobStatus], to: JobStatus, **fields: Any) -> bool:
        """Move a job to ``to`` only if it is in one of ``allowed_from``; True if it moved."""
        values = {"status": to.value, **fields}
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_([s.value for s in allowed_from]))
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0))

    def set_fields(self, job_id: str, **fields: Any) -> None:
        with self._sessions.begin() as session:
            session.execute(update(JobRow).where(JobRow.id == job_id).values(**fields))


def _conditions(filters: JobFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.statuses:
        conditions.append(JobRow.status.in_([status.value for status in filters.statuses]))
    for column, wanted in (
        (JobRow.experiment_name, filters.experiment),
        (JobRow.created_by, filters.created_by),
        (JobRow.compute, filters.compute),
    ):
        if wanted is not None:
            conditions.append(column == wanted)
    for key, value in filters.tags.items():
        tag = JobRow.spec["tags"][key].as_string()
        conditions.append(tag.is_not(None) if value is None else tag == value)
    if filters.text:
        pattern = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(JobRow.name.ilike(pattern, escape="\\"), JobRow.display_name.ilike(pattern, escape="\\")))
    return conditions


def _sort_key(sort: str, dialect: str) -> Any:
    if sort == "name":
        return func.coalesce(JobRow.display_name, JobRow.name)
    if sort == "status":
        return JobRow.status
    if sort == "duration":
        if dialect == "sqlite":
            return func.julianday(JobRow.ended_at) - func.julianday(JobRow.started_at)
        return JobRow.ended_at - JobRow.started_at
    if sort == "created":
        return JobRow.created_at
    raise ValueError(f"unknown sort {sort!r}: one of {', '.join(SORTS)}")


def _viewed() -> Select[Any]:
    return select(*VIEW_COLUMNS)
