"""Environment YAML: Azure ML field names, conda files, requirement files, references, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.errors import InvalidSpec
from kiln.sdk.environments import environment_body
from kiln.specs.environment import EnvironmentSpec, image_note, parse_environment_reference, parse_registry_reference
from kiln.specs.job import CommandJobSpec
from kiln.specs.yaml_source import parse_yaml, validate_model


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder / "env.yml"


def test_conda_file_is_read_relative_to_the_yaml_and_sent_inline(tmp_path: Path) -> None:
    env = write(
        tmp_path,
        {
            "env.yml": "$schema: https://x/environment.schema.json\nname: tiny\nversion: '3'\nimage: ubuntu:24.04\n"
            "tags: {team: a}\nconda_file: conda.yml\n",
            "conda.yml": "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip=24.0\n"
            "  - numpy=1.26\n  - scipy>=1.10\n  - pip:\n      - six==1.16.0  # pinned\n      - idna\n",
        },
    )
    body = environment_body(env)
    assert body["conda_file"]["dependencies"][0] == "python=3.11"
    spec = EnvironmentSpec.model_validate(body)
    assert spec.python_version() == "3.11"
    # pip and python are tooling; conda's '=1.26' means 1.26.*
    assert spec.requirement_lines() == ["numpy==1.26.*", "scipy>=1.10", "six==1.16.0", "idna"]
    assert spec.image == "ubuntu:24.04" and spec.version == "3"


def test_pip_requirements_file_and_overrides(tmp_path: Path) -> None:
    env = write(
        tmp_path,
        {
            "env.yml": "name: reqs\npip_requirements: requirements.txt\n",
            "requirements.txt": "# deps\nsix==1.17.0\n\nidna>=3\n",
        },
    )
    body = environment_body(env, name="other", version="7")
    assert body["name"] == "other" and body["version"] == "7"
    spec = EnvironmentSpec.model_validate(body)
    assert spec.requirement_lines() == ["six==1.17.0", "idna>=3"] and spec.python_version() is None


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"env.yml": "name: a\nconda_fle: c.yml\n"}, ["unknown field 'conda_fle'", "line 2"]),
        ({"env.yml": "name: a\nconda_file: nope.yml\n"}, ["conda_file: file 'nope.yml' not found", "line 2"]),
        (
            {"env.yml": "name: a\nconda_file: c.yml\n", "c.yml": "dependencies:\n  - python=3.11\nchanels: [x]\n"},
            ["c.yml, line 3", "unknown field 'chanels'"],
        ),
        ({"env.yml": "name: 'bad name'\n"}, ["field 'name'", "line 1"]),
    ],
)
def test_bad_environment_files_name_the_field_and_line(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        environment_body(write(tmp_path, files))
    for text in expected:
        assert text in caught.value.message


def test_bad_requirements_are_refused() -> None:
    with pytest.raises(InvalidSpec, match="pip options are not supported"):
        EnvironmentSpec(pip_requirements=["--index-url http://x", "six"]).requirement_lines()
    with pytest.raises(InvalidSpec, match=r"conda_file.dependencies\[1\]: only a 'pip:' list"):
        EnvironmentSpec.model_validate(
            {"conda_file": {"dependencies": ["python=3.11", {"conda": ["x"]}]}}
        ).requirement_lines()
    with pytest.raises(InvalidSpec, match="python=3.X"):
        EnvironmentSpec.model_validate({"conda_file": {"dependencies": ["python>=3"]}}).python_version()


def test_the_server_never_reads_client_paths() -> None:
    with pytest.raises(InvalidSpec, match="environment.conda_file: got the path 'conda.yml'.*send the file's content"):
        EnvironmentSpec(conda_file="conda.yml").check_inline("environment")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("kiln:tiny:1", ("tiny", "1")),
        ("azureml:tiny:2.0", ("tiny", "2.0")),
        ("kiln:tiny@latest", ("tiny", "latest")),
        ("azureml:tiny@latest", ("tiny", "latest")),
        ("tiny:3", ("tiny", "3")),
    ],
)
def test_references(reference: str, expected: tuple[str, str]) -> None:
    assert parse_environment_reference(reference) == expected


@pytest.mark.parametrize("reference", ["kiln:tiny", "kiln:tiny@stable", "azureml://datastores/x/paths/y"])
def test_bad_references(reference: str) -> None:
    with pytest.raises(InvalidSpec, match="environment: "):
        parse_environment_reference(reference)


def test_a_job_takes_an_inline_environment_and_its_errors_name_the_line() -> None:
    source = parse_yaml("command: python x.py\nenvironment:\n  conda_file: c.yml\n  imagee: x\n")
    with pytest.raises(InvalidSpec) as caught:
        validate_model(CommandJobSpec, source)
    assert "unknown field 'environment.imagee'" in caught.value.message and "line 4" in caught.value.message
    job = validate_model(CommandJobSpec, parse_yaml("command: x\nenvironment: azureml:tiny@latest\n"))
    assert job.environment == "azureml:tiny@latest"
    inline = validate_model(CommandJobSpec, parse_yaml("command: x\nenvironment:\n  pip_requirements: [six]\n"))
    assert isinstance(inline.environment, EnvironmentSpec) and inline.environment.requirement_lines() == ["six"]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("azureml://registries/azureml/environments/sklearn-1.5/versions/3", ("azureml", "sklearn-1.5", "3")),
        ("azureml://registries/azureml/environments/sklearn-1.5/labels/latest", ("azureml", "sklearn-1.5", "latest")),
        ("azureml://registries/team-reg/environments/mine", ("team-reg", "mine", "latest")),
        ("azureml:AzureML-sklearn-1.5@latest", None),
        ("kiln:tiny:1", None),
    ],
)
def test_registry_references(reference: str, expected: tuple[str, str, str] | None) -> None:
    assert parse_registry_reference(reference) == expected


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("azureml://registries/azureml/environments/sklearn-1.5/labels/stable", "only the label 'latest'"),
        ("azureml://registries/azureml/models/x/versions/1", "expected azureml://registries/REGISTRY/environments"),
        ("azureml://registries/azureml/environments/bad name/versions/1", "not a valid environment name"),
    ],
)
def test_bad_registry_references(reference: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        parse_registry_reference(reference)


def test_a_build_context_is_read_by_the_client_and_sent_inline(tmp_path: Path) -> None:
    context = tmp_path / "docker-context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM python:3.11-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    )
    (context / "requirements.txt").write_text("six==1.16.0\n")
    (context / "unrelated.bin").write_bytes(b"\0" * 10)
    env = write(tmp_path, {"env.yml": "name: built\nbuild:\n  path: ./docker-context\n  dockerfile_path: Dockerfile\n"})
    body = environment_body(env)
    assert body["build"]["dockerfile"].startswith("FROM python:3.11-slim")
    assert body["build"]["files"] == {"requirements.txt": "six==1.16.0\n"}  # only what the Dockerfile installs
    EnvironmentSpec.model_validate(body).check_inline()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("name: b\nbuild: {path: ./nowhere}\n", "build.path: folder './nowhere' not found"),
        ("name: b\nbuild: {path: 'https://example.com/ctx.zip'}\n", "kiln reads a build context from a local folder"),
        ("name: b\nbuild: {path: ., dockerfile_path: Missing.Dockerfile}\n", "file 'Missing.Dockerfile' not found"),
    ],
)
def test_bad_build_contexts_are_refused_by_the_client(tmp_path: Path, yaml_text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        environment_body(write(tmp_path, {"env.yml": yaml_text}))


def test_a_build_that_reached_the_server_without_its_dockerfile_or_with_a_conda_file_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="build: got the folder 'ctx' without its Dockerfile's content"):
        EnvironmentSpec.model_validate({"build": {"path": "ctx"}}).check_inline()
    both = {"build": {"path": "ctx", "dockerfile": "FROM x"}, "pip_requirements": ["six"]}
    with pytest.raises(InvalidSpec, match="give either 'build'"):
        EnvironmentSpec.model_validate(both).check_inline()


def test_the_image_note_says_what_the_job_gets_instead() -> None:
    only_image = EnvironmentSpec(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04")
    note = image_note(only_image, "3.11.7", "mlflow-skinny==3.0")
    assert "kiln does not run container images" in note and "openmpi4.1.0" in note
    assert "python 3.11.7 and the MLflow client (mlflow-skinny==3.0) only" in note and "conda_file" in note
    with_conda = EnvironmentSpec(image="python:3.11", pip_requirements=["six"])
    assert "the packages of conda_file/pip_requirements" in image_note(with_conda, "3.11.7", None)
