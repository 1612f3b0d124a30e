"""24 jobs submitted at once run under the local concurrency limit and all complete."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kiln.specs.views import JobStatus
from tests.conftest import UNSANDBOXED, write_job

TICK = """\
import sys, time
start = time.time()
time.sleep(0.5)
with open(sys.argv[1], "a") as log:
    log.write(f"{start} {time.time()}\\n")
"""


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def test_two_dozen_jobs_respect_the_concurrency_limit(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_server(local_concurrency="3", **UNSANDBOXED)  # the jobs write to the test's times.txt
    times = tmp_path / "times.txt"
    job_file = write_job(tmp_path, f"command: python tick.py {times}\ncode: ./src\n", {"tick.py": TICK})
    with server.client() as client, ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(lambda _: client.jobs.create(job_file), range(24)))
        for job in jobs:
            job.wait(timeout=180, poll=0.25)
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * 24
    intervals = [tuple(map(float, line.split())) for line in times.read_text().splitlines()]
    assert len(intervals) == 24
    peak = max_overlap(intervals)  # type: ignore[arg-type]
    assert 2 <= peak <= 3, peak
