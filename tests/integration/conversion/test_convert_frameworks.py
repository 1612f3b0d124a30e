"""Conversions of models trained by the example jobs: the pytorch-digits CNN (pt2, a tensor signature) and the
keras-images network, saved as a .keras file by TensorFlow and converted on Keras' torch backend in the job;
saved as its exported TensorFlow graph, it is refused with the tf2onnx versions that would convert it."""

from __future__ import annotations

from kiln.conversion.report import report_from_tags
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer

EXAMPLES = REPO / "examples"


def _trained(workspace: WorkspaceServer, job_file: str, *overrides: str) -> str:
    """Run an example job (shortened) and answer its name (its model output registered a version)."""
    with workspace.client() as client:
        job = client.jobs.create(EXAMPLES / job_file, overrides=list(overrides)).wait(timeout=600)
        assert job.status == JobStatus.COMPLETED, "".join(client.jobs.logs(job.name))[-3000:]
        return job.name


def _converted(workspace: WorkspaceServer, model: str, job: str, tolerance: str) -> dict[str, object]:
    with workspace.client() as client:
        version = next(v.version for v in client.models.get(model).versions if v.job == job)
    done = workspace.cli("model", "convert", "-n", model, "--version", version, "--tolerance", tolerance, "--stream")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    with workspace.client() as client:
        converted = client.models.get_version(f"{model}-onnx", "latest")
    report = report_from_tags(converted.tags)
    assert report is not None and converted.tags["onnx.converted_from"] == f"{model}:{version}"
    return report.as_dict()


def test_the_pytorch_digits_cnn_converts_with_parity(workspace: WorkspaceServer) -> None:
    job = _trained(workspace, "pytorch-digits/base.yml", "inputs.epochs=1")
    report = _converted(workspace, "digits-cnn", job, "1e-4")
    assert report["passed"] and report["source_flavor"] == "pytorch" and report["rows_checked"] >= 200
    assert {"torch", "onnxscript", "onnx", "onnxruntime"} <= set(report["converters"])  # type: ignore[arg-type]


def test_the_keras_images_network_converts_as_a_keras_file_and_is_refused_as_a_graph(
    workspace: WorkspaceServer,
) -> None:
    as_file = _trained(workspace, "keras-images/job.yml", "inputs.epochs=1", "inputs.save_as=keras")
    report = _converted(workspace, "keras-shapes", as_file, "1e-4")
    assert report["passed"] and report["source_flavor"] == "keras" and "keras" in report["converters"]  # type: ignore[operator]

    as_graph = _trained(workspace, "keras-images/job.yml", "inputs.epochs=1")
    with workspace.client() as client:
        version = next(v.version for v in client.models.get("keras-shapes").versions if v.job == as_graph)
        job = client.models.convert("keras-shapes", version, wait=True, timeout=300)
        assert job.status == JobStatus.FAILED
        log = "".join(client.jobs.logs(job.name))
    assert "a Keras model saved as its exported graph" in log and "tf2onnx 1.16" in log and "Supported: Keras 3" in log
