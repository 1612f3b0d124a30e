"""Probes of the responsible AI capability: its REST routes (who may read reports and analyses, who may not),
its job kind (who may submit one), and what the server does with the analysed model at submit: it reads the
MLmodel file, never the model (a pickle that would run code on load is not loaded in the server)."""

from __future__ import annotations

import pickle
from pathlib import Path

import httpx
import pytest

from kiln.errors import Forbidden, InvalidSpec, NotFound
from kiln.rai import api
from tests.conftest import WorkspaceServer
from tests.security.conftest import Seeded, Team, bearer_http

TABLE = "income,noise_1,sex,default\n30.0,0.1,F,1\n80.0,-0.2,M,0\n55.0,0.3,F,0\n"


class WritesOnLoad:
    """Unpickling this writes a file: the proof that something loaded the model."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "the model was loaded"))


def test_readers_read_reports_and_analyses_and_nobody_without_a_token(
    security_server: WorkspaceServer, team: Team, seeded: Seeded
) -> None:
    report_path = api.REPORT.path.format(name=seeded.job)
    with team.reader.http(security_server) as reader:
        assert reader.get(api.ANALYSES.path).status_code == 200
        answer = reader.get(report_path)  # a command job has no report, and says so
        assert answer.status_code == 404 and "is a command job, not a responsible_ai job" in answer.text
        for hostile in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e", "x" * 300):
            assert reader.get(f"/api/v1/rai/jobs/{hostile}/report").status_code in (404, 422)
        assert reader.get(api.ANALYSES.path, params={"model": "no-such-model"}).status_code == 404
    for token in (None, team.expired, team.revoked):
        with bearer_http(security_server, token) as anonymous:
            assert anonymous.get(api.ANALYSES.path).status_code == 401
            assert anonymous.get(report_path).status_code == 401


def test_a_reader_cannot_submit_a_responsible_ai_job(
    security_server: WorkspaceServer, team: Team, seeded: Seeded
) -> None:
    spec = {
        "type": "responsible_ai", "model": f"kiln:{seeded.model}:{seeded.model_version}",
        "train_data": f"kiln:{seeded.data}@latest", "test_data": f"kiln:{seeded.data}@latest",
        "target_column": "default", "task_type": "classification",
    }  # fmt: skip
    with team.reader.client(security_server) as reader, pytest.raises(Forbidden):
        reader.jobs.create(spec)


def test_the_server_reads_the_models_mlmodel_file_and_never_loads_the_model(
    security_server: WorkspaceServer, team: Team, tmp_path: Path
) -> None:
    marker = security_server.home / "rai-model-was-loaded"
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n    python_model: python_model.pkl\n"
        "    env: {virtualenv: python_env.yaml}\n"
        'signature:\n  inputs: \'[{"type": "double", "name": "income", "required": true}, '
        '{"type": "double", "name": "noise_1", "required": true}]\'\n'
        '  outputs: \'[{"type": "long", "required": true}]\'\n'
    )
    (model / "python_model.pkl").write_bytes(pickle.dumps(WritesOnLoad(marker)))
    (tmp_path / "train.csv").write_text(TABLE)
    (tmp_path / "test.csv").write_text(TABLE)
    spec = {
        "type": "responsible_ai", "model": str(model), "train_data": str(tmp_path / "train.csv"),
        "test_data": str(tmp_path / "test.csv"), "target_column": "default", "task_type": "classification",
        "explanation": None, "fairness": {"sensitive_features": ["sex"], "metrics": ["selection_rate"],
                                          "mitigation": {"method": "exponentiated_gradient"}},
    }  # fmt: skip
    with team.contributor.client(security_server) as contributor:
        with pytest.raises(InvalidSpec, match="exponentiated_gradient retrains the model's scikit-learn estimator"):
            contributor.jobs.create(spec)  # the flavors were read from MLmodel: refused before anything ran
        assert not marker.exists()
        spec["fairness"] = {"sensitive_features": ["sex"], "metrics": ["selection_rate"]}
        job = contributor.jobs.create(spec)  # accepted: the signature fits the tables
        assert not marker.exists()  # the server pinned and checked it without loading it
        job.cancel()  # (where jobs run unsandboxed, the job's own load of the model could write the marker)
        job.wait(timeout=120)


def test_a_report_is_only_read_from_a_responsible_ai_jobs_own_output(
    security_server: WorkspaceServer, team: Team, seeded: Seeded
) -> None:
    """A command job that writes an output named 'report' with a report.json in it is still not a report."""
    with team.reader.client(security_server) as reader, pytest.raises(NotFound, match="not a responsible_ai job"):
        reader.rest.call(api.REPORT, name=seeded.job)
    with httpx.Client(base_url=security_server.url) as anonymous:
        assert anonymous.get("/ui/rai").status_code in (302, 303, 401)
