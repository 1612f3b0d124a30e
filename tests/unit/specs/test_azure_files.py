"""Azure ML files kiln reads: named computes, endpoints' auth_mode in any case, inline models with a version."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kiln.config import Settings
from kiln.errors import InvalidSpec
from kiln.jobs.preparation import compute_notice
from kiln.specs.compute import ComputeSpec
from kiln.specs.endpoint import InlineModel, OnlineDeploymentSpec, OnlineEndpointSpec
from kiln.specs.job import CommandJobSpec
from kiln.specs.yaml_source import parse_yaml, validate_model


@pytest.mark.parametrize(
    ("given", "mode"),
    [("key", "key"), ("Key", "key"), ("KEY", "key"), ("aml_token", "aml_token"), ("AMLToken", "aml_token"),
     ("amltoken", "aml_token"), ("AML_Token", "aml_token")],
)  # fmt: skip
def test_auth_mode_is_read_in_any_of_azures_spellings(given: str, mode: str) -> None:
    spec = validate_model(OnlineEndpointSpec, parse_yaml(f"name: iris\nauth_mode: {given}\n"))
    assert spec.auth_mode == mode


@pytest.mark.parametrize("given", ["aad_token", "AADToken"])
def test_auth_mode_aad_token_is_refused_with_what_to_use(given: str) -> None:
    with pytest.raises(InvalidSpec, match=r"line 2.*auth_mode.*Microsoft Entra ID.*use key .* or aml_token"):
        validate_model(OnlineEndpointSpec, parse_yaml(f"name: iris\nauth_mode: {given}\n"))


def test_an_unknown_auth_mode_names_the_two_there_are() -> None:
    with pytest.raises(InvalidSpec, match="'password' is not an auth mode; use key or aml_token"):
        validate_model(OnlineEndpointSpec, parse_yaml("name: iris\nauth_mode: password\n"))


def test_inline_model_takes_azures_name_version_path() -> None:
    text = "name: blue\nendpoint_name: iris\nmodel:\n  name: sk-model\n  version: 1\n  path: model/\n"
    spec = validate_model(OnlineDeploymentSpec, parse_yaml(text))
    assert isinstance(spec.model, InlineModel)
    assert (spec.model.name, spec.model.version, spec.model.path) == ("sk-model", "1", "model/")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "{path: m, version: 1}",
            r"line 3.*model.version.*a version belongs to a registered model; give model.name too",
        ),
        ("{name: m, version: 0, path: m}", r"model.version.*should match pattern"),
        ("{name: m, version: latest, path: m}", r"model.version"),
        ("{name: m, path: m, flavor: x}", r"unknown field 'model.flavor'"),
        ("{name: 'bad name', path: m}", r"model.name"),
    ],
)
def test_inline_model_mistakes_name_the_field(model: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        validate_model(OnlineDeploymentSpec, parse_yaml(f"name: blue\nendpoint_name: iris\nmodel: {model}\n"))


def test_a_named_local_compute_takes_its_job_limit_and_gpus() -> None:
    spec = ComputeSpec.model_validate({"name": "cpu-cluster", "type": "local", "max_concurrent_jobs": 2, "gpus": "0,1"})
    assert (spec.type, spec.max_concurrent_jobs, spec.gpus, spec.address) == ("local", 2, ["0", "1"], None)
    assert ComputeSpec.model_validate({"name": "g", "type": "local", "gpus": [0, 1]}).gpus == ["0", "1"]
    assert ComputeSpec.model_validate({"name": "g", "type": "local", "gpus": ""}).gpus == []


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("name: c\ntype: local\naddress: http://h:8265\n", "type local is this machine and takes no address"),
        ("name: c\ntype: ray\n", "needs the Ray dashboard's URL"),
        ("name: c\ntype: ray\naddress: http://h:8265\nmax_concurrent_jobs: 2\n", "only a compute target of type local"),
        ("name: c\ntype: local\nmax_concurrent_jobs: 0\n", "line 3.*max_concurrent_jobs"),
        ("name: c\ntype: local\ngpus: [0, 0]\n", "listed twice"),
        ("name: c\ntype: local\ngpus: ['a b']\n", "is not a GPU id"),
        ("name: c\ntype: amlcompute\n", "line 2.*type"),
    ],
)
def test_compute_mistakes_say_what_and_where(yaml_text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        validate_model(ComputeSpec, parse_yaml(yaml_text))


def test_unknown_azure_computes_run_locally_only_in_an_embedded_workspace(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert Settings(home=tmp_path).resolved_unknown_azureml_compute == "local"
    assert Settings(home=tmp_path, host="0.0.0.0").resolved_unknown_azureml_compute == "refuse"
    team = Settings(home=tmp_path, database_url="postgresql://db/kiln")
    assert team.resolved_unknown_azureml_compute == "refuse"
    assert Settings(home=tmp_path, unknown_azureml_compute="refuse").resolved_unknown_azureml_compute == "refuse"
    assert team.model_copy(update={"unknown_azureml_compute": "local"}).resolved_unknown_azureml_compute == "local"


def test_the_job_log_notice_names_the_compute_asked_for_and_the_one_used() -> None:
    spec = CommandJobSpec(type="command", command="true", compute="azureml:gpu-cluster")
    notice = compute_notice(spec, "local")
    assert notice is not None and "\n" not in notice
    assert "'azureml:gpu-cluster' is not a compute target" in notice and "running on 'local'" in notice
    assert "kiln compute create --name gpu-cluster --type local" in notice
    assert compute_notice(spec, "gpu-cluster") is None


def test_azure_only_deployment_knobs_are_accepted_and_ignored_but_still_checked() -> None:
    base = {"name": "blue", "endpoint_name": "ep", "model": "kiln:m:1"}
    spec = OnlineDeploymentSpec.model_validate(
        {
            **base,
            "instance_type": "Standard_DS3_v2",
            "app_insights_enabled": True,
            "egress_public_network_access": "disabled",
        }
    )
    assert spec.app_insights_enabled is True
    with pytest.raises(ValidationError):
        OnlineDeploymentSpec.model_validate({**base, "egress_public_network_access": "sometimes"})
