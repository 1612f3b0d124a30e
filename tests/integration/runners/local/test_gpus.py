"""GPUs on local compute: each job holds its own, queued jobs wait for them, restarts keep what jobs hold.

This machine has no GPU: the servers here are told they have GPUs 0 and 1 (KILN_GPUS=0,1) and the
jobs report the CUDA_VISIBLE_DEVICES they were given. Everything else (server, scheduler, job
processes) is real.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.errors import InvalidSpec
from kiln.specs.views import JobStatus
from tests.conftest import UNSANDBOXED, WorkspaceServer, cleanup_jobs, server_env, wait_for, write_job
from tests.lanes import server_fixture

# writes what it was given to TAG.gpus ("unset" if nothing; whole, through a rename: the test reads it as soon as
# it appears), then runs until TAG.stop appears
GPU_JOB = """\
    command: >-
      echo "rank ${RANK-none} gpus=[$CUDA_VISIBLE_DEVICES]";
      printf %s "${CUDA_VISIBLE_DEVICES-unset}" > ${{inputs.folder}}/${{inputs.tag}}${RANK-}.gpus.part;
      mv ${{inputs.folder}}/${{inputs.tag}}${RANK-}.gpus.part ${{inputs.folder}}/${{inputs.tag}}${RANK-}.gpus;
      while [ ! -e ${{inputs.folder}}/${{inputs.tag}}.stop ]; do sleep 0.1; done
    inputs:
      folder: x
      tag: x
    """


class GpuJobs:
    """Submits GPU_JOB variants and reads back what each was given."""

    def __init__(self, server: WorkspaceServer, folder: Path) -> None:
        self.folder = folder
        self.job_file = write_job(folder / "job", textwrap.dedent(GPU_JOB))
        self.client = server.client()

    def submit(self, tag: str, gpus: int, *extra: str):  # type: ignore[no-untyped-def]
        overrides = [f"inputs.folder={self.folder}", f"inputs.tag={tag}", f"resources.gpu_count={gpus}", *extra]
        return self.client.jobs.create(self.job_file, overrides=overrides)

    def given(self, tag: str, timeout: float = 60) -> str:
        marker = self.folder / f"{tag}.gpus"
        wait_for(marker.exists, timeout=timeout, what=f"job {tag} to start")
        return marker.read_text()

    def started(self, tag: str) -> bool:
        return (self.folder / f"{tag}.gpus").exists()

    def stop(self, *tags: str) -> None:
        for tag in tags:
            (self.folder / f"{tag}.stop").touch()

    def wait_status(self, job, status: JobStatus) -> None:  # type: ignore[no-untyped-def]
        wait_for(lambda: self.client.jobs.get(job.name).status == status, what=f"{job.name} to be {status.value}")


@server_fixture(scope="module")
def two_gpu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """One server for this module's tests (each ends its jobs); the restart test restarts it."""
    home = tmp_path_factory.mktemp("kiln-gpu-home")
    server = WorkspaceServer(home, server_env(home, gpus="0,1", local_concurrency="4", **UNSANDBOXED)).start()
    yield server
    server.stop()
    cleanup_jobs(home)


def test_jobs_hold_gpus_alone_and_wait_for_free_ones(two_gpu_server: WorkspaceServer, tmp_path: Path) -> None:
    jobs = GpuJobs(two_gpu_server, tmp_path)
    first, second = jobs.submit("a", 1), jobs.submit("b", 1)
    assert {jobs.given("a"), jobs.given("b")} == {"0", "1"}
    waiting = jobs.submit("c", 1)
    # a job asking for no GPU may pass the waiting one, and sees none, whatever it sets itself
    cpu_only = jobs.submit("d", 0, "environment_variables.CUDA_VISIBLE_DEVICES=0")
    assert jobs.given("d") == ""
    assert jobs.client.jobs.get(waiting.name).status == JobStatus.QUEUED and not jobs.started("c")

    held_by_first = jobs.given("a")
    assert jobs.client.jobs.get(first.name).view.gpu_ids == [held_by_first]
    shown = two_gpu_server.cli("job", "show", "-n", first.name, check=True).stdout
    assert "GPUs" in shown and held_by_first in shown
    jobs.stop("a")
    assert jobs.given("c") == held_by_first  # the freed GPU, once it was free
    jobs.wait_status(first, JobStatus.COMPLETED)

    with pytest.raises(InvalidSpec, match=r"resources\.gpu_count: 3 GPUs asked for, but local compute has 2"):
        jobs.submit("e", 3)
    jobs.stop("b", "c", "d")
    for job in (second, waiting, cpu_only):
        jobs.wait_status(job, JobStatus.COMPLETED)

    # a distributed job: every rank sees all the job's GPUs and uses cuda:LOCAL_RANK
    ranked = jobs.submit("r", 2, "distribution.type=pytorch", "distribution.process_count_per_instance=2")
    assert jobs.given("r0") == jobs.given("r1") == "0,1"
    jobs.stop("r")
    jobs.wait_status(ranked, JobStatus.COMPLETED)
    log = "".join(jobs.client.jobs.logs(ranked.name))
    assert "[rank 0] rank 0 gpus=[0,1]" in log and "[rank 1] rank 1 gpus=[0,1]" in log
    jobs.client.close()


