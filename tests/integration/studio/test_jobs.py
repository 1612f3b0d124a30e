"""kiln studio's Jobs and Compare pages in headless Chromium against a real workspace server with real jobs: a
running job's log and metric chart growing in the page, compare of two jobs, the list's filters and pages over
5,000 recorded jobs, an unknown job's page, and a reader who finds no cancel button and whose forged cancel is
refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln.specs.users import Role
from kiln.specs.views import JobStatus
from kiln.store.database import create_database_engine, session_factory
from kiln.store.jobs import JobRepository
from tests.conftest import WorkspaceServer, wait_for, write_job
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in
from tests.many_jobs import many_job_rows

TRAIN = """\
import sys, time
import mlflow

lr, steps = float(sys.argv[1]), int(sys.argv[2])
mlflow.log_params({"lr": lr, "optimizer": "adam", "batch": 32 if steps > 5 else 64})
for step in range(steps):
    loss = 1.0 / (step + 1) + lr
    mlflow.log_metric("loss", loss, step=step)
    print(f"step {step} loss {loss:.3f}", flush=True)
    time.sleep(0.3)
open("outputs/result.txt", "w").write("trained")
print("done", flush=True)
"""
EXPERIMENT = "studio-live"


@pytest.fixture(scope="module")
def client(studio: WorkspaceServer) -> Iterator[Any]:
    with studio.client() as owner:
        yield owner


def submit(client: Any, folder: Path, lr: float, steps: int) -> Any:
    job_file = write_job(
        folder,
        f"type: command\nexperiment_name: {EXPERIMENT}\ncode: ./src\ncommand: python train.py {lr} {steps}\n",
        {"train.py": TRAIN},
    )
    return client.jobs.create(job_file)


def session_cookies(page: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies() if c["name"] == "kiln_session"}


@pytest.fixture(scope="module")
def finished(client: Any, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two short jobs that differ in their params, ended."""
    jobs = [submit(client, tmp_path_factory.mktemp(f"short{i}"), lr, 4) for i, lr in enumerate((0.5, 0.25))]
    for job in jobs:
        job.wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
    return [job.name for job in jobs]


def test_a_running_jobs_log_and_metric_chart_grow_in_the_page(
    browser, studio: WorkspaceServer, client: Any, tmp_path: Path
) -> None:
    job = submit(client, tmp_path, 0.1, 18)
    page = signed_in(browser, studio, next_path=f"/ui/jobs/{job.name}")
    page.wait_for_function("document.getElementById('log').textContent.includes('step 2 loss')", timeout=60_000)
    chart = page.locator("figure.chart[data-metric=loss]")
    chart.wait_for()
    early = int(chart.get_attribute("data-points"))
    assert job.refresh().status == JobStatus.RUNNING  # what the page shows so far came while it ran
    page.wait_for_function(f"Number(document.querySelector('figure.chart[data-metric=loss]').dataset.points) > {early}")
    page.wait_for_function("document.getElementById('log').textContent.includes('step 9 loss')")
    assert "completed" not in page.locator("#job-status").inner_text() or early < 18
    page.wait_for_function("document.getElementById('job-status').textContent === 'completed'", timeout=60_000)
    page.wait_for_function("document.querySelector('figure.chart[data-metric=loss]').dataset.points === '18'")
    assert "done" in page.locator("#log").inner_text()
    page.wait_for_selector("#job-details :text('adam')")  # what the ended job left, in the page it ended in
    assert page.locator("figure.chart canvas").count() >= 1
    # the chart's options redraw it: time on the x axis, smoothing, log scale
    page.select_option("#x-axis", "time")
    page.check("#log-scale")
    page.locator("#smoothing").fill("0.6")
    assert "by time" in page.locator("figure.chart [role=img]").get_attribute("aria-label")
    page.evaluate("document.querySelector('figure.chart').scrollIntoView({block: 'center'})")
    screenshot(page, "job-page")
    check_accessibility(page)

    page.reload()  # ended: params, the code snapshot and the output files
    assert page.locator("#h-params + table").inner_text().count("adam") == 1
    assert page.locator("#cancel-job").count() == 0
    page.click("ul.files a:text-is('train.py')")
    page.wait_for_url("**/code?path=train.py")
    assert "mlflow.log_metric" in page.locator("main").inner_text(), page.locator("main").inner_text()
    check_accessibility(page)
    page.go_back()
    page.click("tr:has(th:text-is('default')) >> text=browse")
    page.wait_for_url("**/outputs/default")
    check_accessibility(page)
    link = page.locator("a:text-is('result.txt')").get_attribute("href")
    assert page.request.get(f"{studio.url}{link}").text() == "trained"
    page.context.close()


