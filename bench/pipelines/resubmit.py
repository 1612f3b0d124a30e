"""An unchanged three-step pipeline submitted again: the time from submit to ``completed`` when every step is
reused (no step process started). Goal (issue 21): under 1 s.

    python bench/pipelines/resubmit.py [--runs 5] [--out result.json]

A workspace of its own: the pipeline (prep → train → score, one-line ``python -c`` steps, one component from a
file, one registered) runs once for real, then ``--runs`` times unchanged through the SDK (``client.jobs.create``:
the component file read, the code folder uploaded, the REST submit) until the pipeline's status is ``completed``,
polled every 20 ms. Each resubmit is checked to have reused all three steps. The median is printed. On a busy
machine the figures are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent))

from workspace_server import BenchWorkspace  # noqa: E402

from tests.integration.pipelines.helpers import score_component, three_steps, write_yaml  # noqa: E402

TARGET_SECONDS = 1.0
POLL_SECONDS = 0.02


def _until_ended(client: Any, name: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.jobs.get(name)
        if job.status.is_terminal:
            return job
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"pipeline {name} did not end in {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from kiln import Client

    with tempfile.TemporaryDirectory(prefix="kiln-bench-pipelines-") as tmp, BenchWorkspace(Path(tmp)) as workspace:
        folder = Path(tmp) / "pipeline"
        client = Client(url=workspace.url, token=workspace.token)
        client.components.create(score_component(folder / "score", "bench_score"))
        path = write_yaml(folder / "pipeline.yml", three_steps(folder, "azureml:bench_score@latest"))
        started = time.perf_counter()
        first = _until_ended(client, client.jobs.create(path).name, 300)
        assert first.status.value == "completed", first.view.failure_reason
        print(f"first run (3 steps run): {time.perf_counter() - started:.2f} s")
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            job = _until_ended(client, client.jobs.create(path).name, 60)
            times.append(time.perf_counter() - started)
            steps, _ = client.jobs.search(tags={"kiln.parent": job.name}, limit=10)
            reused = [step for step in steps if step.view.tags.get("kiln.pipeline.reused_from")]
            assert job.status.value == "completed" and len(reused) == 3, (job.status, len(reused))
        median = statistics.median(times)
        print("unchanged resubmit, submit → completed (every step reused): " + ", ".join(f"{t:.3f}" for t in times))
        print(f"median {median:.3f} s (goal < {TARGET_SECONDS} s): {'met' if median < TARGET_SECONDS else 'NOT met'}")
        if args.out:
            args.out.write_text(json.dumps({"resubmit_s": times, "median_s": median, "goal_s": TARGET_SECONDS}))


if __name__ == "__main__":
    main()
