"""Job overhead with a warm server: `kiln job create` → first line of user code, and
last line of user code → status `completed`. Medians over repeated runs, side by side
with the same script started directly (`python probe.py`), the floor no runner can beat.

    .venv/bin/python bench/job_overhead/run.py [--runs 15]

Starts its own workspace in a temporary KILN_HOME, on loopback.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from workspace_server import BenchWorkspace, create_job_with_the_cli  # noqa: E402

TARGET_SECONDS = 1.0


def marks(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line.startswith("KILN_BENCH "):
            key, _, value = line[len("KILN_BENCH ") :].partition("=")
            found[key] = float(value)
    return found


def direct_run() -> float:
    start = time.time()
    out = subprocess.run(
        [sys.executable, "probe.py"], cwd=HERE / "src", capture_output=True, text=True, check=True
    ).stdout
    return marks(out)["first"] - start


def kiln_run(env: dict[str, str], client) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    start = time.time()
    view = create_job_with_the_cli(client, HERE / "job.yml", [], env, timeout=120)
    found = marks("".join(client.jobs.logs(view.name)))
    ended = view.ended_at.timestamp()
    return found["first"] - start, ended - found["last"]


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(values) * 1000:7.0f} ms   p90 {p90 * 1000:7.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from kiln import Client

    with tempfile.TemporaryDirectory(prefix="kiln-bench-") as tmp, BenchWorkspace(Path(tmp)) as workspace:
        client = Client(url=workspace.url, token=workspace.token)
        kiln_run(workspace.env, client)  # warm-up: experiment created, code uploaded once
        direct = [direct_run() for _ in range(args.runs)]
        to_first, to_completed = zip(*(kiln_run(workspace.env, client) for _ in range(args.runs)), strict=True)
    first_median = statistics.median(to_first)
    done_median = statistics.median(to_completed)
    print(f"job overhead, {args.runs} runs each, warm server, loopback")
    print(f"  direct `python probe.py`: start → first line      {summary(direct)}")
    print(f"  kiln job create → first line of user code        {summary(list(to_first))}")
    print(f"  last line of user code → status completed        {summary(list(to_completed))}")
    print(
        f"  kiln submit→first line minus direct start        {(first_median - statistics.median(direct)) * 1000:7.0f} ms"
    )
    verdict = "met" if first_median < TARGET_SECONDS and done_median < TARGET_SECONDS else "NOT met"
    print(f"  target: both medians under {TARGET_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
