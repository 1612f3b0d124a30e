"""kiln studio's pipeline page in headless Chromium against a real workspace server: a three-step pipeline (prep →
train → score, one-line steps of a second or two) opened while it runs; its step graph (SVG: a box per step in
columns by dependency, an arrow per binding) refreshes itself until the pipeline ends (no page reload), each step
reaching completed and linking to its job page. An unchanged resubmit shows every step reused from the first
run's step (linked); a step's display name with markup shows as text; the pipelines list links both; a reader
sees the same page without the job's controls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiln.specs.users import Role
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in

STEPS = ("prep", "train", "score")
WRITE = "python -c \"import sys, time, pathlib; time.sleep(1.5); pathlib.Path(sys.argv[1], 'x.txt').write_text('x')\""
READ = "python -c \"import sys, time, pathlib; time.sleep(1.5); assert pathlib.Path(sys.argv[1], 'x.txt').exists()\""


@pytest.fixture(scope="module")
def client(studio: WorkspaceServer) -> Iterator[Any]:
    with studio.client() as owner:
        yield owner


def pipeline_file(folder: Path) -> Path:
    spec = {
        "type": "pipeline", "experiment_name": "studio-pipelines", "display_name": "three <em>steps</em>",
        "settings": {"default_compute": "local"},
        "jobs": {
            "prep": {"command": f"{WRITE} ${{{{outputs.data}}}}", "outputs": {"data": {"type": "uri_folder"}}},
            "train": {"display_name": "<i>train</i>", "command": f"{WRITE} ${{{{outputs.model}}}}",
                      "inputs": {"data": "${{parent.jobs.prep.outputs.data}}"},
                      "outputs": {"model": {"type": "uri_folder"}}},
            "score": {"command": f"{READ} ${{{{inputs.model}}}}",
                      "inputs": {"data": "${{parent.jobs.prep.outputs.data}}",
                                 "model": "${{parent.jobs.train.outputs.model}}"}},
        },
    }  # fmt: skip
    path = folder / "pipeline.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def statuses(page: Any) -> dict[str, str]:
    return page.locator("#step-graph .step").evaluate_all(
        "steps => Object.fromEntries(steps.map(s => [s.dataset.step, s.dataset.status]))"
    )


def test_a_pipelines_page_draws_its_steps_live_and_marks_reused_steps(
    browser, studio: WorkspaceServer, client: Any, tmp_path: Path
) -> None:
    path = pipeline_file(tmp_path)
    first = client.jobs.create(path)
    page = signed_in(browser, studio, next_path=f"/ui/jobs/{first.name}")
    part = page.locator("#pipeline-steps")
    part.wait_for()
    assert part.get_attribute("data-live") == "true"  # opened while the pipeline ran
    assert set(statuses(page)) == set(STEPS) and statuses(page)["score"] != "completed"
    columns = page.locator("#step-graph .step rect").evaluate_all(
        "rects => Object.fromEntries(rects.map(r => [r.parentNode.dataset.step, +r.getAttribute('x')]))"
    )
    assert columns["prep"] < columns["train"] < columns["score"]  # a column per dependency depth
    edges = page.locator("#step-graph path.edge").evaluate_all(
        "es => es.map(e => e.dataset.source + '>' + e.dataset.target)"
    )
    assert sorted(edges) == ["prep>score", "prep>train", "train>score"]
    page.evaluate("window.kilnMark = 'not reloaded'")
    page.wait_for_selector("#pipeline-steps[data-live=false]", timeout=180_000)
    assert page.evaluate("window.kilnMark") == "not reloaded"  # the part refreshed itself, the page stayed

    first.wait(timeout=60)
    assert first.status == JobStatus.COMPLETED, first.view.failure_reason
    assert statuses(page) == dict.fromkeys(STEPS, "completed")
    found, _ = client.jobs.search(tags={"kiln.parent": first.name}, sort="created", limit=10)
    jobs = {job.view.tags["kiln.pipeline.step"]: job.name for job in found}
    for step in STEPS:
        assert page.locator(f"#step-graph a.step[data-step={step}]").get_attribute("href") == f"/ui/jobs/{jobs[step]}"
    assert "completed" in page.locator("#step-graph a.step[data-step=prep] text.status").text_content()
    assert page.locator("#step-graph a.step.reused").count() == 0
    label = page.locator("#step-graph a.step[data-step=train] text.label").text_content()
    assert label == "<i>train</i>" and page.locator("#pipeline-steps i").count() == 0  # text, not markup
    check_accessibility(page)

    page.locator("#step-graph a.step[data-step=train]").click()
    page.wait_for_url(f"**/ui/jobs/{jobs['train']}")
    assert page.locator("#job").get_attribute("data-name") == jobs["train"]

    again = client.jobs.create(path).wait(timeout=60)  # unchanged: every step reused
    assert again.status == JobStatus.COMPLETED, again.view.failure_reason
    page.goto(f"{studio.url}/ui/jobs/{again.name}")
    page.wait_for_selector("#pipeline-steps[data-live=false]")
    assert statuses(page) == dict.fromkeys(STEPS, "completed")
    assert page.locator("#step-graph a.step.reused").count() == len(STEPS)
    for step in STEPS:
        row = page.locator(f"#steps tr[data-step={step}]")
        assert row.locator("td.reused").inner_text() == f"reused from {jobs[step]}"
        assert row.locator("td.reused a").get_attribute("href") == f"/ui/jobs/{jobs[step]}"
    assert "3 reused" in page.locator("#pipeline-steps .section-head").inner_text()
    check_accessibility(page)
    screenshot(page, "studio-pipeline")

    not_a_pipeline = page.request.get(f"{studio.url}/ui/pipelines/{jobs['prep']}/part")
    assert not_a_pipeline.status == 404 and "not a pipeline" in not_a_pipeline.text()
    page.goto(f"{studio.url}/ui/pipelines")
    for pipeline in (first, again):
        assert page.locator(f"#pipelines a[href='/ui/jobs/{pipeline.name}']").is_visible()
    row = page.locator(f"#pipelines tr[data-name='{again.name}']").inner_text()
    assert "three <em>steps</em>" in row and page.locator("#pipelines em").count() == 0
    assert page.locator("nav a[href='/ui/pipelines']").count() == 1
    check_accessibility(page)
    page.context.close()

    client.users.create("pipeline-reader", Role.READER)
    token = client.users.create_token("pipeline-reader", expires_in="1d").token
    reader = signed_in(browser, studio, token, next_path=f"/ui/jobs/{again.name}")
    reader.locator("#pipeline-steps").wait_for()
    assert reader.locator("#step-graph a.step.reused").count() == len(STEPS)
    assert reader.locator("button:has-text('Rerun')").count() == 0
    reader.goto(f"{studio.url}/ui/pipelines")
    assert reader.locator(f"#pipelines tr[data-name='{again.name}']").count() == 1
    reader.context.close()
