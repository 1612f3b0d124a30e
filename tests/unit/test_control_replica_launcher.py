"""A deployment's adaptive batching settings reach its replicas' configuration."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kiln.errors import InvalidSpec
from kiln.serving.control.replica_launcher import ReplicaLauncher
from kiln.specs.endpoint import OnlineDeploymentSpec
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
