"""The job site's hook on ``ray.init`` (on a stand-in for Ray's worker module, no Ray started): a new instance in a
job on local compute is loopback-only, bounded to the job's CPUs, with its temp folder in the job's folder (through a
short link where Ray's socket paths would not fit, removed after Ray is shut down at exit); a cluster named by
address, in the call or in ``RAY_ADDRESS``, is left as asked."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from kiln.jobs.preparation import JOB_SITE_DIR


@pytest.fixture
def job_site(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv("KILN_JOB_ID", raising=False)  # loaded as a module: it installs no import hook here
    spec = importlib.util.spec_from_file_location("_job_site_under_test", JOB_SITE_DIR / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hooked(job_site: ModuleType) -> tuple[Any, list[tuple[Any, dict[str, Any]]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    worker = SimpleNamespace(init=lambda address=None, **options: calls.append((address, options)))
    job_site._private_ray(worker)
    return worker, calls


def test_a_new_instance_is_loopback_only_bounded_and_in_the_job_folder(
    job_site: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "jobs" / "j" / "tmp" / "ray"
    monkeypatch.setattr(job_site, "_RAY_TEMP_DIR", str(folder))
    monkeypatch.setenv("RAY_ADDRESS", "local")
    cpus = len(os.sched_getaffinity(0))
    worker, calls = _hooked(job_site)
    worker.init()
    worker.init(num_cpus=cpus + 8, include_dashboard=True)  # no more CPUs than the job may use
    worker.init(num_cpus=0)  # fewer: as asked
    (address, options), (_, asked), (_, none) = calls
    assert none["num_cpus"] == 0
    assert address == "local"
    assert options["num_cpus"] == cpus and asked["num_cpus"] == cpus
    assert options["include_dashboard"] is False and asked["include_dashboard"] is True
    assert options["_node_ip_address"] == asked["dashboard_host"] == "127.0.0.1"
    assert folder.is_dir() and Path(options["_temp_dir"]).resolve() == folder.resolve()


def test_a_long_job_folder_is_reached_through_a_short_link_removed_after_ray_shuts_down(
    job_site: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / ("a-long-job-folder-" * 4) / "tmp" / "ray"
    link = Path(job_site._short_ray_temp_dir(str(folder)))
    assert link.is_symlink() and link.resolve() == folder.resolve()
    assert len(str(link)) <= job_site._RAY_TEMP_ROOM < len(str(folder))
    shut_down = []
    monkeypatch.setitem(sys.modules, "ray", SimpleNamespace(shutdown=lambda: shut_down.append(link.exists())))
    job_site._end_ray_and_remove(str(link.parent))
    assert shut_down == [True]  # Ray first (its exit would write below the link again), then the link
    assert not link.parent.exists() and folder.is_dir()


@pytest.mark.parametrize(
    ("address", "variable"), [("ray://head:10001", None), ("10.0.0.5:6379", "local"), (None, "10.0.0.5:6379")]
)
def test_a_cluster_named_by_address_is_left_as_asked(
    job_site: ModuleType, monkeypatch: pytest.MonkeyPatch, address: str | None, variable: str | None
) -> None:
    if variable is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", variable)
    worker, calls = _hooked(job_site)
    worker.init(address, num_cpus=64)
    assert calls == [(address, {"num_cpus": 64})]
