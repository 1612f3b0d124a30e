"""``kiln model convert`` end to end on a real workspace: the iris example's pipeline (a scaler and a logistic
regression, autologged by its job) converted in a ``model_conversion`` job, registered as iris-onnx with its
opset, converters and parity report as tags and its lineage to the source version; a tolerance breach fails
the job with the report and registers nothing; a model kiln cannot convert fails with what is supported."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_iris

from kiln.conversion.report import SOURCE_TAG, report_from_tags
from kiln.errors import NotFound, ParityFailed
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer

IRIS = REPO / "examples" / "sklearn-iris" / "job.yml"


@pytest.fixture(scope="module")
def iris_version(workspace: WorkspaceServer) -> str:
    """The iris example trained by its job and registered from the run's autologged model (as its README says)."""
    with workspace.client() as client:
        job = client.jobs.create(IRIS).wait(timeout=300)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        return client.models.create(name="iris-conv", path=f"runs:/{job.name}/model").version


def test_convert_registers_the_onnx_model_with_its_parity_report_and_lineage(
    workspace: WorkspaceServer, iris_version: str, tmp_path: Path
) -> None:
    done = workspace.cli("model", "convert", "-n", "iris-conv", "--version", iris_version, "--to", "onnx", "--stream")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "converting iris-conv:" in done.stdout and "parity report:" in done.stdout  # the job's log, streamed
    assert "registered iris-conv-onnx version 1" in done.stdout
    assert f"converted from iris-conv:{iris_version}" in done.stdout and "label agreement 100.00%" in done.stdout

    with workspace.client() as client:
        converted = client.models.get_version("iris-conv-onnx", "1")
        report = report_from_tags(converted.tags)
        assert report is not None and report.passed
        assert report.rows_checked >= 200 and report.label_agreement == 1.0 and report.max_abs_diff < 1e-4
        assert {"skl2onnx", "onnx", "onnxruntime", "sklearn"} <= set(report.converters)
        assert converted.tags[SOURCE_TAG] == f"iris-conv:{iris_version}" and converted.tags["onnx.opset"].isdigit()
        # lineage: iris-conv-onnx:1 <- the conversion job <- iris-conv:N
        lineage = client.models.lineage("iris-conv-onnx", "1")
        (job,) = lineage.upstream
        assert job.kind == "job" and job.id == converted.job
        assert [n.id for n in job.upstream if n.kind == "model"] == [f"iris-conv:{iris_version}"]
        # the report on the job's MLflow run too
        metrics = client.jobs.get(converted.job, run_data=True).metrics
        assert metrics["parity_rows_checked"] == report.rows_checked
        folder = client.models.download("iris-conv-onnx", "1", tmp_path)

    shown = workspace.cli("model", "show", "-n", "iris-conv-onnx", "--version", "1", check=True).stdout
    assert "opset" in shown and "skl2onnx" in shown and "rows checked" in shown
    # the file is standard ONNX: onnxruntime alone answers the iris probabilities
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    X, y = load_iris(return_X_y=True)
    labels, probabilities = session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})
    assert (labels == y).mean() > 0.9 and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert mlflow.models.Model.load(str(folder)).flavors.keys() >= {"onnx", "python_function"}


def test_a_tolerance_breach_fails_the_job_with_the_report_and_registers_nothing(
    workspace: WorkspaceServer, iris_version: str
) -> None:
    done = workspace.cli(
        "model", "convert", "-n", "iris-conv", "--version", iris_version, "--tolerance", "1e-15",
        "--register-as", "iris-too-strict", "--stream",
    )  # fmt: skip
    assert done.returncode == ParityFailed.exit_code, done.stdout + done.stderr
    assert "parity failed:" in done.stderr and "OVER tolerance 1e-15" in done.stderr
    report = json.loads(done.stdout.split("parity report: ", 1)[1].splitlines()[0])
    assert report["passed"] is False and report["max_abs_diff"] > 1e-15
    with workspace.client() as client, pytest.raises(NotFound):
        client.models.get("iris-too-strict")


def test_a_model_without_a_converter_fails_with_what_is_supported(workspace: WorkspaceServer, tmp_path: Path) -> None:
    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):  # type: ignore[no-untyped-def]
            return model_input * 2

    mlflow.pyfunc.save_model(str(tmp_path / "doubler"), python_model=Doubler(), input_example=np.ones((2, 3)))
    with workspace.client() as client:
        client.models.create(name="doubler-conv", path=str(tmp_path / "doubler"))
        job = client.models.convert("doubler-conv", "1", wait=True, timeout=300)
        assert job.status == JobStatus.FAILED
        log = "".join(client.jobs.logs(job.name))
    assert "has no ONNX converter" in log and "supported flavors: sklearn, lightgbm, xgboost, pytorch" in log
