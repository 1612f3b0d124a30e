"""kiln studio's pages against MLflow's UI on the same runs: time to first byte and time to a rendered page,
side by side, with issue 14's goal as PASS/FAIL lines.

- A workspace server in a temporary KILN_HOME (``bench/workspace_server.py``), seeded (``studio_seed.py``) with
  ``--jobs`` ended jobs, each with its MLflow run (params, a final metric), and the newest with ``--points``
  values of one metric logged by ``log_batch`` through ``/mlflow``.
- Pages: (a) the jobs list, kiln's ``/ui/jobs`` against MLflow's runs list of the experiment
  (``/mlflow/#/experiments/ID/runs``, through the workspace's proxy: the same runs); (b) the long job's page,
  kiln's ``/ui/jobs/NAME`` (its metric chart) against MLflow's run page with its chart
  (``/mlflow/#/experiments/ID/runs/RUN/model-metrics``). Both UIs are signed in with the same browser session.
- What is measured and what "rendered" means: ``page_timing.py``'s docstring. In short: TTFB is an HTTP GET with
  the session cookie to the response's first bytes; rendered is, in headless Chromium with a warm cache, the
  later of the content being on screen (the table's rows with the newest job; the chart's series drawn) and
  the last network response before the network goes quiet, on the browser's clock from navigation start.
- Rounds alternate kiln and MLflow (a busy machine slows both alike); figures are medians over ``--runs``
  rounds after one warm-up (its cold-cache load is printed apart). Server CPU per load: the workspace
  server's process tree (which holds MLflow's child) from /proc.

Goals (issue 14): each kiln page rendered in < 0.5 s with 5,000 jobs and 100,000 points.

    unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/ui/pages_vs_mlflow.py [--jobs 5000] [--points 100000] [--runs 5]'
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from page_timing import Browser, Figures, PageKind, http_client, session_cookie, status_of, time_http  # noqa: E402
from studio_seed import Seeded, seed  # noqa: E402
from workspace_server import BenchWorkspace  # noqa: E402

RENDERED_GOAL_S = 0.5
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NO_JOB_PAGE = "job page not available in this checkout (/ui/jobs/NAME answers 404): only MLflow's run page measured"


def page_kinds(seeded: Seeded) -> dict[str, tuple[PageKind, PageKind]]:
    """(kiln's page, MLflow's page) for the jobs list and for the long job's page."""
    newest, experiment, run = seeded.job_names[0], seeded.experiment_id, seeded.long_run
    least = min(20, len(seeded.job_names))
    named = "[...document.querySelectorAll('%s')].some(a => a.textContent.trim() === '%s')"
    kiln_list = PageKind(
        "kiln /ui/jobs", "/ui/jobs",
        f"document.querySelectorAll('table tbody tr').length >= {least} && " + named % ("table tbody a", newest),
    )  # fmt: skip
    mlflow_list = PageKind(
        "MLflow runs list", f"/mlflow/#/experiments/{experiment}/runs",
        f"document.querySelectorAll('.ag-row').length >= {least} && " + named % (".ag-row a", newest),
        ("POST", "/mlflow/ajax-api/2.0/mlflow/runs/search",
         {"experiment_ids": [experiment], "filter": "", "run_view_type": "ACTIVE_ONLY", "max_results": 100,
          "order_by": ["attributes.start_time DESC"]}),
    )  # fmt: skip
    kiln_job = PageKind(
        "kiln /ui/jobs/NAME", f"/ui/jobs/{seeded.long_job}",
        "[...document.querySelectorAll('.uplot canvas')].some(c => c.width > 0 && c.height > 0)",
    )  # fmt: skip
    mlflow_run = PageKind(
        "MLflow run metrics", f"/mlflow/#/experiments/{experiment}/runs/{run}/model-metrics",
        "[...document.querySelectorAll('.js-plotly-plot .scatterlayer .trace path.js-line')]"
        ".some(p => (p.getAttribute('d') || '').length > 100)",
        ("GET", f"/mlflow/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={run}"
                f"&metric_key={seeded.metric}", None),
    )  # fmt: skip
    return {"jobs list": (kiln_list, mlflow_list), "job page": (kiln_job, mlflow_run)}


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children."""
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0.0


def ms(seconds: float | None) -> str:
    return "     —  " if seconds is None or seconds != seconds else f"{seconds * 1000:7.1f} ms"


def report(label: str, kind: PageKind, figures: Figures) -> None:
    median = Figures.median
    data = f"  data call {ms(median(figures.data))}" if figures.data else ""
    idle = f"  (network never quiet: {figures.never_idle} loads)" if figures.never_idle else ""
    print(
        f"{label:<10} {kind.label:<20} TTFB {ms(median(figures.ttfb))}  body {ms(median(figures.total))}{data}\n"
        f"{'':<31} rendered {ms(median(figures.rendered))}  (cold {ms(figures.cold)}; wall incl. 500 ms quiet "
        f"{ms(median(figures.wall))})  {figures.requests} requests  server CPU {ms(median(figures.server_cpu))}/load{idle}\n"
        f"{'':<31} slowest request: {figures.slowest_request()}"
    )


def verdict(label: str, value: float, goal: float) -> bool:
    passed = value <= goal
    print(f"{'PASS' if passed else 'FAIL'}  {label}: {value:.3f} s (goal <= {goal:g} s)")
    return passed


def ratio(label: str, mlflow: list[float], kiln: list[float]) -> None:
    if mlflow and kiln:
        print(f"info  {label}: MLflow / kiln {Figures.median(mlflow) / Figures.median(kiln):.1f}x")


def run(url: str, token: str, server_pid: int, seeded: Seeded, runs: int, timeout: float, shots: Path | None) -> bool:
    """Measures both pairs; True when every kiln page measured met its goal."""
    cookie = session_cookie(url, token)
    http = http_client(url, cookie)
    browser = Browser(CHROMIUM, url, cookie, timeout)
    passed = True
    try:
        for label, (kiln, mlflow) in page_kinds(seeded).items():
            measured = [kiln, mlflow]
            if status_of(http, kiln.url) == 404:
                print(f"note  {label}: {NO_JOB_PAGE}")
                measured = [mlflow]
            figures = {kind.label: Figures() for kind in measured}
            for _ in range(runs + 1):  # the first round warms up (HTTP) and is the cold load (browser)
                for kind in measured:
                    time_http(http, kind, figures[kind.label])
                    browser.load(kind, figures[kind.label], lambda: tree_cpu(server_pid))
            for kind in measured:
                figures[kind.label].drop_warm_up()
                report(label, kind, figures[kind.label])
                if shots is not None:
                    browser.screenshot(kind, str(shots / f"{label.replace(' ', '-')}-{kind.label.split()[0]}.png"))
            if kiln in measured:
                passed &= verdict(
                    f"kiln {label} rendered (median)", Figures.median(figures[kiln.label].rendered), RENDERED_GOAL_S
                )
                ratio(f"{label} rendered", figures[mlflow.label].rendered, figures[kiln.label].rendered)
                ratio(f"{label} TTFB (MLflow: its page's shell)", figures[mlflow.label].ttfb, figures[kiln.label].ttfb)
                ratio(f"{label} TTFB (MLflow: its data call)", figures[mlflow.label].data, figures[kiln.label].ttfb)
            print()
    finally:
        browser.close()
        http.close()
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000, help="ended jobs, each with its MLflow run")
    parser.add_argument("--points", type=int, default=100_000, help="values of the long job's metric")
    parser.add_argument("--runs", type=int, default=5, help="measured rounds per page (after one warm-up)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a page may take to render")
    parser.add_argument("--screenshots", type=Path, help="a folder for each page as last rendered")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit("Chromium is missing: apt-get install chromium (scripts/test.sh does it)")
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kiln-bench-ui-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        with BenchWorkspace(home) as workspace:
            print(
                f"{os.cpu_count()} cores; seeding {args.jobs:,} jobs and a {args.points:,}-point metric …", flush=True
            )
            began = time.perf_counter()
            seeded = seed(workspace.url, workspace.token, home, args.jobs, args.points)
            print(f"seeded in {time.perf_counter() - began:.1f} s; {args.runs} measured rounds per page\n", flush=True)
            passed = run(
                workspace.url, workspace.token, workspace.pid, seeded, args.runs, args.timeout, args.screenshots
            )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
