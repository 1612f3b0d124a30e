"""What local compute offers a job: one machine, its processes, and the GPUs it can hand out.

GPU ids are the names ``CUDA_VISIBLE_DEVICES`` understands (indices such as ``0``, or
``GPU-…`` UUIDs). A job holds its GPUs alone from start to end; the engine records
them on the job, so a restarted server knows which GPUs re-adopted jobs still hold.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiln.specs.job import Problem, ProcessJobSpec

VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
RAY_TEMP_DIR = "KILN_RAY_TEMP_DIR"  # the job site's sitecustomize keeps a Ray instance the job starts private
SUPPORTED_DISTRIBUTIONS = ("pytorch", "ray")  # ray: the job starts a private Ray instance


@dataclass(frozen=True)
class LocalCompute:
    gpus: tuple[str, ...] = ()

    def problems(self, spec: ProcessJobSpec) -> list[Problem]:
        """What in ``spec`` local compute cannot run, each with the field it is about and how to fix it."""
        found: list[Problem] = []
        if spec.resources and spec.resources.instance_count > 1:
            found.append(
                (
                    ("resources", "instance_count"),
                    f"{spec.resources.instance_count} machines asked for, but local compute is one machine; "
                    "set it to 1 (or leave it out) and run several processes with "
                    "distribution.process_count_per_instance (multi-machine jobs need a Ray compute target)",
                )
            )
        if spec.distribution and spec.distribution.type not in SUPPORTED_DISTRIBUTIONS:
            found.append(
                (
                    ("distribution", "type"),
                    f"'{spec.distribution.type}' is not supported on local compute (supported: "
                    f"{', '.join(SUPPORTED_DISTRIBUTIONS)}); use type: pytorch with process_count_per_instance, "
                    "type: ray, or leave distribution out",
                )
            )
        if spec.gpu_count > len(self.gpus):
            found.append((("resources", "gpu_count"), self.too_many_gpus(spec.gpu_count)))
        return found

    def too_many_gpus(self, wanted: int) -> str:
        if self.gpus:
            has, fix = f"has {len(self.gpus)} (ids {', '.join(self.gpus)})", f"ask for at most {len(self.gpus)}"
        else:
            has, fix = "has no GPUs", "leave gpu_count out"
        return (
            f"{wanted} GPU{'s' if wanted > 1 else ''} asked for, but local compute {has}; {fix}, or name this "
            "machine's GPUs in the workspace setting 'gpus' (KILN_GPUS=0,1)"
        )

    def free_gpus(self, held: Collection[str]) -> list[str]:
        return [gpu for gpu in self.gpus if gpu not in held]

    def plan_starts(self, wanted: Sequence[int], slots: int, held: Collection[str]) -> list[list[str] | None]:
        """For queued jobs, oldest first, each wanting some GPUs: the GPUs each starts with now, or None
        if it waits. Jobs that ask for GPUs start in submission order (a big one is not starved by small
        ones); a CPU-only job may pass a job that waits for GPUs."""
        free = self.free_gpus(held)
        plan: list[list[str] | None] = []
        gpu_job_waiting = False
        for count in wanted:
            if slots > 0 and (count == 0 or (not gpu_job_waiting and count <= len(free))):
                plan.append(free[:count])
                free, slots = free[count:], slots - 1
            else:
                plan.append(None)
                gpu_job_waiting = gpu_job_waiting or count > 0
        return plan


def visible_devices(gpu_ids: list[str]) -> dict[str, str]:
    """The job's view of the GPUs: only its own; an empty value hides every GPU from a job that asked for none."""
    return {VISIBLE_DEVICES: ",".join(gpu_ids)}


def private_ray_variables(job_root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """What keeps a Ray instance that a job starts (``ray.init()``) to itself: variables the job's own may replace
    (``RAY_ADDRESS=local``: a new instance, never a cluster found on the machine; a job that names a cluster's
    address joins it), and variables that come after the job's own: no usage report, no TPU (kiln hands none
    out, and Ray would ask a cloud metadata server about one), the instance's temp folder in the job's folder.
    The job site (:mod:`kiln.jobs.job_site`) makes the instance loopback-only and bounds its CPUs."""
    defaults = {"RAY_ADDRESS": "local"}
    fixed = {"RAY_USAGE_STATS_ENABLED": "0", "TPU_VISIBLE_CHIPS": "", RAY_TEMP_DIR: str(job_root / "tmp" / "ray")}
    return defaults, fixed
