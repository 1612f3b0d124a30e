"""``kiln job list`` and ``kiln job create`` through the fast front (``kiln.cli.quick``: no typer; a table of jobs
without pydantic) print what typer's commands print, and fail as they fail: the same output, errors and exit codes
for the same arguments, against a real workspace."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, WorkspaceServer, wait_for, write_job

FRONT = "import sys; from kiln.cli.main import main; sys.argv[0] = 'kiln'; main()"  # the console script's body
TYPER_ONLY = (  # the same, with the fast front declining every command
    "import sys; import kiln.cli.quick as quick; quick.run_quickly = lambda args: False\n"
    "from kiln.cli.main import main; sys.argv[0] = 'kiln'; main()"
)
MODULES = (  # the front, printing the top-level packages it imported to stderr
    "import atexit, sys\n"
    "atexit.register(lambda: print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr))\n"
    + FRONT
)


def run(workspace: WorkspaceServer, code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**workspace.env, "KILN_URL": workspace.url, "KILN_TOKEN": workspace.token, **env}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=environment, cwd=REPO, timeout=120
    )


def both(workspace: WorkspaceServer, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], ...]:
    return run(workspace, FRONT, *args, **env), run(workspace, TYPER_ONLY, *args, **env)


@pytest.fixture(scope="module")
def settled(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> WorkspaceServer:
    """The workspace with a completed, a failed and a named job, every job ended (a list that does not change)."""
    folder = tmp_path_factory.mktemp("quick-front")
    with workspace.client() as client:
        client.jobs.create(write_job(folder / "ok", "command: echo fine\n")).wait(timeout=120)
        client.jobs.create(write_job(folder / "bad", "command: exit 3\n")).wait(timeout=120)
        client.jobs.create({"command": "echo named", "display_name": "a display name long enough to wrap"}).wait(
            timeout=120
        )
        wait_for(lambda: all(job.status.is_terminal for job in client.jobs.list(limit=10_000)), what="every job ended")
    return workspace


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["job", "list"], {}),
        (["job", "list", "--limit", "1000", "-o", "json"], {}),
        (["job", "list", "--status", "completed", "--limit=2"], {"COLUMNS": "80"}),
        (["job", "list", "--status=failed", "--output", "table"], {"COLUMNS": "200"}),
        (["job", "list", "--limit", "2"], {"FORCE_COLOR": "1", "COLUMNS": "100"}),  # a terminal: Rich draws it
        (["job", "list", "--limit", "0"], {}),  # the server refuses it: the same error, exit 2
        (["job", "list", "--status", "bogus"], {}),  # typer's error
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else ",".join(value),
)
def test_job_list_prints_what_typer_s_command_prints(
    settled: WorkspaceServer, args: list[str], env: dict[str, str]
) -> None:
    front, typer = both(settled, *args, **env)
    assert (front.returncode, front.stdout, front.stderr) == (typer.returncode, typer.stdout, typer.stderr)
    if front.returncode == 0:
        assert front.stdout.strip()


def test_a_table_of_jobs_imports_neither_typer_nor_pydantic(settled: WorkspaceServer) -> None:
    done = run(settled, MODULES, "job", "list", "--limit", "100")
    assert done.returncode == 0, done.stderr
    modules = set(done.stderr.split())
    assert not {"typer", "click", "pydantic", "pydantic_core", "httpx", "yaml"} & modules  # Rich: is it a terminal?
    assert "completed" in done.stdout


def _created_line(done) -> str:  # type: ignore[no-untyped-def]
    """What ``job create`` printed, its job's name and status put as NAME and STATUS: the status is the job's as
    the server answered, queued or, when the engine was quicker, preparing."""
    _, name, status, *_ = done.stdout.split()
    assert status in ("queued", "preparing"), done.stdout
    return str(done.stdout.replace(name, "NAME").replace(f" {status} ", " STATUS ", 1))


def test_job_create_prints_and_fails_as_typer_s_command(settled: WorkspaceServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    job = write_job(tmp_path / "job", "command: echo quick\nexperiment_name: quick-front\n")
    front, typer = both(settled, "job", "create", "-f", str(job), "--set", "display_name=quick")
    assert front.returncode == typer.returncode == 0, front.stderr + typer.stderr
    assert _created_line(front) == _created_line(typer)
    front, typer = both(settled, "job", "create", "--file", str(job), "-o", "json")
    shown = [json.loads(done.stdout) for done in (front, typer)]
    assert shown[0].keys() == shown[1].keys() and shown[0]["experiment_name"] == shown[1]["experiment_name"]
    bad = write_job(tmp_path / "bad", "command: echo x\nlimits: {timeout: -1}\nnot_a_field: 1\n")
    for args in (
        ["job", "create", "-f", str(tmp_path / "missing.yml")],
        ["job", "create", "-f", str(bad)],
        ["job", "create", "-f", str(job), "--set", "inputs.nope=1"],
        ["job", "create", "--rerun", "no-such-job"],
        ["job", "create"],
    ):
        front, typer = both(settled, *args)
        assert front.returncode != 0 and "Traceback" not in front.stderr, front.stderr
        assert (front.returncode, front.stdout, front.stderr) == (typer.returncode, typer.stdout, typer.stderr)


FULL_CHECK = (  # the front, with every job file checked by the client's models before it is sent (as before)
    "import sys; import kiln.sdk.simple_submit as simple; simple.simple_fields = lambda data: None\n" + FRONT
)


def test_a_simple_job_file_is_sent_as_written_with_the_same_answers_and_errors(  # type: ignore[no-untyped-def]
    settled: WorkspaceServer, tmp_path
) -> None:
    """``kiln job create`` of a simple file (kiln.sdk.simple_submit: no spec models on the client) prints and fails
    as the full client-side check did: the same output, error (with its line) and exit code."""
    ok = write_job(tmp_path / "ok", "command: echo simple\nexperiment_name: quick-front\ntags: {a: b}\n")
    quick, full = (
        run(settled, FRONT, "job", "create", "-f", str(ok)),
        run(settled, FULL_CHECK, "job", "create", "-f", str(ok)),
    )
    assert quick.returncode == full.returncode == 0, quick.stderr + full.stderr
    assert _created_line(quick) == _created_line(full)
    names = [done.stdout.split()[1] for done in (quick, full)]
    with settled.client() as client:
        jobs = [client.jobs.get(name) for name in names]
        assert [(job.view.experiment_name, job.view.tags.get("a"), job.view.command) for job in jobs] == [
            ("quick-front", "b", "echo simple")
        ] * 2
        client.jobs.create({"command": "echo once", "name": "quick-front-taken"})
    (tmp_path / "a-file").write_text("not a folder\n")
    refused = {
        "bad-name": "command: echo\nname: 'no spaces'\n",  # the client's check: its line
        "no-code": "command: echo\ncode: ./nowhere\n",
        "reference": "command: echo ${{inputs.x}}\n",
        "taken": "command: echo\nname: quick-front-taken\n",  # the server's: 409
        "code-file": f"command: echo\ncode: {tmp_path / 'a-file'}\n",
        "environment": "command: echo\nenvironment: kiln:no-such-environment@1\n",
        "compute": "command: echo\ncompute: no-such-compute\n",
    }
    for name, text in refused.items():
        path = write_job(tmp_path / name, text)
        quick, full = (run(settled, code, "job", "create", "-f", str(path)) for code in (FRONT, FULL_CHECK))
        assert quick.returncode != 0 and "Traceback" not in quick.stderr, (name, quick.stderr)
        assert (quick.returncode, quick.stdout, quick.stderr) == (full.returncode, full.stdout, full.stderr), name
    done = run(settled, MODULES, "job", "create", "-f", str(ok), "-o", "json")
    assert done.returncode == 0, done.stderr
    assert not {"typer", "click", "pydantic", "pydantic_core", "httpx"} & set(done.stderr.split())
    assert json.loads(done.stdout)["experiment_name"] == "quick-front"


def test_job_list_by_tag_through_both_fronts(settled: WorkspaceServer) -> None:
    """``--tag KEY=VALUE`` (that value) and ``--tag KEY`` (any value), repeatable, read alike by both fronts; a tag
    with no key refused alike, naming the option, before any request."""
    with settled.client() as client:
        tagged = client.jobs.create({"command": "echo a", "tags": {"qf.team": "vision", "qf.reviewed": "yes"}})
        other = client.jobs.create({"command": "echo b", "tags": {"qf.team": "nlp"}})
        for job in (tagged, other):
            job.wait(timeout=120)
    expected = {
        ("--tag", "qf.team=vision"): [tagged.name],
        ("--tag", "qf.team"): [other.name, tagged.name],
        ("--tag=qf.team", "--tag", "qf.reviewed"): [tagged.name],
        ("--tag", "qf.team=", "--status", "completed"): [],
    }
    for args, names in expected.items():
        front, typer = both(settled, "job", "list", *args, "-o", "json")
        assert front.returncode == 0, front.stderr
        assert [job["name"] for job in json.loads(front.stdout)] == [job["name"] for job in json.loads(typer.stdout)]
        assert [job["name"] for job in json.loads(front.stdout)] == names, args
    front, typer = both(settled, "job", "list", "--tag", "qf.team=vision")
    assert front.stdout == typer.stdout and tagged.name[:8] in front.stdout and other.name[:8] not in front.stdout
    front, typer = both(settled, "job", "list", "--tag", "=vision")
    assert (front.returncode, front.stdout, front.stderr) == (typer.returncode, typer.stdout, typer.stderr)
    assert front.returncode == 2 and "--tag: '=vision' names no tag; write KEY=VALUE" in front.stderr, front.stderr
    assert "Traceback" not in front.stderr
