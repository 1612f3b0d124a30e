"""Schedules end to end on a real server whose schedules' clock the test moves (``KILN_SCHEDULES_CLOCK_FILE``):
a cron schedule every minute starts exactly one real job per minute the clock passes; disable stops its runs,
enable resumes them from the next minute, delete removes it; runs missed while the server was down run once when
it starts again, then the timetable goes on; bad schedule files are refused at create, naming the field.

A round of the server's loop starts every due schedule at once, so a second schedule (the witness) whose run for
a minute has appeared proves the round for that minute has passed: the tests wait on it, never on a sleep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kiln.errors import InvalidSpec, NotFound
from tests.conftest import REPO, WorkspaceServer, cleanup_jobs, server_env, wait_for
from tests.lanes import server_fixture

START = datetime(2030, 1, 1, tzinfo=UTC)
QUICK_JOB = {"command": "python -c \"print('scheduled run')\"", "experiment_name": "schedules-test"}


@dataclass
class Clocked:
    """A server and the clock its schedules run by."""

    server: WorkspaceServer
    clock_file: Path
    now: datetime = START

    def set(self, moment: datetime) -> None:
        self.now = moment
        self.clock_file.write_text(moment.isoformat())

    def advance(self, minutes: int = 1) -> None:
        self.set(self.now + timedelta(minutes=minutes))


@server_fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clocked]:
    home = tmp_path_factory.mktemp("kiln-schedules-home")
    clock_file = home / "schedules-clock"
    clock_file.write_text(START.isoformat())
    server = WorkspaceServer(
        home, server_env(home, local_concurrency="2", schedules_clock_file=str(clock_file))
    ).start()  # fmt: skip
    yield Clocked(server, clock_file)
    server.stop()
    cleanup_jobs(home)


def schedule(name: str, trigger: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "name": name, "trigger": trigger or {"type": "cron", "expression": "* * * * *"},
        "create_job": dict(QUICK_JOB), **fields,
    }  # fmt: skip


def scheduled_jobs(client: Any, name: str) -> list[str]:
    found, _ = client.jobs.search(tags={"kiln.schedule": name}, sort="created", limit=100)
    return sorted(job.name for job in found)


def step(clocked: Clocked, client: Any, witness: str) -> None:
    """Advance the clock one minute and wait until the round that saw it has run (the witness's job appears)."""
    clocked.advance()
    expected = f"{witness}-{clocked.now:%Y%m%d%H%M}"
    wait_for(lambda: expected in scheduled_jobs(client, witness), timeout=60, what=f"the witness's run {expected}")


def test_a_cron_schedule_starts_one_job_per_minute_and_disable_enable_delete_change_that(clocked: Clocked) -> None:
    clocked.set(START)
    with clocked.server.client() as client:
        created = client.schedules.create(schedule("every-minute", tags={"team": "tests"}))
        client.schedules.create(schedule("witness"))
        assert created.enabled and created.next_run_at == START + timedelta(minutes=1)
        for _ in range(3):
            step(clocked, client, "witness")
        names = scheduled_jobs(client, "every-minute")
        assert names == ["every-minute-203001010001", "every-minute-203001010002", "every-minute-203001010003"]
        first = client.jobs.get(names[0]).wait(timeout=120)
        assert first.status.value == "completed"
        assert first.view.tags["kiln.schedule.due"] == "2030-01-01T00:01:00+00:00"
        shown = client.schedules.get("every-minute")
        assert shown.last_job == names[-1] and shown.last_run_at == START + timedelta(minutes=3)
        assert [run.job for run in shown.runs] == names[::-1] and {run.missed for run in shown.runs} == {0}

        disabled = client.schedules.disable("every-minute")
        assert not disabled.enabled and disabled.next_run_at is None
        for _ in range(2):
            step(clocked, client, "witness")
        assert len(scheduled_jobs(client, "every-minute")) == 3  # none while disabled

        enabled = client.schedules.enable("every-minute")
        assert enabled.next_run_at == clocked.now + timedelta(minutes=1)
        step(clocked, client, "witness")
        assert scheduled_jobs(client, "every-minute")[-1] == f"every-minute-{clocked.now:%Y%m%d%H%M}"
        assert len(scheduled_jobs(client, "every-minute")) == 4

        client.schedules.delete("every-minute")
        with pytest.raises(NotFound, match="schedule 'every-minute' not found"):
            client.schedules.get("every-minute")
        step(clocked, client, "witness")
        assert len(scheduled_jobs(client, "every-minute")) == 4  # its jobs are kept, no new one
        assert "every-minute" not in [view.name for view in client.schedules.list()]
        client.schedules.delete("witness")


def test_runs_missed_while_the_server_was_down_run_once_then_the_timetable_goes_on(clocked: Clocked) -> None:
    clocked.set(START + timedelta(days=1))
    with clocked.server.client() as client:
        client.schedules.create(schedule("catch-up"))
    clocked.server.stop()
    clocked.advance(5)  # five runs fall while no server runs
    clocked.server.start()
    with clocked.server.client() as client:
        names = wait_for(lambda: scheduled_jobs(client, "catch-up"), timeout=60, what="the missed run")
        assert names == [f"catch-up-{clocked.now:%Y%m%d%H%M}"]  # one run, for the latest missed time
        (run,) = client.schedules.get("catch-up").runs
        assert run.missed == 4 and run.job == names[0]
        client.schedules.create(schedule("witness-2"))
        step(clocked, client, "witness-2")
        assert len(scheduled_jobs(client, "catch-up")) == 2  # then one a minute again
        for name in ("catch-up", "witness-2"):
            client.schedules.delete(name)


def test_a_recurrence_with_an_end_time_stops_at_its_end(clocked: Clocked) -> None:
    clocked.set(START + timedelta(days=2))
    end = clocked.now + timedelta(minutes=4)
    trigger = {"type": "recurrence", "frequency": "minute", "interval": 2, "end_time": end.isoformat()}
    with clocked.server.client() as client:
        client.schedules.create(schedule("every-two", trigger))
        client.schedules.create(schedule("witness-3"))
        for _ in range(5):
            step(clocked, client, "witness-3")
        assert len(scheduled_jobs(client, "every-two")) == 2  # minutes 2 and 4; none after the end
        ended = client.schedules.get("every-two")
        assert ended.enabled and ended.next_run_at is None
        listed = clocked.server.cli("schedule", "list", check=True).stdout
        assert "every-two" in listed and "ended" in listed
        for name in ("every-two", "witness-3"):
            client.schedules.delete(name)


def write_schedule(folder: Path, body: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "schedule.yml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


BAD_SCHEDULES = [
    ({"trigger": {"type": "cron", "expression": "every night"}}, "trigger.expression: 'every night' is not a cron"),
    ({"trigger": {"type": "cron", "expression": "0 25 * * *"}}, "the hour field '25' has 25, outside 0-23"),
    ({"trigger": {"type": "recurrence", "frequency": "fortnight", "interval": 1}}, "trigger.frequency"),
    ({"trigger": {"type": "recurrence", "frequency": "day", "interval": 0}}, "trigger.interval"),
    (
        {"trigger": {"type": "cron", "expression": "0 3 * * *", "time_zone": "Mars/Olympus"}},
        "trigger.time_zone: unknown time zone 'Mars/Olympus'",
    ),
    ({"create_job": "missing-job.yml"}, "create_job: job file 'missing-job.yml' not found"),
    ({"create_job": {"command": "true", "timeout_minutes": 3}}, "create_job (the inline job)"),
    ({"create_job": {"command": "true", "compute": "no-such-cluster"}}, "create_job: compute: "),
]


@pytest.mark.parametrize(("change", "message"), BAD_SCHEDULES, ids=[m[:30] for _, m in BAD_SCHEDULES])
def test_bad_schedules_are_refused_at_create_naming_the_field(
    clocked: Clocked, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = write_schedule(tmp_path, {**schedule("bad"), **change})
    with clocked.server.client() as client:
        with pytest.raises(InvalidSpec) as refused:
            client.schedules.create(path)
        assert "bad" not in [view.name for view in client.schedules.list()]
    assert message in refused.value.message, refused.value.message


def test_the_cli_refuses_a_bad_file_with_its_line_and_the_server_checks_what_the_client_skipped(
    clocked: Clocked, tmp_path: Path
) -> None:
    path = write_schedule(tmp_path, schedule("bad-cli", {"type": "cron", "expression": "* * *"}))
    result = clocked.server.cli("schedule", "create", "-f", str(path))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"error: {path}, line 4: trigger.expression: '* * *' is not a cron expression" in result.stderr
    # over REST, with no client to check it first
    headers = {"Authorization": f"Bearer {clocked.server.token}"}
    answer = httpx.post(
        f"{clocked.server.url}/api/v1/schedules", headers=headers, timeout=30,
        json=schedule("bad-rest", {"type": "cron", "expression": "61 * * * *"}),
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["message"].startswith("trigger.expression: the minute field '61'")
    answer = httpx.post(
        f"{clocked.server.url}/api/v1/schedules", headers=headers, timeout=30,
        json=schedule("bad-rest", create_job={"command": "true", "code": "./here"}),
    )  # fmt: skip
    assert answer.status_code == 422 and "create_job" in answer.json()["error"]["message"], answer.text


def test_the_example_schedule_is_created_from_its_files_and_its_nightly_run_trains(clocked: Clocked) -> None:
    clocked.set(datetime(2030, 1, 3, 0, 59, tzinfo=UTC))  # 01:59 in Paris
    example = REPO / "examples" / "schedules" / "nightly.yml"
    result = clocked.server.cli("schedule", "create", "-f", str(example), "-o", "json", check=True)
    view = json.loads(result.stdout)
    assert view["name"] == "nightly-training" and view["job_type"] == "command"
    assert view["create_job"]["code"].startswith("upload:")  # the job file's code, uploaded as job create does
    assert view["next_run_at"] == "2030-01-03T01:00:00Z"  # 02:00 in Paris
    shown = clocked.server.cli("schedule", "show", "-n", "nightly-training", check=True).stdout
    assert "cron '0 2 * * *' (Europe/Paris)" in shown
    clocked.advance()
    with clocked.server.client() as client:
        job = wait_for(lambda: client.jobs.search(tags={"kiln.schedule": "nightly-training"})[0], what="the run")[0]
        done = job.wait(timeout=240)
        assert done.status.value == "completed", done.view.failure_reason
        assert done.name == "nightly-training-203001030100" and 0 < done.metrics["test_r2"] < 1
    clocked.server.cli("schedule", "delete", "-n", "nightly-training", check=True)


def test_an_inline_sweep_is_a_job_a_schedule_may_submit(clocked: Clocked, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "trial.py").write_text("import sys, mlflow; mlflow.log_metric('loss', float(sys.argv[1]))\n")
    sweep = {
        "type": "sweep", "trial": {"code": "./src", "command": "python trial.py ${{search_space.x}}"},
        "search_space": {"x": {"type": "choice", "values": [1, 2]}}, "sampling_algorithm": "grid",
        "objective": {"goal": "minimize", "primary_metric": "loss"},
    }  # fmt: skip
    path = write_schedule(
        tmp_path, schedule("weekly-sweep", {"type": "cron", "expression": "0 4 * * sun"}, create_job=sweep)
    )
    with clocked.server.client() as client:
        view = client.schedules.create(path)
        assert view.job_type == "sweep" and view.create_job["trial"]["code"].startswith("upload:")
        client.schedules.delete("weekly-sweep")
