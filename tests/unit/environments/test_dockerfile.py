"""Reading a build context's Dockerfile: the requirement files and packages it installs, and refusals that say why."""

from __future__ import annotations

import pytest

from kiln.environments.dockerfile import equivalent_spec, read_dockerfile
from kiln.errors import InvalidSpec
from kiln.specs.environment import BuildContext

# Azure's own sklearn-1.5 context (azureml-assets), shortened
AZURE_SKLEARN = """\
FROM mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04:{{latest-image-tag}}
WORKDIR /
ENV CONDA_PREFIX=/azureml-envs/sklearn-1.5
RUN apt-get update && \\
    apt-get install -y openssl && \\
    rm -rf /var/lib/apt/lists/*
# Create conda environment
COPY conda_dependencies.yaml .
RUN conda env create -p $CONDA_PREFIX -f conda_dependencies.yaml -q && \\
    rm conda_dependencies.yaml && \\
    conda clean -a -y
RUN conda run -p $CONDA_PREFIX pip install --upgrade urllib3==2.6.3 pip
"""
AZURE_CONDA = """\
name: sklearn-1.5
channels: [conda-forge]
dependencies:
- python=3.11
- pip=26.1.1
- numpy~=1.26
- pip:
  - scikit-learn~=1.5.0
"""


def test_azures_own_context_gives_its_conda_file_and_extra_packages() -> None:
    reading = read_dockerfile(AZURE_SKLEARN)
    assert reading.conda_files == ["conda_dependencies.yaml"] and reading.packages == ["urllib3==2.6.3"]
    assert "apt-get install -y openssl" in reading.ignored and reading.python is None
    build = BuildContext(path="ctx", dockerfile=AZURE_SKLEARN, files={"conda_dependencies.yaml": AZURE_CONDA})
    spec, notes = equivalent_spec(build)
    assert spec.python_version() == "3.11"
    assert spec.requirement_lines() == ["numpy~=1.26", "scikit-learn~=1.5.0", "urllib3==2.6.3"]
    assert "conda_dependencies.yaml (conda)" in notes[0]
    assert "apt-get install -y openssl" in notes[1] and "kiln does not run Docker builds" in notes[1]


def test_pip_requirement_files_through_copy_and_workdir_and_a_python_base_image() -> None:
    dockerfile = (
        "FROM python:3.11-slim AS base\nWORKDIR /app\nCOPY requirements.txt ./\nCOPY env/ /opt/env\n"
        "RUN pip install --no-cache-dir -r requirements.txt && python -m pip install -r /opt/env/more.txt 'six<2'\n"
        "RUN uv pip install --system idna\n"
    )
    reading = read_dockerfile(dockerfile)
    assert reading.python == "3.11" and reading.requirement_files == ["requirements.txt", "env/more.txt"]
    build = BuildContext(
        path="ctx", dockerfile=dockerfile, files={"requirements.txt": "numpy\n# c\n", "env/more.txt": "idna==3.7\n"}
    )
    spec, notes = equivalent_spec(build)
    assert spec.python_version() == "3.11" and spec.requirement_lines() == ["numpy", "idna==3.7", "six<2", "idna"]
    spec, notes = equivalent_spec(build, has_python=lambda version: False)
    assert spec.python_version() is None and "python 3.11 is not on the workspace server" in notes[-1]


def test_a_dockerfile_that_installs_nothing_kiln_can_use_is_refused_with_what_it_read() -> None:
    build = BuildContext(path="ctx", dockerfile="FROM ubuntu:24.04\nRUN apt-get install -y python3\n")
    with pytest.raises(InvalidSpec) as caught:
        equivalent_spec(build, "environment.build")
    message = caught.value.message
    assert message.startswith("environment.build: kiln read Dockerfile (FROM ubuntu:24.04)")
    assert "'apt-get install -y python3'" in message and "conda_file or pip_requirements" in message


@pytest.mark.parametrize(
    ("dockerfile", "files", "message"),
    [
        ("FROM python:3.11\nRUN pip install -r requirements.txt\n", {}, "'requirements.txt' is not copied"),
        ("FROM python:3.11\nCOPY r.txt .\nRUN pip install -r r.txt\n", {}, "'r.txt', which is not in the build"),
        ("FROM python:3.11\nCOPY c.yml .\nRUN conda env update -f c.yml\n", {"c.yml": "deps: [x]"}, "not a conda"),
    ],
)
def test_requirement_files_kiln_cannot_find_or_read_are_refused(
    dockerfile: str, files: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidSpec, match=message):
        equivalent_spec(BuildContext(path="ctx", dockerfile=dockerfile, files=files))


def test_what_cannot_be_used_is_noted_next_to_what_is() -> None:
    dockerfile = "FROM python:3.11\nCOPY . /src\nRUN pip install -e /src && pip install -r /src/req.txt ./local.whl\n"
    spec, notes = equivalent_spec(BuildContext(path="ctx", dockerfile=dockerfile, files={"req.txt": "six\n"}))
    assert spec.requirement_lines() == ["six"]
    assert "editable install" in notes[-1] and "'./local.whl' is a local path" in notes[-1]
