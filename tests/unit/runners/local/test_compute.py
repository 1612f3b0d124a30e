"""Local compute: which distributed and resource requests it runs, its GPUs from the setting or nvidia-smi."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from kiln.config import Settings
from kiln.runners.local.compute import RAY_TEMP_DIR, LocalCompute, private_ray_variables, visible_devices
from kiln.runners.local.gpus import local_gpus, parse_gpu_ids
from kiln.specs.job import CommandJobSpec

TWO_GPUS = LocalCompute(("0", "1"))


def _spec(**fields: object) -> CommandJobSpec:
    return CommandJobSpec.model_validate({"command": "python train.py", **fields})


def test_pytorch_distribution_and_gpus_within_the_machine_are_fine() -> None:
    spec = _spec(
        distribution={"type": "pytorch", "process_count_per_instance": 2},
        resources={"instance_count": 1, "gpu_count": 2, "instance_type": "Standard_NC6", "shm_size": "8g"},
    )
    assert TWO_GPUS.problems(spec) == []
    assert (spec.rank_count, spec.gpu_count) == (2, 2)
    assert (_spec().rank_count, _spec().gpu_count) == (None, 0)
    assert _spec(distribution={"type": "pytorch"}).rank_count == 1


def test_a_ray_distribution_runs_locally_as_one_driver_process() -> None:
    spec = _spec(distribution={"type": "ray"})  # the job's own Ray instance starts the workers
    assert TWO_GPUS.problems(spec) == [] and spec.rank_count is None


@pytest.mark.parametrize(
    ("fields", "field", "fragments"),
    [
        (
            {"resources": {"instance_count": 2}},
            "resources.instance_count",
            ["one machine", "process_count_per_instance"],
        ),
        ({"distribution": {"type": "mpi"}}, "distribution.type", ["'mpi' is not supported", "supported: pytorch"]),
        ({"resources": {"gpu_count": 3}}, "resources.gpu_count", ["3 GPUs asked for", "has 2 (ids 0, 1)", "at most 2"]),
    ],
)
def test_what_local_compute_cannot_run_names_the_field_and_the_fix(
    fields: dict[str, object], field: str, fragments: list[str]
) -> None:
    ((loc, message),) = TWO_GPUS.problems(_spec(**fields))
    assert ".".join(loc) == field
    for fragment in fragments:
        assert fragment in message


def test_a_machine_without_gpus_says_how_to_name_them() -> None:
    ((_, message),) = LocalCompute().problems(_spec(resources={"gpu_count": 1}))
    assert "has no GPUs" in message and "KILN_GPUS" in message


def test_distribution_fields_must_belong_to_the_type() -> None:
    with pytest.raises(ValidationError, match="worker_count is not a field of distribution type 'pytorch'"):
        _spec(distribution={"type": "pytorch", "worker_count": 2})
    with pytest.raises(ValidationError, match="'pytorch', 'mpi', 'tensorflow' or 'ray'"):
        _spec(distribution={"type": "horovod"})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        _spec(distribution={"type": "pytorch", "process_count_per_instance": 0})


def test_free_gpus_and_what_a_job_sees() -> None:
    assert TWO_GPUS.free_gpus({"0"}) == ["1"]
    assert visible_devices(["1", "0"]) == {"CUDA_VISIBLE_DEVICES": "1,0"}
    assert visible_devices([]) == {"CUDA_VISIBLE_DEVICES": ""}  # no GPU for a job that asked for none


def test_queued_jobs_start_in_order_when_their_gpus_are_free() -> None:
    four = LocalCompute(("0", "1", "2", "3"))
    assert four.plan_starts([1, 2, 0], slots=4, held={"1"}) == [["0"], ["2", "3"], []]
    # the 2-GPU job waits for a second free GPU; the 1-GPU job behind it may not take the free one, a CPU job may
    assert four.plan_starts([2, 1, 0], slots=4, held={"0", "1", "2"}) == [None, None, []]
    assert four.plan_starts([0, 0, 1], slots=2, held=set()) == [[], [], None]  # no free slot left
    assert TWO_GPUS.plan_starts([], slots=1, held=set()) == []


def test_gpus_from_the_setting_or_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_gpu_ids(" 0, 1,,1 ") == ("0", "1")
    assert local_gpus("") == ()
    assert local_gpus("GPU-a,GPU-b") == ("GPU-a", "GPU-b")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert local_gpus(None) == ()  # no nvidia-smi: no GPUs
    fake = tmp_path / "nvidia-smi"  # this machine has no GPU: a stand-in that answers as nvidia-smi does
    fake.write_text('#!/bin/sh\n[ "$1" = --query-gpu=index ] && printf "0\\n1\\n"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert local_gpus(None) == ("0", "1")


def test_the_gpus_setting_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_HOME", str(tmp_path))
    monkeypatch.delenv("KILN_GPUS", raising=False)
    assert Settings.load().gpus is None
    (tmp_path / "config.yaml").write_text("gpus: [0, 1]\n")
    assert Settings.load().gpus == "0,1"
    monkeypatch.setenv("KILN_GPUS", "")
    assert Settings.load().gpus == ""
    monkeypatch.setenv("KILN_GPUS", "2,3")
    assert Settings.load().gpus == "2,3"


def test_a_ray_instance_a_job_starts_is_its_own() -> None:
    defaults, fixed = private_ray_variables(Path("/home/k/jobs/abc"))
    assert defaults == {"RAY_ADDRESS": "local"}  # a job that names a cluster's address replaces it
    # after the job's own variables: no usage report, no TPU (no metadata server asked), its temp in the job's folder
    assert fixed == {"RAY_USAGE_STATS_ENABLED": "0", "TPU_VISIBLE_CHIPS": "", RAY_TEMP_DIR: "/home/k/jobs/abc/tmp/ray"}
