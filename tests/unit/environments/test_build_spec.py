"""The content hash that names a venv, and the MLflow client added to job environments."""

from __future__ import annotations

from importlib import metadata

import pytest

from kiln.environments.build_spec import BuildSpec, normalize_requirements, with_mlflow
from kiln.environments.pip_config import IndexSettings
from kiln.errors import InvalidSpec

INDEX = IndexSettings(extra_index_urls=("file:///opt/pypi/simple",), find_links=("/opt/wheels",))


def spec(*requirements: str, python: str = "3.11.7", index: IndexSettings = INDEX) -> BuildSpec:
    return BuildSpec(python, "/usr/bin/python3", tuple(requirements), index)


def test_same_spec_same_hash_in_any_order() -> None:
    assert spec("six==1.16.0", "idna").hash == spec("idna", "six==1.16.0").hash
    assert len(spec("six").hash) == 64


@pytest.mark.parametrize(
    "other",
    [
        spec("six==1.17.0", "idna"),
        spec("six==1.16.0"),
        spec("six==1.16.0", "idna", python="3.12.1"),
        spec("six==1.16.0", "idna", index=IndexSettings(index_url="https://private/simple")),
    ],
)
def test_a_changed_spec_has_another_hash(other: BuildSpec) -> None:
    assert other.hash != spec("six==1.16.0", "idna").hash


def test_mlflow_skinny_is_added_unless_the_spec_names_mlflow() -> None:
    lines, added = with_mlflow(["six"])
    assert added == f"mlflow-skinny=={metadata.version('mlflow')}" and lines == ["six", added]
    assert with_mlflow(["MLflow>=3"]) == (["MLflow>=3"], None)
    assert with_mlflow(["mlflow_skinny==3.1"]) == (["mlflow_skinny==3.1"], None)


def test_requirements_are_checked_and_deduplicated() -> None:
    assert normalize_requirements(["six >= 1.0", "six>=1.0", "idna"], "pip") == ["six>=1.0", "idna"]
    with pytest.raises(InvalidSpec, match="pip: 'six===' is not a valid pip requirement"):
        normalize_requirements(["six==="], "pip")
