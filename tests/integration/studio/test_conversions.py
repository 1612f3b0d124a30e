"""kiln studio's model page and ONNX conversion, in headless Chromium against the shared workspace: a
contributor converts a version from the page (the REST route, with the page's CSRF token), the conversion
job registers NAME-onnx, the source's page lists the conversion with its parity, the converted version's page
shows its own parity report and the Triton export link; a reader gets no Convert form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.specs.users import Role
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer
from tests.integration.studio.conftest import check_accessibility, signed_in

MODEL = "studio-iris"


def test_convert_from_the_model_page_and_see_the_parity(
    browser: Any, workspace: WorkspaceServer, tmp_path: Path
) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    mlflow.sklearn.save_model(pipeline, str(tmp_path / "iris"), input_example=X[:5], pip_requirements=["scikit-learn"])
    with workspace.client() as client:
        version = client.models.create(name=MODEL, path=str(tmp_path / "iris")).version
        client.users.create("studio-conv-reader", Role.READER)
        reader_token = client.users.create_token("studio-conv-reader", expires_in="1d").token

    page = signed_in(browser, workspace, next_path=f"/ui/models/{MODEL}/{version}")
    assert "No conversions of this version yet." in page.locator("#conversions").inner_text()
    assert page.locator("#conversions a:has-text('Docker build context')").get_attribute("href") == (
        f"/api/v1/models/{MODEL}/versions/{version}/package?to=docker"
    )
    assert page.locator("#conversions a:has-text('Triton')").count() == 0  # only an ONNX version exports to Triton
    page.fill("#convert-form input[name=tolerance]", "0.001")
    page.click("#convert-form button[type=submit]")
    job_name = page.locator("#convert-job").inner_text()
    with workspace.client() as client:
        job = client.jobs.get(job_name).wait(timeout=300)
        assert job.status == JobStatus.COMPLETED, "".join(client.jobs.logs(job_name))[-2000:]
        assert job.view.type == "model_conversion"

    page.reload()
    row = page.locator("#conversion-list tbody tr").first
    assert f"{MODEL}-onnx:1" in row.inner_text() and "within 0.001" in row.inner_text()
    check_accessibility(page)
    row.locator("a").click()
    page.wait_for_url(f"**/ui/models/{MODEL}-onnx/1")
    report = page.locator(".parity-report").inner_text()
    assert "within tolerance" in report and "Rows checked" in report and "generated 200" in report
    assert f"Converted from {MODEL}:{version}" in page.locator("#conversions").inner_text()
    assert page.locator("#convert-form").count() == 0  # an ONNX version converts no further
    assert page.locator("#conversions a:has-text('Triton')").get_attribute("href") == (
        f"/api/v1/models/{MODEL}-onnx/versions/1/export?to=triton"
    )
    page.context.close()

    as_reader = signed_in(browser, workspace, reader_token, next_path=f"/ui/models/{MODEL}/{version}")
    assert as_reader.locator("#convert-form").count() == 0 and as_reader.locator("#conversion-list").count() == 1
    as_reader.context.close()
