"""kiln studio's Responsible AI pages in Chromium: a responsible_ai job's page draws its report (importances,
local explanations, metrics per group, before/after) and leads to the report's own page, and the analysed
model's page links its analyses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO, WorkspaceServer
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in

EXAMPLE = REPO / "examples" / "responsible-ml"


@pytest.fixture(scope="module")
def analysed(studio: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("rai-studio") / "responsible-ml"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("data", "__pycache__"))
    subprocess.run(
        [sys.executable, str(folder / "generate_data.py"), "--rows", "600", "--out", str(folder / "data")], check=True
    )
    for name in ("credit-train.yml", "credit-test.yml"):
        studio.cli("data", "create", "-f", str(folder / name), check=True)
    with studio.client() as client:
        assert client.jobs.create(str(folder / "train.yml")).wait(timeout=600).status.value == "completed"
        job = client.jobs.create(
            str(folder / "rai.yml"), overrides=["explanation.sample_rows=30", "fairness.mitigation.max_iter=20"]
        ).wait(timeout=600)
    assert job.status.value == "completed", job.view.failure_reason
    return {"job": job.name}


def test_the_job_page_leads_to_the_report_drawn_as_charts(browser, studio: WorkspaceServer, analysed) -> None:  # type: ignore[no-untyped-def]
    job = analysed["job"]
    page = signed_in(browser, studio, next_path=f"/ui/jobs/{job}")
    drawn = page.locator("#rai-report svg#importances g.bar")  # the job's own page draws its report
    drawn.first.wait_for()
    assert drawn.count() == 7 and page.locator("#rai-report details.rai-local-row").count() == 3
    assert page.locator("#rai-report svg#before-after").is_visible()
    check_accessibility(page)
    page.click("#rai-report-link")  # and links its page
    page.wait_for_url(f"**/ui/rai/{job}")
    importances = page.locator("svg#importances g.bar")
    assert importances.count() == 7
    top = {importances.nth(i).get_attribute("data-label") for i in range(4)}
    assert top == {"income", "debt_ratio", "late_payments", "credit_history_years"}
    assert "income: " in importances.locator("title").first.inner_html() or "income" in page.inner_text("#importances")
    local = page.locator("details.rai-local-row")
    assert local.count() == 3 and local.first.get_attribute("open") is not None
    local.nth(1).locator("summary").click()  # opening a row shows its chart
    assert local.nth(1).locator("svg g.bar").first.is_visible()
    assert page.locator("table.rai-groups").count() == 3  # sex, age_group, their intersection
    assert "F × 18-30" in page.locator("table.rai-groups").nth(2).inner_text()
    assert float(page.locator("b.disparity").first.inner_text()) > 0.2
    assert page.locator("svg#before-after g.bar").count() == 4
    comparison = page.locator("#rai-comparison").inner_text()
    assert "demographic_parity_difference" in comparison and "accuracy" in comparison
    check_accessibility(page)
    screenshot(page, "rai-report")


def test_the_model_page_links_its_analyses(browser, studio: WorkspaceServer, analysed) -> None:  # type: ignore[no-untyped-def]
    page = signed_in(browser, studio, next_path="/ui/models/credit/1")
    page.click("#rai-analyses-link")
    page.wait_for_url("**/ui/rai?model=credit")
    rows = page.locator("#rai-analyses tbody tr")
    assert rows.count() == 1 and analysed["job"] in rows.first.inner_text() and "credit:1" in rows.first.inner_text()
    rows.first.locator("a").first.click()
    page.wait_for_url(f"**/ui/rai/{analysed['job']}")
    assert page.locator("svg#importances").is_visible()
