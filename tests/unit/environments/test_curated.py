"""The shipped mapping of Azure's curated environments: every entry usable, names found as Azure writes them."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from kiln.environments.curated import (
    curated_environments,
    find_curated,
    is_curated_name,
    unknown_curated_message,
)

README = Path(__file__).resolve().parents[3] / "docs" / "curated-environments.md"


def test_every_entry_is_a_list_of_pip_requirements_and_torch_is_the_cpu_wheel_on_find_links() -> None:
    environments = curated_environments()
    assert {"sklearn-1.5", "lightgbm-3.3", "acpt-pytorch-2.8-cuda12.6", "tensorflow-2.16-cuda12"} <= set(environments)
    assert any("responsibleai" in name for name in environments) and any("mlflow" in n for n in environments)
    for environment in environments.values():
        for line in environment.requirements:
            Requirement(line)  # raises if not a requirement
    assert "torch==2.13.0" in environments["acpt-pytorch-2.8-cuda12.6"].requirements
    mlflow = next(e for n, e in environments.items() if n.startswith("mlflow"))
    assert f"mlflow=={metadata.version('mlflow')}" in mlflow.requirements  # the server's own version


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sklearn-1.5", "sklearn-1.5"),
        ("AzureML-sklearn-1.5", "sklearn-1.5"),
        ("azureml-SKLEARN-1.5", "sklearn-1.5"),
        ("AzureML-minimal-py311-inference", "minimal-ubuntu22.04-py311-cpu-inference"),  # an alias
        ("AzureML-no-such-env", None),
        ("sklearn", None),
    ],
)
def test_names_are_found_as_azure_writes_them(name: str, expected: str | None) -> None:
    found = find_curated(name)
    assert (found.name if found else None) == expected


def test_curated_names_and_the_unknown_message() -> None:
    assert is_curated_name("AzureML-x") and is_curated_name("azureml-x") and not is_curated_name("sklearn-1.5")
    message = unknown_curated_message("azureml:AzureML-nope@latest", "AzureML-nope", "latest")
    assert "AzureML-sklearn-1.5" in message and "AzureML-lightgbm-3.3" in message
    assert "kiln environment create --name AzureML-nope --version 1 -f env.yml" in message


def test_the_docs_table_lists_every_shipped_environment() -> None:
    text = README.read_text()
    for environment in curated_environments().values():
        assert f"`{environment.name}`" in text, f"{environment.name} is missing from {README.name}"
