"""What a Ray compute target accepts and what kiln sends it, without a cluster."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from kiln.jobs.folders import NODE_OUTPUTS, JobFolder
from kiln.jobs.input_manifest import MANIFEST_FOLDER
from kiln.runners.ray import entry as ray_entry
from kiln.runners.ray.cluster import cluster_use
from kiln.runners.ray.compute import (
    ENTRY_FOLDER,
    HandBack,
    driver_resources,
    pip_packages,
    rank_plan,
    ray_problems,
    runtime_env,
    write_driver,
)
from kiln.runners.ray.runner import _shortened
from kiln.specs.compute import ComputeSpec
from kiln.specs.job import CommandJobSpec
from kiln.specs.pins import environment_pin


def _spec(**fields: object) -> CommandJobSpec:
    return CommandJobSpec.model_validate({"command": "python train.py", "compute": "kiln:ray-cluster", **fields})


def _problems(**fields: object) -> dict[str, str]:
    return {".".join(loc): message for loc, message in ray_problems(_spec(**fields), "ray-cluster")}


def test_ray_runs_plain_ray_and_pytorch_jobs() -> None:
    assert _problems() == {}
    assert _problems(distribution={"type": "ray"}) == {}
    assert (
        _problems(distribution={"type": "pytorch", "process_count_per_instance": 4}, resources={"instance_count": 3})
        == {}
    )
    assert _problems(inputs={"data": {"type": "uri_folder", "path": "kiln:digits:1", "mode": "download"}}) == {}


def test_what_ray_cannot_run_is_named_with_its_fix() -> None:
    assert (
        "not supported on Ray compute 'ray-cluster' (supported: ray, pytorch)"
        in _problems(distribution={"type": "tensorflow", "worker_count": 2})["distribution.type"]
    )
    assert (
        "does not start; leave address out"
        in _problems(distribution={"type": "ray", "address": "x:1"})["distribution.address"]
    )
    assert "distribution: {type: pytorch" in _problems(resources={"instance_count": 2})["resources.instance_count"]
    assert (
        "use mode: download"
        in _problems(inputs={"data": {"type": "uri_folder", "path": "kiln:digits:1", "mode": "ro_mount"}})[
            "inputs.data.mode"
        ]
    )


def test_ranks_and_the_resources_the_driver_holds() -> None:
    assert rank_plan(_spec()) is None and rank_plan(_spec(distribution={"type": "ray"})) is None
    plan = rank_plan(
        _spec(distribution={"type": "pytorch", "process_count_per_instance": 2}, resources={"instance_count": 3})
    )
    assert plan is not None and plan.as_config() == {"instances": 3, "per_instance": 2, "gpus": 0}
    assert driver_resources(_spec(resources={"gpu_count": 1})) == (1.0, 1.0)
    assert driver_resources(_spec(distribution={"type": "ray"})) == (0.0, 0.0)
    assert driver_resources(_spec(distribution={"type": "pytorch"}, resources={"gpu_count": 2})) == (0.0, 0.0)


def test_runtime_env_keeps_server_paths_and_tokens_out() -> None:
    variables = {
        "PATH": "/server/bin", "PYTHONPATH": "/server/job_site", "KILN_TOKEN": "secret",
        "MLFLOW_TRACKING_TOKEN": "secret", "MLFLOW_RUN_ID": "abc", "MLFLOW_TRACKING_URI": "http://ws/mlflow",
    }  # fmt: skip
    built = runtime_env(Path("/jobs/abc/wd"), variables, ["scikit-learn==1.7.2", "mlflow-skinny==3.17.0"])
    assert built["working_dir"] == "/jobs/abc/wd"
    assert built["pip"] == {"packages": ["scikit-learn==1.7.2", "mlflow-skinny==3.17.0"]}
    env = built["env_vars"]
    assert env["MLFLOW_RUN_ID"] == "abc" and env["MLFLOW_TRACKING_URI"] == "http://ws/mlflow"
    assert env["RAY_USAGE_STATS_ENABLED"] == "0" and env["RAY_DEDUP_LOGS"] == "0"
    assert not {"PATH", "PYTHONPATH", "KILN_TOKEN", "MLFLOW_TRACKING_TOKEN"} & set(env)
    assert "secret" not in json.dumps(built)
    assert "pip" not in runtime_env(Path("/wd"), {}, [])


def test_pip_packages_come_from_kiln_and_inline_environments_only() -> None:
    built = {"hash": "h", "python": "3.11.9"}
    registered = {"kind": "kiln", "name": "sk", "version": "1", "requirements": ["scikit-learn"], **built}
    assert pip_packages(environment_pin(registered)) == ["scikit-learn"]
    assert pip_packages(environment_pin({"kind": "inline", "requirements": ["numpy<3"], **built})) == ["numpy<3"]
    assert pip_packages(environment_pin({"kind": "server-interpreter", "python": "/usr/bin/python3"})) == []
    assert pip_packages(environment_pin({})) == []  # a record from before environments: the server's Python


def test_the_driver_goes_into_the_working_dir_with_the_tokens_in_a_private_file(tmp_path: Path) -> None:
    hand_back = HandBack(tmp_path / "wd", "key", tmp_path / "return-key")
    variables = {"KILN_TOKEN": "t1", "MLFLOW_TRACKING_TOKEN": "t2", "MLFLOW_RUN_ID": "abc"}
    write_driver(tmp_path / "wd", "python train.py", variables, None, hand_back, ["outputs", ".kiln_outputs/model"])
    folder = tmp_path / "wd" / ENTRY_FOLDER
    assert (folder / "entry.py").read_text() == Path(ray_entry.__file__).read_text()
    assert (folder / "site" / "sitecustomize.py").exists()
    config = json.loads((folder / "job.json").read_text())
    assert config["command"] == "python train.py" and config["ranks"] is None
    assert config["folders"] == ["outputs", ".kiln_outputs/model"]
    assert config["secret_variables"] == {"KILN_TOKEN": "t1", "MLFLOW_TRACKING_TOKEN": "t2"}
    assert stat.S_IMODE((folder / "job.json").stat().st_mode) == 0o600


def test_outputs_go_back_into_the_workspace_folder_only_with_its_key(tmp_path: Path) -> None:
    cluster_copy = tmp_path / "cluster-copy"
    (cluster_copy / "outputs" / "sub").mkdir(parents=True)
    (cluster_copy / "outputs" / "sub" / "a.txt").write_text("a")
    key_file = tmp_path / "return-key"
    key_file.write_text("right")
    config = {"return_dir": str(tmp_path / "wd"), "return_key": "right", "return_key_file": str(key_file)}
    ray_entry.hand_back(config, cluster_copy)
    assert (tmp_path / "wd" / "outputs" / "sub" / "a.txt").read_text() == "a"
    assert not ray_entry.shares_folder_with_workspace({**config, "return_key": "wrong"})
    assert not ray_entry.shares_folder_with_workspace({**config, "return_key_file": str(tmp_path / "missing")})


def test_named_outputs_go_back_with_outputs(tmp_path: Path) -> None:
    cluster_copy = tmp_path / "cluster-copy"
    (cluster_copy / NODE_OUTPUTS / "model").mkdir(parents=True)
    (cluster_copy / NODE_OUTPUTS / "model" / "w.txt").write_text("w")
    key_file = tmp_path / "return-key"
    key_file.write_text("right")
    config = {"return_dir": str(tmp_path / "wd"), "return_key": "right", "return_key_file": str(key_file)}
    ray_entry.hand_back(config, cluster_copy)
    folder = JobFolder(tmp_path)  # the server's side: they land where outputs written on its disk are
    (folder.outputs / "model").mkdir(parents=True)
    folder.place_node_outputs()
    assert (folder.outputs / "model" / "w.txt").read_text() == "w" and not list(folder.node_outputs.iterdir())


def test_the_drivers_folder_names_are_kilns() -> None:
    """The driver imports none of kiln: its names for the manifests' and named outputs' folders are the same."""
    assert ray_entry.NODE_OUTPUTS == NODE_OUTPUTS and ray_entry.INPUTS_FOLDER == MANIFEST_FOLDER
    assert NODE_OUTPUTS in ray_entry.HANDED_BACK


def test_rank_variables_are_torchruns() -> None:
    variables = ray_entry.rank_variables(rank=3, instance=1, local_rank=1, world=4, per_instance=2)
    assert {k: variables[k] for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK")} == {
        "RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2", "NODE_RANK": "1",
    }  # fmt: skip


def test_cluster_use_from_the_dashboards_answers() -> None:
    node = {"state": "ALIVE", "resources_total": {"CPU": 2.0, "GPU": 1.0, "memory": 4e9, "object_store_memory": 1e8}}
    dead = {"state": "DEAD", "resources_total": {"CPU": 8.0}}
    nodes = {"result": {"result": [node, node, dead]}}
    status = {"clusterStatus": {"loadMetricsReport": {"usage": {"CPU": [1.0, 4.0], "memory": [1e9, 8e9]}}}}
    use = cluster_use(nodes, status)
    assert (use.nodes, use.cpus, use.cpus_used, use.gpus, use.gpus_used) == (2, 4.0, 1.0, 2.0, None)
    assert (use.memory_bytes, use.memory_used_bytes) == (8_000_000_000, 1_000_000_000)
    unknown = cluster_use(nodes, {"clusterStatus": None})
    assert unknown.cpus_used is None and unknown.memory_used_bytes is None


def test_compute_addresses_are_dashboard_urls() -> None:
    spec = ComputeSpec(name="c", type="ray", address="http://head:8265/")
    assert spec.address == "http://head:8265"
    for bad, message in (("ray://head:10001", "Ray Client address"), ("head:8265", r"not an http\(s\) URL")):
        with pytest.raises(ValidationError, match=message):
            ComputeSpec(name="c", type="ray", address=bad)


def test_rays_long_failure_message_is_cut_to_its_end() -> None:
    message = "Job entrypoint command failed with exit code 1, last available logs:\n" + "\n".join(
        f"line {i}" for i in range(100)
    )
    short = _shortened(message).splitlines()
    assert short[0].startswith("Job entrypoint command failed") and short[1] == "…"
    assert short[-1] == "line 99" and len(short) == 32
