"""Azure ML's curated environments, mapped to package lists kiln builds (``curated.yml``, shipped with kiln).

``azureml://registries/azureml/environments/NAME/…`` and ``azureml:AzureML-NAME@latest`` /
``azureml:AzureML-NAME:VERSION`` name them. kiln does not follow Azure's versions: every version
of a curated name gets the one package list below, built with uv on the server's Python and
cached by content hash like any environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources

import yaml

CURATED_PREFIX = "AzureML-"
AZURE_REGISTRY = "azureml"
DOCS = "docs/curated-environments.md"


@dataclass(frozen=True)
class CuratedEnvironment:
    name: str  # its name in Azure's registry, e.g. sklearn-1.5
    description: str
    requirements: tuple[str, ...]
    also: tuple[str, ...] = ()

    @property
    def curated_name(self) -> str:
        """Its name in an Azure workspace: AzureML-sklearn-1.5."""
        return CURATED_PREFIX + self.name


@cache
def curated_environments() -> dict[str, CuratedEnvironment]:
    """The shipped mapping, by registry name, in file order."""
    text = resources.files("kiln.environments").joinpath("curated.yml").read_text(encoding="utf-8")
    mlflow_version = metadata.version("mlflow")
    found: dict[str, CuratedEnvironment] = {}
    for name, entry in (yaml.safe_load(text) or {}).items():
        found[name] = CuratedEnvironment(
            name=name,
            description=str(entry.get("description", "")),
            requirements=tuple(str(line).format(mlflow_version=mlflow_version) for line in entry["requirements"]),
            also=tuple(entry.get("also", ())),
        )
    return found


def is_curated_name(name: str) -> bool:
    """``AzureML-…``: how Azure names a curated environment inside a workspace."""
    return name.lower().startswith(CURATED_PREFIX.lower())


def find_curated(name: str) -> CuratedEnvironment | None:
    """By registry name (``sklearn-1.5``) or workspace name (``AzureML-sklearn-1.5``), any case; aliases too."""
    wanted = name[len(CURATED_PREFIX) :] if is_curated_name(name) else name
    wanted = wanted.lower()
    for environment in curated_environments().values():
        if wanted in {n.lower() for n in (environment.name, *environment.also)}:
            return environment
    return None


def unknown_curated_message(reference: str, name: str, version: str) -> str:
    """What to say when a curated/registry name is not in the mapping: the known names and the fix."""
    known = ", ".join(e.curated_name for e in curated_environments().values())
    shown_version = "1" if version == "latest" else version
    return (
        f"environment: '{reference}' is not a curated environment kiln knows, nor one registered in this "
        f"workspace. kiln builds these curated environments: {known} (their packages: {DOCS}). To make this "
        f"reference work, register an environment under its name: kiln environment create --name {name} "
        f"--version {shown_version} -f env.yml (env.yml with a conda_file or pip_requirements listing the packages)"
    )