def test_gpus_held_by_a_job_survive_a_server_restart(two_gpu_server: WorkspaceServer, tmp_path: Path) -> None:
    jobs = GpuJobs(two_gpu_server, tmp_path)
    survivor = jobs.submit("a", 1)
    held = jobs.given("a")
    jobs.wait_status(survivor, JobStatus.RUNNING)  # its command runs a moment before the server records it running
    jobs.client.close()
    two_gpu_server.kill()
    two_gpu_server.start()

    jobs.client = two_gpu_server.client()
    assert jobs.client.jobs.get(survivor.name).status == JobStatus.RUNNING  # re-adopted
    assert jobs.client.jobs.get(survivor.name).view.gpu_ids == [held]
    newcomer = jobs.submit("b", 1)
    assert jobs.given("b") != held  # the re-adopted job keeps its GPU
    waiting = jobs.submit("c", 1)
    # a job asking for no GPU, queued after it, starts: the scheduler has been through the queue since
    passer = jobs.submit("d", 0)
    assert jobs.given("d") == ""
    assert jobs.client.jobs.get(waiting.name).status == JobStatus.QUEUED and not jobs.started("c")
    jobs.stop("d")
    jobs.wait_status(passer, JobStatus.COMPLETED)
    jobs.stop("a")
    jobs.wait_status(survivor, JobStatus.COMPLETED)
    assert jobs.given("c") == held
    jobs.stop("b", "c")
    for job in (newcomer, waiting):
        jobs.wait_status(job, JobStatus.COMPLETED)
    jobs.client.close()


def test_a_named_local_compute_uses_its_own_gpus_shared_with_local_one_job_at_a_time(
    two_gpu_server: WorkspaceServer, tmp_path: Path
) -> None:
    two_gpu_server.cli("compute", "create", "--name", "gpu-one", "--type", "local", "--gpus", "1", check=True)
    jobs = GpuJobs(two_gpu_server, tmp_path)
    named = jobs.submit("n1", 1, "compute=azureml:gpu-one")
    assert jobs.given("n1") == "1"  # only its GPU, though GPU 0 is free
    with pytest.raises(InvalidSpec, match=r"resources\.gpu_count: 2 GPUs asked for, but local compute has 1 \(ids 1\)"):
        jobs.submit("n2", 2, "compute=azureml:gpu-one")
    # 'local' takes GPU 0 and then waits: GPU 1 is held by the named compute's job
    on_local = jobs.submit("l1", 1)
    assert jobs.given("l1") == "0"
    waiting = jobs.submit("l2", 1)
    next_named = jobs.submit("n3", 1, "compute=gpu-one")
    jobs.stop("l1")
    assert jobs.given("l2") == "0"  # the GPU 'local' freed; n3 still waits for GPU 1
    assert not jobs.started("n3") and jobs.client.jobs.get(next_named.name).status == JobStatus.QUEUED
    jobs.stop("n1")
    assert jobs.given("n3") == "1"
    jobs.stop("l2", "n3")
    for job in (named, on_local, waiting, next_named):
        jobs.wait_status(job, JobStatus.COMPLETED)
    assert jobs.client.jobs.get(named.name).view.compute == "gpu-one"
    jobs.client.close()
    two_gpu_server.cli("compute", "delete", "-n", "gpu-one", check=True)
