"""The attack suite's harness: a real workspace server, a team with one user per role, real jobs as an
attacker's probe, and a seeded set of resources with real names to aim at. SECURITY.md says what each
module of this suite proves.

What a probe module gets
------------------------

- ``security_server``: a workspace server of the suite's own (session scope: one per xdist worker, never
  the shared ``workspace``, so a probe that gets through cannot spoil other tests). Probes must leave it
  as they found it; a module that must change or reconfigure a server starts its own with ``make_server``
  (tests/conftest.py) and builds a team on it with :func:`make_team`.
- ``team``: a :class:`Team` on that server: ``team.reader``, ``team.contributor``, ``team.owner`` (each a
  :class:`Member` with a token valid for a day), ``team.workspace_token`` (the bootstrap owner's), and
  tokens that must be refused: ``team.expired`` (a contributor's, past its expiry) and ``team.revoked``.
  ``member.client(server)`` is the SDK as that user, ``member.http(server)`` a raw keep-alive httpx client
  with the user's bearer token (``bearer_http(server, token)`` for any other token, or none).
- ``seeded``: :class:`Seeded`, real resources made by the contributor: a completed job with an output
  (made by :func:`run_probe_job`, so it also holds that job's own token, revoked when the job ended), a
  model version with an alias, a data asset, an endpoint; ``seeded.values_for(operation)`` fills any
  operation's path parameters with these names.
- ``seeded_deployment``: deployment ``blue`` on the seeded endpoint, with all its traffic (a replica process:
  ask for it where a probe needs a live one; it is made once per worker, on first use).
- :func:`probe_in_job` ``(server, token, script) -> dict``: runs ``script`` as a real job submitted with
  ``token`` (a contributor's, say) and returns what the script reported. The script calls
  ``report(key=value, ...)`` (defined for it; values must be JSON) as often as it likes; the reports are
  merged, written to the job's ``./outputs/probe.json`` and read back through the REST API, the way a
  reader would download them. A job that fails raises with its log. :func:`run_probe_job` returns the
  job's view and log too. Write probes so that a refusal is *reported*, not raised: catch the error and
  ``report(token_file=repr(error))``, then assert on the report in the test.

Everything here runs in the slow lane (the fixtures start servers: tests/lanes.py) and inside the
loopback-only namespace of scripts/test.sh.
"""

from __future__ import annotations

import json
import tarfile
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln import Client
from kiln.api import Operation
from kiln.specs.users import Role
from kiln.specs.views import JobStatus, JobView
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, wait_for
from tests.lanes import server_fixture

SUFFIX = uuid.uuid4().hex[:6]
PROBE_REPORT = "probe.json"
_PRELUDE = f"""\
import json as _json, os as _os

_found = {{}}


def report(**found):
    \"\"\"What the probe could reach: merged into ./outputs/{PROBE_REPORT}, read back by the test.\"\"\"
    _found.update(found)
    _os.makedirs("outputs", exist_ok=True)
    with open(_os.path.join("outputs", "{PROBE_REPORT}"), "w") as _handle:
        _json.dump(_found, _handle)


report()
"""


# Who is asking ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """A user of the workspace and an API token of theirs."""

    name: str
    role: Role
    token: str
    token_id: str

    def client(self, server: WorkspaceServer) -> Client:
        return Client(url=server.url, token=self.token)

    def http(self, server: WorkspaceServer) -> httpx.Client:
        return bearer_http(server, self.token)


