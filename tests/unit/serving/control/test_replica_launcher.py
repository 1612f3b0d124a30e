"""A deployment's adaptive batching settings reach its replicas' configuration."""

from __future__ import annotations

import json
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from kiln.errors import InvalidSpec
from kiln.serving.control.replica_launcher import ReplicaLauncher, config_file_of, read_secret
from kiln.specs.endpoint import OnlineDeploymentSpec
from kiln.specs.pins import EnvironmentPin, environment_pin
from kiln.specs.replica import ReplicaConfig
from kiln.specs.yaml_source import parse_yaml, validate_model

YAML = "name: blue\nendpoint_name: iris\nmodel: kiln:iris:1\nbatching:\n  max_batch_size: 8\n  max_queue_delay_ms: 5\n"


def test_batching_is_read_from_the_deployment_yaml() -> None:
    spec = validate_model(OnlineDeploymentSpec, parse_yaml(YAML))
    assert (spec.batching.max_batch_size, spec.batching.max_queue_delay_ms) == (8, 5.0)
    default = validate_model(OnlineDeploymentSpec, parse_yaml("name: bb\nendpoint_name: ee\nmodel: kiln:m:1\n"))
    assert default.batching.max_batch_size > 1  # on unless turned off


def test_an_unknown_batching_field_names_its_line() -> None:
    with pytest.raises(InvalidSpec, match=r"line 6: unknown field 'batching.max_delay'"):
        validate_model(OnlineDeploymentSpec, parse_yaml(YAML.replace("max_queue_delay_ms", "max_delay")))


def test_the_launcher_writes_the_batching_settings_into_the_replica_config(tmp_path: Path) -> None:
    spec = validate_model(OnlineDeploymentSpec, parse_yaml(YAML))
    row = SimpleNamespace(endpoint="iris", name="blue", generation=1, model={"name": "iris", "version": "1"})
    launcher = ReplicaLauncher(tmp_path)
    replica = launcher.launch(row, spec, 0)  # type: ignore[arg-type]
    try:
        config = ReplicaConfig.model_validate(
            json.loads(next(launcher.folder("iris", "blue").glob("*.json")).read_text())
        )
        assert (config.batching.max_batch_size, config.batching.max_queue_delay_ms) == (8, 5.0)
    finally:
        assert replica.handle.popen is not None
        replica.handle.popen.kill()
        replica.handle.popen.wait()


def test_each_replica_gets_its_own_secret_in_a_file_only_its_user_reads(tmp_path: Path) -> None:
    spec = validate_model(OnlineDeploymentSpec, parse_yaml(YAML))
    row = SimpleNamespace(endpoint="iris", name="blue", generation=1, model={"name": "iris", "version": "1"})
    launcher = ReplicaLauncher(tmp_path)
    first, second = launcher.launch(row, spec, 0), launcher.launch(row, spec, 1)  # type: ignore[arg-type]
    try:
        for replica in (first, second):
            config_file = config_file_of(replica.log)
            assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
            assert ReplicaConfig.model_validate_json(config_file.read_text()).secret == replica.secret
            assert read_secret(replica.log) == replica.secret  # what a restarted server reads back
            assert replica.secret not in " ".join(map(str, replica.handle.popen.args))  # type: ignore[union-attr]
        assert first.secret != second.secret and len(first.secret) >= 40
        assert read_secret(tmp_path / "replica-9-g1.log") is None
    finally:
        for replica in (first, second):
            assert replica.handle.popen is not None
            replica.handle.popen.kill()
            replica.handle.popen.wait()


def test_a_config_file_left_readable_by_others_is_made_private_again(tmp_path: Path) -> None:
    spec = validate_model(OnlineDeploymentSpec, parse_yaml(YAML))
    row = SimpleNamespace(endpoint="iris", name="blue", generation=1, model={"name": "iris", "version": "1"})
    launcher = ReplicaLauncher(tmp_path)
    folder = launcher.folder("iris", "blue")
    folder.mkdir(parents=True)
    (folder / "replica-0-g1.json").write_text("{}")
    (folder / "replica-0-g1.json").chmod(0o644)
    replica = launcher.launch(row, spec, 0)  # type: ignore[arg-type]
    try:
        assert stat.S_IMODE(config_file_of(replica.log).stat().st_mode) == 0o600
    finally:
        assert replica.handle.popen is not None
        replica.handle.popen.kill()
        replica.handle.popen.wait()


@dataclass
class _Prepared:
    bin_dir: Path


class _Environments:
    """Any environment preparer will do (the launcher takes the protocol, not the workspace's service)."""

    def __init__(self) -> None:
        self.asked: list[tuple[EnvironmentPin, Path]] = []

    def prepare(self, pinned: EnvironmentPin, log: Path) -> _Prepared:
        self.asked.append((pinned, log))
        return _Prepared(Path(sys.executable).parent)


def test_a_pinned_environment_runs_the_replica_with_its_interpreter(tmp_path: Path) -> None:
    spec = validate_model(OnlineDeploymentSpec, parse_yaml(YAML))
    record = {"kind": "kiln", "name": "env", "version": "1", "hash": "ab" * 32, "python": "3.11.7"}
    row = SimpleNamespace(endpoint="iris", name="blue", generation=1, model={"name": "iris", "environment": record})
    environments = _Environments()
    replica = ReplicaLauncher(tmp_path, environments).launch(row, spec, 0)  # type: ignore[arg-type]
    assert replica.handle.popen is not None
    try:
        assert environments.asked == [(environment_pin(record), replica.log)]
        assert replica.handle.popen.args[:2] == [str(Path(sys.executable).parent / "python"), "-c"]
        # the overlay found the replica's entry point: its own error for a deployment without a model
        assert replica.handle.popen.wait(timeout=60) == 1
        assert "the deployment has neither a model nor a scoring script" in replica.log.read_text()
    finally:
        replica.handle.popen.kill()
        replica.handle.popen.wait()


def test_the_server_interpreter_needs_no_preparing(tmp_path: Path) -> None:
    spec = validate_model(OnlineDeploymentSpec, parse_yaml(YAML))
    row = SimpleNamespace(
        endpoint="iris",
        name="blue",
        generation=1,
        model={"name": "iris", "environment": {"kind": "server-interpreter"}},
    )
    environments = _Environments()
    replica = ReplicaLauncher(tmp_path, environments).launch(row, spec, 0)  # type: ignore[arg-type]
    assert replica.handle.popen is not None
    try:
        assert environments.asked == []
        assert replica.handle.popen.args == [
            sys.executable,
            "-m",
            "kiln.serving.replica",
            str(replica.log.with_suffix(".json")),
        ]
    finally:
        replica.handle.popen.kill()
        replica.handle.popen.wait()