def test_compare_two_jobs_shows_both_series_and_the_params_that_differ(
    browser, studio: WorkspaceServer, finished: list[str]
) -> None:
    page = signed_in(browser, studio, next_path=f"/ui/jobs?experiment={EXPERIMENT}")
    for name in finished:
        page.check(f"input[aria-label='compare {name}']")
    page.click("#compare-button")
    page.wait_for_url("**/ui/compare?**")
    page.wait_for_selector("figure.chart[data-metric=loss] canvas")
    legend = page.locator("figure.chart[data-metric=loss] .u-legend").inner_text()
    assert all(name in legend for name in finished)
    differing = page.locator("table.diff tr.differs th[scope=row]").all_inner_texts()
    assert sorted(differing) == ["lr"]  # the same optimizer and batch: not marked
    assert page.locator("table.diff tr:not(.differs) th[scope=row]").all_inner_texts() == ["batch", "optimizer"]
    check_accessibility(page)
    screenshot(page, "compare")
    page.goto(f"{studio.url}/ui/compare?jobs={finished[0]},{finished[1]}")  # the address to share
    assert page.locator("table.diff tr.differs").count() == 1
    page.context.close()


def test_a_job_page_with_100000_metric_points_draws_a_thinned_series(
    browser, studio: WorkspaceServer, client: Any, finished: list[str]
) -> None:
    job = client.jobs.get(finished[1])
    bearer = {"authorization": f"Bearer {studio.token}"}
    with httpx.Client(base_url=studio.url, headers=bearer, timeout=60) as http:
        for start in range(0, 100_000, 1000):
            metrics = [{"key": "big", "value": ((step * 7919) % 1000) / 1000 + (5 if step == 61_234 else 0),
                        "timestamp": 1_700_000_000_000 + step, "step": step} for step in range(start, start + 1000)]  # fmt: skip
            answer = http.post("/mlflow/api/2.0/mlflow/runs/log-batch", json={"run_id": job.id, "metrics": metrics})
            assert answer.status_code == 200, answer.text

    page = signed_in(browser, studio)
    drawn = []
    for _ in range(2):  # first: nothing thinned yet, the chart scripts not in the browser's cache; then again
        page.goto(f"{studio.url}/ui/jobs/{job.name}")
        page.wait_for_function("document.querySelector('figure.chart[data-metric=big]')?.dataset.points > 500")
        drawn.append(int(page.evaluate("document.body.dataset.chartsDrawnMs")))
    cookies = session_cookies(page)
    page_times, served = [], []
    with httpx.Client(base_url=studio.url, headers=bearer, timeout=60) as http:
        for _ in range(3):
            started = time.perf_counter()
            assert httpx.get(f"{studio.url}/ui/jobs/{job.name}", cookies=cookies).status_code == 200
            page_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            thinned = http.get(f"/api/v1/jobs/{job.name}/metrics", params={"max_points": 1000}).json()["metrics"]
            served.append(time.perf_counter() - started)
    big = thinned["big"]
    assert 500 <= len(big["steps"]) <= 1000 and big["steps"][0] == 0 and big["steps"][-1] == 99_999
    assert 61_234 in big["steps"]  # the spike survives the thinning
    whole = client.jobs.metric_series(job.name, max_points=None, since_step=99_989)["big"]
    assert whole.steps == list(range(99_990, 100_000))  # and the points after a step come whole
    print(
        f"\n100,000 points: job page HTML {min(page_times) * 1000:.0f} ms, metrics?max_points=1000 "
        f"{min(served) * 1000:.0f} ms (best of 3); charts drawn in Chromium {drawn[0]} ms after navigation "
        f"(first), {drawn[1]} ms (again)"
    )
    # the times printed above are for reading; their goals are checked side by side in bench/ui/pages_vs_mlflow.py
    page.context.close()