def bearer_http(server: WorkspaceServer, token: str | None) -> httpx.Client:
    """Raw HTTP to the server (one keep-alive connection), with ``Authorization: Bearer token`` unless None."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


@dataclass(frozen=True)
class Team:
    """One member per role, the workspace token, and tokens that must be refused."""

    reader: Member
    contributor: Member
    owner: Member
    workspace_token: str
    expired: Member  # the contributor's token, past its expiry
    revoked: Member  # the contributor's token, revoked by the owner

    def member(self, role: Role) -> Member:
        return {Role.READER: self.reader, Role.CONTRIBUTOR: self.contributor, Role.OWNER: self.owner}[role]

    @property
    def members(self) -> tuple[Member, ...]:
        return self.reader, self.contributor, self.owner


def make_team(server: WorkspaceServer, suffix: str = SUFFIX) -> Team:
    """Users ``reader-<suffix>``, ``contributor-<suffix>``, ``owner-<suffix>`` with a token each, made with the
    workspace token; the expired token expires a second after it is made and is refused before this returns."""
    members: dict[Role, Member] = {}
    with server.client() as bootstrap:
        for role in Role:
            name = f"{role.value}-{suffix}"
            bootstrap.users.create(name, role, description=f"the attack suite's {role.value}")
            made = bootstrap.users.create_token(name, expires_in="1d", description="attack suite")
            members[role] = Member(name, role, made.token, made.id)
        contributor = members[Role.CONTRIBUTOR]
        short = bootstrap.users.create_token(contributor.name, expires_in=1, description="expires at once")
        doomed = bootstrap.users.create_token(contributor.name, expires_in="1d", description="revoked at once")
        bootstrap.users.revoke_token(doomed.id)
    expired = Member(contributor.name, Role.CONTRIBUTOR, short.token, short.id)
    with bearer_http(server, expired.token) as http:
        wait_for(lambda: http.get("/api/v1/whoami").status_code == 401, timeout=30, what="the short token to expire")
    return Team(
        members[Role.READER], contributor, members[Role.OWNER], server.token, expired,
        Member(contributor.name, Role.CONTRIBUTOR, doomed.token, doomed.id),
    )  # fmt: skip


# Jobs as an attacker's probe --------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeRun:
    job: JobView
    report: dict[str, Any]
    log: str


def run_probe_job(
    server: WorkspaceServer, token: str, script: str, *, folder: Path, timeout: float = 240, **fields: Any
) -> ProbeRun:
    """Submit ``script`` (with ``report`` defined) as a job with ``token``, wait for it, read its report back.
    ``fields`` go into the job spec (``environment_variables``, ``inputs``…); ``folder`` holds its code."""
    code = folder / "probe-code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "probe.py").write_text(_PRELUDE + "\n" + textwrap.dedent(script))
    spec = {"command": "python probe.py", "code": str(code), "experiment_name": "attack-suite", **fields}
    with Client(url=server.url, token=token) as client:
        job = client.jobs.create(spec).wait(timeout=timeout)
        log = "".join(client.jobs.logs(job.name))
        assert job.status == JobStatus.COMPLETED, f"probe job {job.name} ended {job.status.value}:\n{log[-3000:]}"
        with client.jobs.open_output(job.name, "default") as archive, tarfile.open(fileobj=archive, mode="r|") as tar:
            report = _report_from(tar)
    assert report is not None, f"probe job {job.name} left no outputs/{PROBE_REPORT}:\n{log[-3000:]}"
    return ProbeRun(job.view, report, log)


def probe_in_job(server: WorkspaceServer, token: str, script: str, **fields: Any) -> dict[str, Any]:
    """What ``script``, run as a real job submitted with ``token``, reported (see the module's docstring)."""
    folder = server.home.parent / f"probe-{uuid.uuid4().hex[:8]}"
    return run_probe_job(server, token, script, folder=folder, **fields).report


def _report_from(tar: tarfile.TarFile) -> dict[str, Any] | None:
    for member in tar:
        if Path(member.name).name == PROBE_REPORT and member.isfile():
            handle = tar.extractfile(member)
            assert handle is not None
            loaded: dict[str, Any] = json.loads(handle.read())
            return loaded
    return None


# Real names to aim at ---------------------------------------------------------------------------
SEED_JOB_SCRIPT = """\
import os
report(job_token=os.environ.get("KILN_TOKEN"), job_id=os.environ.get("KILN_JOB_ID"))
"""


@dataclass(frozen=True)
class Seeded:
    """Resources made by the contributor, by name."""

    job: str
    job_id: str  # its MLflow run's id too
    job_token: str  # the job's own token, revoked when it ended
    job_output: str
    model: str
    model_version: str
    model_alias: str
    data: str
    data_version: str
    endpoint: str
    compute: str
    team: Team
    datastore: str = ""

    def values_for(self, operation: Operation[Any]) -> dict[str, str]:
        """Real values for ``operation``'s path parameters: ``{name}`` and ``{version}`` are those of the kind of
        resource its path is about (``/api/v1/models/{name}``: the seeded model). A parameter or a collection
        this does not know fails the test, naming it, so a new operation gets a real name too."""
        job = {"name": self.job, "output": self.job_output}
        by_collection: dict[str, dict[str, str]] = {
            "jobs": job,
            "rai": job,  # /api/v1/rai/jobs/{name}/report
            "lineage/job": job,
            "models": {"name": self.model, "version": self.model_version, "alias": self.model_alias},
            "lineage/model": {"name": self.model, "version": self.model_version},
            "data": {"name": self.data, "version": self.data_version},
            "privacy": {"name": self.data, "version": self.data_version},  # /api/v1/privacy/data/{name}/versions/…
            "environments": {"name": "python", "version": "1"},  # none is built here (builds are slow)
            "online-endpoints": {"name": self.endpoint, "deployment": "blue"},
            "batch-endpoints": {"name": self.endpoint, "deployment": "blue"},  # no batch endpoint of that name
            "users": {"name": self.team.reader.name},
            "tokens": {"token_id": self.team.reader.token_id},
            "computes": {"name": self.compute},
            "datastores": {"name": self.datastore},
            "schedules": {"name": f"sec-schedule-{SUFFIX}"},  # none is made: a read answers 404 (declared)
            "components": {"name": f"sec-component-{SUFFIX}", "version": "1"},  # none: a reader's read is a 404
        }
        segments = operation.path.removeprefix("/api/v1/").split("/")
        collection = "/".join(segments[:2]) if segments[0] == "lineage" else segments[0]
        values = by_collection.get(collection, {})
        missing = [name for name in operation.path_parameters if name not in values]
        assert not missing, f"{operation.name}: no seeded value for {missing} (add one to Seeded.values_for)"
        return {name: values[name] for name in operation.path_parameters}


def seed(server: WorkspaceServer, team: Team, folder: Path) -> Seeded:
    contributor = team.contributor
    run = run_probe_job(server, contributor.token, SEED_JOB_SCRIPT, folder=folder)
    assert run.report["job_token"] and run.report["job_id"] == run.job.id, run.report
    (folder / "model").mkdir()
    (folder / "model" / "weights.txt").write_text("0.5\n")
    (folder / "rows.csv").write_text("a,b\n1,2\n")
    model, data, endpoint = f"sec-model-{SUFFIX}", f"sec-data-{SUFFIX}", f"sec-endpoint-{SUFFIX}"
    with contributor.client(server) as client:
        version = client.models.create(name=model, path=str(folder / "model"), type="custom_model").version
        client.models.set_alias(model, "champion", version)
        data_version = client.data.create(name=data, type="uri_file", path=folder / "rows.csv").version
        client.online_endpoints.create({"name": endpoint})
        datastore = client.datastores.create(
            name=f"sec-datastore-{SUFFIX}", type="s3", bucket="sec-bucket",
            credentials={"access_key_id": "AKIASEED", "secret_access_key": "seeded-secret"},
        ).name  # fmt: skip
    return Seeded(
        job=run.job.name, job_id=run.job.id, job_token=run.report["job_token"], job_output="default", model=model,
        model_version=str(version), model_alias="champion", data=data, data_version=str(data_version),
        endpoint=endpoint, compute="local", team=team, datastore=datastore,
    )  # fmt: skip


# Fixtures ---------------------------------------------------------------------------------------
@server_fixture(scope="session")
def security_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """The attack suite's own workspace server (one per xdist worker)."""
    home = tmp_path_factory.mktemp("kiln-security-home")
    server = WorkspaceServer(home, server_env(home, local_concurrency="2")).start()
    yield server
    server.stop()
    cleanup_jobs(home)


@pytest.fixture(scope="session")
def team(security_server: WorkspaceServer) -> Team:
    return make_team(security_server)


@pytest.fixture(scope="session")
def seeded(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(security_server, team, tmp_path_factory.mktemp("seed"))


SCORING_SCRIPT = "def init():\n    pass\n\n\ndef run(raw_data):\n    return {'ok': True}\n"


@pytest.fixture(scope="session")
def seeded_deployment(
    security_server: WorkspaceServer, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """``blue`` on the seeded endpoint, serving the seeded model with a trivial scoring script, all traffic."""
    code = tmp_path_factory.mktemp("scoring")
    (code / "score.py").write_text(SCORING_SCRIPT)
    deployment = {
        "name": "blue", "endpoint_name": seeded.endpoint, "model": f"kiln:{seeded.model}:{seeded.model_version}",
        "code_configuration": {"code": str(code), "scoring_script": "score.py"},
        "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60},
    }  # fmt: skip
    with seeded.team.contributor.client(security_server) as client:
        view = client.online_deployments.create(deployment, all_traffic=True, timeout=240)
    assert view.state.value == "succeeded", view
    return view.name
