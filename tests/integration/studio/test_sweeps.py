"""kiln studio's sweep page in headless Chromium against a real workspace server: a small sweep (four quick
trials of a generated objective, two at a time) opened while it runs; its part of the job page refreshes itself
until the sweep ends (no page reload), then shows every trial with its parameters and metric, the best trial
highlighted (the one with the lowest loss the trials logged), a point per trial on the metric chart with the
best-so-far line, a line per trial in the parallel-coordinates chart, and trial links that lead to the trial's
page. A reader sees the same page without the sweep's controls; the sweeps list links the sweep."""

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

TRIALS = 4
# a loss with a known shape over a number and a choice; each trial takes over a second, so the sweep runs a while
OBJECTIVE = """\
import sys, time
import mlflow

x, kind = float(sys.argv[1]), sys.argv[2]
time.sleep(1.5)
mlflow.log_metric("loss", (x - 0.3) ** 2 + (0.5 if kind == "<b>" else 0.0))
"""


@pytest.fixture(scope="module")
def client(studio: WorkspaceServer) -> Iterator[Any]:
    with studio.client() as owner:
        yield owner


def submit_sweep(client: Any, folder: Path) -> Any:
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "objective.py").write_text(OBJECTIVE)
    spec = {
        "type": "sweep", "experiment_name": "studio-sweeps",
        "trial": {"code": "./src", "command": "python objective.py ${{search_space.x}} '${{search_space.kind}}'"},
        "search_space": {"x": {"type": "uniform", "min_value": 0.0, "max_value": 1.0},
                         "kind": {"type": "choice", "values": ["a", "<b>"]}},
        "sampling_algorithm": {"type": "random", "seed": 3},
        "objective": {"goal": "minimize", "primary_metric": "loss"},
        "limits": {"max_total_trials": TRIALS, "max_concurrent_trials": 2},
    }  # fmt: skip
    path = folder / "sweep.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return client.jobs.create(path)


def test_a_sweeps_page_shows_its_trials_live_the_best_trial_and_both_charts(
    browser, studio: WorkspaceServer, client: Any, tmp_path: Path
) -> None:
    sweep = submit_sweep(client, tmp_path)
    page = signed_in(browser, studio, next_path=f"/ui/jobs/{sweep.name}")
    part = page.locator("#sweep-trials")
    part.wait_for()
    assert part.get_attribute("data-live") == "true"  # opened while the sweep ran
    page.evaluate("window.kilnMark = 'not reloaded'")
    page.wait_for_selector("#sweep-trials[data-live=false]", timeout=180_000)
    assert page.evaluate("window.kilnMark") == "not reloaded"  # the part refreshed itself, the page stayed

    sweep.wait(timeout=60)
    assert sweep.status == JobStatus.COMPLETED, sweep.view.failure_reason
    trials, _ = client.jobs.search(tags={"kiln.parent": sweep.name}, sort="created", limit=100)
    losses = {trial.name: trial.refresh(run_data=True).view.metrics["loss"] for trial in trials}
    assert len(losses) == TRIALS
    best = min(losses, key=losses.__getitem__)

    rows = page.locator("#trials tbody tr")
    assert rows.count() == TRIALS
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.name)")) == sorted(losses)
    assert page.locator("#trials tr.best").get_attribute("data-name") == best
    assert page.locator("#trials tr.best .best-mark").is_visible()
    assert page.locator("#sweep-best").get_attribute("data-name") == best
    best_row = page.locator(f"#trials tr[data-name='{best}']").inner_text()
    assert f"{losses[best]:.6g}" in best_row and "completed" in best_row
    shown_kinds = rows.evaluate_all("rows => rows.map(r => r.cells[3].textContent.trim())")
    assert set(shown_kinds) <= {"a", "<b>"} and page.locator("#sweep-trials td b").count() == 0  # text, not markup

    assert page.locator("#metric-over-trials circle.trial-point").count() == TRIALS
    assert page.locator("#metric-over-trials circle.trial-point.best").get_attribute("data-name") == best
    assert page.locator("#metric-over-trials path.best-so-far").get_attribute("d").startswith("M")
    assert page.locator("#parallel-coordinates path.trial-line").count() == TRIALS
    assert page.locator("#parallel-coordinates path.trial-line.best").get_attribute("data-name") == best
    kinds = page.locator("#parallel-coordinates g.pc-axis").evaluate_all("axes => axes.map(a => a.dataset.kind)")
    assert kinds == ["linear", "choice", "linear"]  # x, kind, then the metric
    check_accessibility(page)
    screenshot(page, "studio-sweep")

    other = next(name for name in losses if name != best)
    page.locator(f"#trials a[href='/ui/jobs/{other}']").click()
    page.wait_for_url(f"**/ui/jobs/{other}")
    assert page.locator("h1").inner_text()
    assert page.locator("#job").get_attribute("data-name") == other

    page.goto(f"{studio.url}/ui/sweeps")
    assert page.locator(f"#sweeps a[href='/ui/jobs/{sweep.name}']").is_visible()
    page.context.close()

    client.users.create("sweep-reader", Role.READER)
    token = client.users.create_token("sweep-reader", expires_in="1d").token
    reader = signed_in(browser, studio, token, next_path=f"/ui/jobs/{sweep.name}")
    reader.locator("#sweep-trials").wait_for()
    assert reader.locator("#trials tbody tr").count() == TRIALS
    assert reader.locator("#trials tr.best").get_attribute("data-name") == best
    assert reader.locator("button:has-text('Rerun')").count() == 0
    reader.context.close()
