"""bench/ui's own code runs: its seeding writes jobs that kiln's REST API and MLflow's both see, with the
long series stored in full, and one round of its measuring prints the figures and verdict lines of both pages.
(The bench's figures are not checked here: this is a small workspace on a shared machine.)"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, WorkspaceServer

BENCH = REPO / "bench" / "ui" / "pages_vs_mlflow.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ui_pages_vs_mlflow", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # puts bench/ and bench/ui on sys.path, as when it runs as a script
    return module


def test_the_ui_bench_seeds_and_measures_both_pages(
    studio: WorkspaceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _bench()
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    seeded = bench.seed(studio.url, studio.token, studio.home, jobs=25, points=2_500)

    headers = {"Authorization": f"Bearer {studio.token}"}
    listed = httpx.get(f"{studio.url}/api/v1/jobs", headers=headers, params={"limit": 100}, timeout=30).json()
    names = {job["name"] for job in listed}
    assert set(seeded.job_names) <= names and len(seeded.job_names) == 25
    newest = httpx.get(f"{studio.url}/api/v1/jobs/{seeded.long_job}", headers=headers, timeout=30).json()
    assert newest["id"] == seeded.long_run and newest["status"] == "completed"
    history = httpx.get(
        f"{studio.url}/mlflow/api/2.0/mlflow/metrics/get-history",
        params={"run_id": seeded.long_run, "metric_key": seeded.metric, "max_results": 25_000},
        headers=headers, timeout=60,
    ).json()  # fmt: skip
    assert len(history["metrics"]) == 2_500
    run = httpx.get(
        f"{studio.url}/mlflow/api/2.0/mlflow/runs/get", params={"run_id": seeded.long_run}, headers=headers, timeout=30
    ).json()["run"]
    assert run["info"]["run_name"] == seeded.long_job and run["info"]["status"] == "FINISHED"

    assert studio.process is not None
    shots = tmp_path / "shots"
    shots.mkdir()
    bench.run(studio.url, studio.token, studio.process.pid, seeded, runs=1, timeout=60, shots=shots)
    out = capsys.readouterr().out
    assert re.search(r"jobs list +kiln /ui/jobs +TTFB +\d+\.\d ms", out), out
    assert re.search(r"jobs list +MLflow runs list +TTFB +\d+\.\d ms .* data call +\d+\.\d ms", out), out
    assert re.search(r"^(PASS|FAIL)  kiln jobs list rendered \(median\): \d\.\d{3} s", out, re.MULTILINE), out
    assert re.search(r"job page +MLflow run metrics +TTFB", out), out
    job_page = re.search(r"^(PASS|FAIL)  kiln job page rendered", out, re.MULTILINE)
    assert job_page or bench.NO_JOB_PAGE in out, out
    assert {path.name for path in shots.iterdir()} >= {
        "jobs-list-kiln.png",
        "jobs-list-MLflow.png",
        "job-page-MLflow.png",
    }
