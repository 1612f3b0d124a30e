"""Probes of schedules: who may create, disable, enable and delete one (a reader may not; nobody without a
token), and as whom its jobs run: the schedule's creator, never the server nor the caller who enabled it; a
creator who may no longer submit jobs (made a reader, or deleted) stops their schedules with that reason."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from kiln.clock import utcnow
from kiln.errors import Conflict, Forbidden
from kiln.specs.roles import Role
from tests.conftest import WorkspaceServer, wait_for
from tests.security.conftest import Member, Team, bearer_http


def _schedule(name: str, seconds_from_now: float = 3600) -> dict[str, Any]:
    """Runs every minute from ``seconds_from_now`` on (a recurrence's start_time is its first run)."""
    start = utcnow() + timedelta(seconds=seconds_from_now)
    return {
        "name": name, "create_job": {"command": "python -c \"print('on schedule')\"", "experiment_name": "attack"},
        "trigger": {"type": "recurrence", "frequency": "minute", "interval": 1, "start_time": start.isoformat()},
    }  # fmt: skip


def test_a_reader_cannot_create_disable_enable_or_delete_a_schedule_and_nobody_without_a_token(
    security_server: WorkspaceServer, team: Team
) -> None:
    name = f"sec-guarded-{uuid.uuid4().hex[:6]}"
    with team.contributor.client(security_server) as contributor, team.reader.client(security_server) as reader:
        contributor.schedules.create(_schedule(name))
        assert name in [view.name for view in reader.schedules.list()]  # readers read
        for attempt in (
            lambda: reader.schedules.create(_schedule(f"{name}-reader")), lambda: reader.schedules.disable(name),
            lambda: reader.schedules.enable(name), lambda: reader.schedules.delete(name),
        ):  # fmt: skip
            with pytest.raises(Forbidden, match="needs contributor or owner"):
                attempt()
        for token in (None, team.expired.token, team.revoked.token):
            with bearer_http(security_server, token) as anonymous:
                assert anonymous.get("/api/v1/schedules").status_code == 401
                assert anonymous.post(f"/api/v1/schedules/{name}/disable").status_code == 401
                assert anonymous.delete(f"/api/v1/schedules/{name}").status_code == 401
        view = reader.schedules.get(name)
        assert view.enabled and view.created_by == team.contributor.name  # untouched by the refused calls
        assert f"{name}-reader" not in [v.name for v in reader.schedules.list()]
        contributor.schedules.delete(name)


def _new_contributor(server: WorkspaceServer) -> Member:
    name = f"sched-maker-{uuid.uuid4().hex[:6]}"
    with server.client() as workspace:
        workspace.users.create(name, Role.CONTRIBUTOR, description="makes a schedule, then loses the right")
        made = workspace.users.create_token(name, expires_in="1d", description="schedules probe")
    return Member(name, Role.CONTRIBUTOR, made.token, made.id)


def test_a_schedules_jobs_run_as_its_creator_and_stop_when_the_creator_may_no_longer(
    security_server: WorkspaceServer, team: Team
) -> None:
    maker = _new_contributor(security_server)
    first, later = f"sec-first-{uuid.uuid4().hex[:6]}", f"sec-later-{uuid.uuid4().hex[:6]}"
    with maker.client(security_server) as mine, team.owner.client(security_server) as owner:
        mine.schedules.create(_schedule(first, seconds_from_now=2))
        mine.schedules.create(_schedule(later, seconds_from_now=40))
        owner.schedules.disable(first)
        owner.schedules.enable(first)  # enabled again by someone else: its runs are still its creator's
        (job,) = wait_for(
            lambda: owner.jobs.search(tags={"kiln.schedule": first})[0], timeout=120, what="the first scheduled run"
        )
        assert job.view.created_by == maker.name  # neither the owner who enabled it nor the server
        owner.schedules.delete(first)

        owner.users.update(maker.name, role="reader")  # before the later schedule's first run
        stopped = wait_for(
            lambda: (view := owner.schedules.get(later)).stopped_reason and view, timeout=120,
            what="the later schedule to stop",
        )  # fmt: skip
        assert not stopped.enabled and stopped.next_run_at is None
        assert stopped.stopped_reason == (
            f"stopped: its creator '{maker.name}' is now a reader; submitting jobs needs contributor or owner"
        )
        assert stopped.runs[0].job is None and stopped.runs[0].reason == stopped.stopped_reason
        assert owner.jobs.search(tags={"kiln.schedule": later})[0] == []  # no job ran as anyone
        with pytest.raises(Conflict, match="delete it and create it again as someone who may"):
            owner.schedules.enable(later)
        owner.users.delete(maker.name)
        with pytest.raises(Conflict, match=f"its creator '{maker.name}' is no longer a user of this workspace"):
            owner.schedules.enable(later)
        owner.schedules.delete(later)
