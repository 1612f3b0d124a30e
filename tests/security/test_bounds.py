"""Bounded inputs, checked at the door (issue 11), probed against a real server with a contributor's token.

- Every number a user sends has a maximum (docs/limits.md): ``limits.timeout: 1e30`` and
  ``process_count_per_instance: 1000000`` are refused with 422 naming the field, and no job is made.
- Text that reaches a process, a file or a database is bounded and holds no NUL; environment variable
  names are valid names: a 5 MB command, a 10,000-character ``experiment_name``, NUL in the command or a
  variable, ``=`` in a variable's name are refused with 422 naming the field, and nothing is made.
- YAML alias bombs: a 252-byte MLTable uploaded as a data asset is refused with 422 naming the file (it
  cost 100 MB and a 500); the ``kiln`` CLI refuses a bomb job file in one line, at once, in little memory.
- ``POST /login`` redirects only to local paths; the reserved user name is reserved in any case.
- A job's log stops at ``job_log_limit_bytes`` with a note at the cut, and is stored once (the job store;
  the MLflow run holds a small file saying where it is).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kiln.sdk.uploads import upload_path
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer
from tests.security.conftest import Team

PROBE = uuid.uuid4().hex[:6]
JOB = {"type": "command", "command": "echo hi"}


def alias_bomb(levels: int, width: int = 9) -> str:
    """A flow list of ``levels`` anchors, each ``width`` aliases of the one before; the last is ``*l{levels-1}``."""
    parts = ["&l0 [" + ",".join(["x"] * width) + "]"]
    parts += [f"&l{level} [" + ",".join([f"*l{level - 1}"] * width) + "]" for level in range(1, levels)]
    return "[" + ",".join(parts) + "]"


@pytest.fixture(scope="module")
def contributor(security_server: WorkspaceServer, team: Team) -> Iterator[httpx.Client]:
    with team.contributor.http(security_server) as http:
        yield http


def refused(response: httpx.Response, field: str) -> str:
    """The answer is a 422 InvalidSpec whose message names ``field``; its message."""
    assert response.status_code == 422, response.text[:500]
    error = response.json()["error"]
    assert error["type"] == "InvalidSpec" and field in error["message"], error
    return str(error["message"])


JOB_PROBES: list[tuple[str, dict[str, Any], str]] = [
    ("timeout-1e18", {"limits": {"timeout": 1e18}}, "limits.timeout"),  # accepted before: timedelta overflowed
    ("timeout-10e30", {"limits": {"timeout": 10**30}}, "limits.timeout"),
    ("processes", {"distribution": {"type": "pytorch", "process_count_per_instance": 1_000_000}},
     "distribution.process_count_per_instance"),
    ("instances", {"resources": {"instance_count": 1_000_000}}, "resources.instance_count"),
    ("gpus", {"resources": {"gpu_count": 1_000_000}}, "resources.gpu_count"),
    ("nul-command", {"command": "echo hi\x00; id"}, "command"),
    ("big-command", {"command": "echo " + "x" * (5 << 20)}, "command"),
    ("nul-variable", {"environment_variables": {"GREETING": "hi\x00there"}}, "environment_variables"),
    ("equals-name", {"environment_variables": {"A=B": "x"}}, "environment_variables"),
    ("empty-name", {"environment_variables": {"": "x"}}, "environment_variables"),
    ("digit-name", {"environment_variables": {"1ABC": "x"}}, "environment_variables"),
    ("nul-name", {"environment_variables": {"A\x00B": "x"}}, "environment_variables"),
    ("experiment", {"experiment_name": "e" * 10_000}, "experiment_name"),
    ("display-name", {"display_name": "d" * 10_000}, "display_name"),
    ("description", {"description": "d" * 100_000}, "description"),
    ("tag-key", {"tags": {"k" * 1000: "v"}}, "tags"),
    ("tag-key-mlflow-refuses", {"tags": {"'é": "x"}}, "tags"),
    ("nul-code", {"code": "upload:abc\x00/../../token"}, "code"),
]  # fmt: skip


@pytest.mark.parametrize(("probe", "fields", "field"), JOB_PROBES, ids=[p[0] for p in JOB_PROBES])
def test_a_job_past_a_bound_is_refused_naming_the_field_and_nothing_is_made(
    contributor: httpx.Client, probe: str, fields: dict[str, Any], field: str
) -> None:
    name = f"bounds-{probe}-{PROBE}"
    refused(contributor.post("/api/v1/jobs", json={**JOB, "name": name, **fields}), field)
    assert contributor.get(f"/api/v1/jobs/{name}").status_code == 404


def test_endpoints_and_deployments_past_a_bound_are_refused(contributor: httpx.Client) -> None:
    endpoint = f"bounds-{PROBE}"
    refused(
        contributor.post("/api/v1/online-endpoints", json={"name": endpoint, "description": "d" * 100_000}),
        "description",
    )
    assert contributor.get(f"/api/v1/online-endpoints/{endpoint}").status_code == 404
    assert contributor.post("/api/v1/online-endpoints", json={"name": endpoint}).status_code == 201
    try:
        deployment = {"name": "blue", "endpoint_name": endpoint, "model": "kiln:nothing:1"}
        for extra, field in [
            ({"request_settings": {"max_concurrent_requests_per_instance": 1_000_000}}, "max_concurrent_requests"),
            ({"request_settings": {"request_timeout_ms": 10**12}}, "request_timeout_ms"),
            ({"instance_count": 100_000}, "instance_count"),
            ({"readiness_probe": {"initial_delay": 10**9}}, "initial_delay"),
            ({"batching": {"max_batch_size": 10**9}}, "max_batch_size"),
            ({"environment_variables": {"A=B": "x"}}, "environment_variables"),
            ({"environment_variables": {"A": "\x00"}}, "environment_variables"),
        ]:
            url = f"/api/v1/online-endpoints/{endpoint}/deployments"
            refused(contributor.post(url, json={**deployment, **extra}), field)
        assert contributor.get(f"/api/v1/online-endpoints/{endpoint}").json()["deployments"] == []
    finally:
        contributor.delete(f"/api/v1/online-endpoints/{endpoint}")


def test_an_mltable_alias_bomb_is_refused_naming_the_file(
    security_server: WorkspaceServer, team: Team, contributor: httpx.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "bomb"
    folder.mkdir()
    (folder / "MLTable").write_text(f"$schema: {alias_bomb(7)}\npaths:\n  - file: *l6\n")
    assert len((folder / "MLTable").read_bytes()) < 320  # a few hundred bytes; 4.8 million values expanded
    with team.contributor.client(security_server) as client:
        reference = upload_path(client._rest, folder)
    name = f"bounds-mltable-{PROBE}"
    started = time.monotonic()
    answer = contributor.post("/api/v1/data", json={"name": name, "type": "mltable", "path": reference})
    message = refused(answer, "MLTable")
    assert "aliases are expanded" in message and time.monotonic() - started < 10
    assert contributor.get("/api/v1/data", params={"name": name}).status_code == 404  # no such asset


# Runs a command with at most 2 GiB of address space (without the bound the CLI took 1.6 GB: fail fast instead
# of taking the machine), killed after 120 s, and writes its exit code and its own peak memory to argv[1].
MEASURED_RUN = """
import json, os, resource, subprocess, sys, threading
gib = 1 << 30
child = subprocess.Popen(sys.argv[2:], preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 * gib, 2 * gib)))
timer = threading.Timer(120, child.kill)
timer.start()
_, status, usage = os.wait4(child.pid, 0)
timer.cancel()
with open(sys.argv[1], "w") as report:
    json.dump({"code": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}, report)