def test_the_list_filters_sorts_and_pages_5000_jobs_on_the_server(browser, studio: WorkspaceServer) -> None:
    rows = many_job_rows(5000)
    engine = create_database_engine(f"sqlite:///{studio.home / 'kiln.db'}")
    JobRepository(session_factory(engine)).add_many(rows)
    engine.dispose()
    failed_cifar = [r for r in rows if r.status == "failed" and r.experiment_name == "cifar"]

    page = signed_in(browser, studio)
    cookies = session_cookies(page)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        answer = httpx.get(f"{studio.url}/ui/jobs", cookies=cookies)
        timings.append(time.perf_counter() - started)
        assert answer.status_code == 200
    print(f"\n/ui/jobs with 5,000+ jobs: {min(timings) * 1000:.0f} ms server (best of 3)")

    started = time.perf_counter()
    page.goto(f"{studio.url}/ui/jobs", wait_until="load")
    print(f"/ui/jobs rendered in Chromium: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert page.locator("table.jobs tbody tr").count() == 50
    page.select_option("select[name=experiment]", "cifar")
    page.wait_for_url("**experiment=cifar**")  # htmx swapped the table and kept the address in step
    page.select_option("select[name=status]", "failed")
    page.wait_for_url("**status=failed**")
    caption = page.locator("table.jobs caption")
    assert caption.inner_text().startswith(f"{len(failed_cifar)} jobs")
    page.click("nav.pager >> text=2")
    page.wait_for_url("**page=2**")
    page.wait_for_function("document.querySelector('table.jobs caption').textContent.includes('51–100 shown')")
    assert page.locator("nav.pager a[aria-current=page]").inner_text() == "2"
    check_accessibility(page)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "jobs-list")
    page.select_option("select[name=sort]", "-duration")
    page.wait_for_url("**sort=-duration**")
    assert "by duration descending" in caption.inner_text()
    page.fill("input[name=tag]", "lr=1")
    page.press("input[name=tag]", "Enter")
    page.wait_for_url("**tag=lr%3D1**")
    tagged = [r for r in failed_cifar if r.spec["tags"]["lr"] == "1"]
    assert caption.inner_text().startswith(f"{len(tagged)} jobs")

    # the same page without JavaScript: a plain GET with the filters in the address
    plain = httpx.get(f"{studio.url}/ui/jobs?experiment=cifar&status=failed&page=2", cookies=cookies)
    assert f"{len(failed_cifar)} jobs: 51–100 shown" in plain.text
    # and the REST list the page mirrors: the same filters, an offset and the total in a header
    with studio.client() as reading:
        jobs, total = reading.jobs.search(status="failed", experiment="cifar", offset=50, limit=50)
    assert total == len(failed_cifar) and len(jobs) == 50
    refused = httpx.get(f"{studio.url}/api/v1/jobs?tag==vision", headers={"authorization": f"Bearer {studio.token}"})
    assert refused.status_code == 422 and "'=vision' names no tag" in refused.json()["error"]["message"]
    page.context.close()


def test_an_unknown_jobs_page_is_a_clear_404(browser, studio: WorkspaceServer) -> None:
    page = signed_in(browser, studio)
    answer = page.goto(f"{studio.url}/ui/jobs/no-such-job")
    assert answer.status == 404
    text = page.locator("main").inner_text()
    assert "job 'no-such-job' not found" in text and "Traceback" not in page.content()
    check_accessibility(page)
    page.context.close()


def test_a_reader_sees_no_cancel_or_rerun_and_a_forged_cancel_is_refused(
    browser, studio: WorkspaceServer, client: Any, tmp_path: Path
) -> None:
    client.users.create("studio-reader", Role.READER)
    token = client.users.create_token("studio-reader", expires_in="1d").token
    job_file = write_job(tmp_path, "command: python -c 'import time; time.sleep(60)'\n")
    job = client.jobs.create(job_file)
    wait_for(lambda: job.refresh().status == JobStatus.RUNNING, timeout=60, what="the job to run")

    reader = signed_in(browser, studio, token=token, next_path=f"/ui/jobs/{job.name}")
    assert reader.locator("[data-kiln-post*='/cancel'], [data-kiln-post*='/rerun']").count() == 0
    status = reader.evaluate(
        """async (url) => (await fetch(url, {method: "POST", headers: {"X-Kiln-CSRF": kiln.csrf()}})).status""",
        f"/api/v1/jobs/{job.name}/cancel",
    )
    assert status == 403
    assert job.refresh().status == JobStatus.RUNNING
    check_accessibility(reader)
    reader.context.close()

    owner_page = signed_in(browser, studio, next_path=f"/ui/jobs/{job.name}")
    owner_page.on("dialog", lambda dialog: dialog.accept())
    owner_page.click("button:text-is('Cancel')")
    owner_page.wait_for_function("document.getElementById('job-status').textContent === 'canceled'", timeout=60_000)
    assert job.refresh().status == JobStatus.CANCELED
    owner_page.context.close()