"""


def test_the_cli_refuses_a_yaml_bomb_in_one_line_at_once_in_little_memory(
    security_server: WorkspaceServer, team: Team, tmp_path: Path
) -> None:
    job_file = tmp_path / "bomb.yml"
    job_file.write_text(f"type: command\ncommand: echo hi\ntags: {{t: {alias_bomb(7)}}}\n")
    assert len(job_file.read_bytes()) < 400
    env = {**os.environ, "KILN_URL": security_server.url, "KILN_TOKEN": team.contributor.token}
    report = tmp_path / "usage.json"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        # through a small Python of its own: a child's peak memory (ru_maxrss) counts what it inherited at fork,
        # and this test's worker may be large by now
        subprocess.run(
            [sys.executable, "-c", MEASURED_RUN, str(report), sys.executable, "-m", "kiln", "job", "create", "-f",
             str(job_file)],
            stdout=out, stderr=err, env=env, timeout=180, check=True,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        err.seek(0)
        lines = err.read().decode().strip().splitlines()
    measured = json.loads(report.read_text())
    assert measured["code"] == 2 and len(lines) == 1, (measured, lines)
    assert str(job_file) in lines[0] and "refused" in lines[0], lines
    assert elapsed < 20, elapsed  # without the bound: 28 s
    assert measured["maxrss_kib"] < 300 * 1024, measured  # about 55 MB; without the bound: 1.2 GB


@pytest.mark.parametrize(
    "target",
    ["/\\evil.example", "//evil.example", "https://evil.example", "/\\/evil.example", "/\t/evil.example"],
)
def test_login_redirects_only_to_local_paths(security_server: WorkspaceServer, team: Team, target: str) -> None:
    with httpx.Client(base_url=security_server.url, follow_redirects=False) as http:
        for body in (
            {"token": team.contributor.token, "next": target},  # the form's field, encoded by httpx
            f"token={team.contributor.token}&next={quote(target, safe='')}",  # every character escaped
        ):
            answer = http.post("/login", data=body) if isinstance(body, dict) else http.post(
                "/login", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
            )  # fmt: skip
            assert answer.status_code == 303 and answer.headers["location"] == "/ui/jobs", answer.headers
        answer = http.post("/login", params={"next": target}, data={"token": team.contributor.token})
        assert answer.headers["location"] == "/ui/jobs"
        kept = http.post("/login", data={"token": team.contributor.token, "next": "/mlflow/#/experiments/0"})
        assert kept.status_code == 303 and kept.headers["location"] == "/mlflow/#/experiments/0"


@pytest.mark.parametrize("name", ["Workspace", "WORKSPACE", "wOrKsPaCe"])
def test_the_reserved_user_name_is_refused_in_any_case(security_server: WorkspaceServer, team: Team, name: str) -> None:
    with team.owner.http(security_server) as owner:
        refused(owner.post("/api/v1/users", json={"name": name, "role": "reader"}), "name")
        assert owner.get(f"/api/v1/users/{name}").status_code == 404


LOG_LIMIT = 8192


def test_a_jobs_log_is_cut_at_the_limit_with_a_note_and_stored_once(make_server: Any, tmp_path: Path) -> None:
    server: WorkspaceServer = make_server(job_log_limit_bytes=str(LOG_LIMIT))
    code = tmp_path / "src"
    code.mkdir()
    (code / "noisy.py").write_text(
        "import sys\nfor i in range(20000):\n    print(f'line {i:06d} ' + 'x' * 40)\n"
        "print('the end', file=sys.stderr)\n"
    )
    with server.client() as client:
        job = client.jobs.create({**JOB, "code": str(code), "command": "python noisy.py"}).wait(timeout=240)
        assert job.status == JobStatus.COMPLETED, job.view
        log = "".join(client.jobs.logs(job.name)).encode()
    assert len(log) < LOG_LIMIT + 300 and log.startswith(b"line 000000 ")  # 1 MB written, 8 KiB kept
    assert log.rstrip().endswith(b"was not kept") and b"job_log_limit_bytes" in log
    assert b"the end" not in log
    home = server.home
    stored = home / "artifacts" / "jobs" / job.view.id / "logs" / "std_log.txt"
    assert stored.read_bytes() == log
    user_logs = sorted(p.name for p in home.rglob("user_logs/*"))
    assert user_logs == ["std_log.where.txt"], user_logs  # MLflow's run: where the log is, not a second copy
    reference = next(home.rglob("user_logs/std_log.where.txt")).read_text()
    assert f"kiln job logs {job.name}" in reference
