"""``Client().environments``: register environments from YAML, follow their builds, read them back.

The conda file and the pip requirements file named in a spec, and a ``build`` context's
Dockerfile with the requirement files it installs, are read here, on the submitting machine,
and sent inline: the workspace never reads the client's paths.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kiln import api
from kiln.errors import InvalidSpec, KilnError
from kiln.sdk.rest import RestClient
from kiln.specs.environment import LATEST, CondaFile, EnvironmentSpec, EnvironmentView
from kiln.specs.html_tables import Listing
from kiln.specs.yaml_source import (
    FieldPath,
    YamlSource,
    format_loc,
    read_yaml_file,
    validate_model,
)

EnvironmentLike = str | Path | EnvironmentSpec | dict[str, Any]
BUILDING = "building"
MAX_CONTEXT_FILE = 1024 * 1024  # a requirement file; anything bigger is not one


class EnvironmentOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(
        self,
        spec: EnvironmentLike,
        *,
        name: str | None = None,
        version: str | None = None,
        wait: bool = True,
        on_log: Callable[[str], Any] | None = None,
    ) -> EnvironmentView:
        """Register a version and (with ``wait``) block until it is built; ``on_log`` gets the build log live.

        A failed build raises KilnError with the installer's message."""
        body = environment_body(spec, name=name, version=version)
        view = self._rest.call(api.environments.CREATE, json=body)
        if not wait:
            return view
        if view.status == BUILDING:
            if on_log is not None:
                for text in self.logs(view.name, view.version, follow=True):
                    on_log(text)
            view = self.wait(view.name, view.version)
        if view.status == "failed":
            raise KilnError(f"environment {view.name}:{view.version} failed to build: {view.error}")
        return view

    def wait(self, name: str, version: str, timeout: float | None = None, poll: float = 0.3) -> EnvironmentView:
        deadline = None if timeout is None else time.monotonic() + timeout
        view = self.get(name, version)
        while view.status == BUILDING:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"environment {name}:{version} is still building after {timeout} s")
            time.sleep(poll)
            view = self.get(name, version)
        return view

    def get(self, name: str, version: str = LATEST) -> EnvironmentView:
        return self._rest.call(api.environments.SHOW, name=name, version=version)

    def list(self, name: str | None = None) -> builtins.list[EnvironmentView]:
        params = {"name": name} if name else {}
        return Listing(self._rest.call(api.environments.LIST, params=params))

    def logs(self, name: str, version: str = LATEST, follow: bool = False) -> Iterator[str]:
        with self._rest.stream(api.environments.LOG, name=name, version=version, params={"follow": follow}) as response:
            yield from response.iter_text()

    def of_job(self, job_name: str) -> dict[str, Any]:
        """The environment recorded with a job: kind, name/version, hash, python and the exact package list."""
        return self._rest.call(api.environments.OF_JOB, name=job_name)


def environment_body(spec: EnvironmentLike, *, name: str | None = None, version: str | None = None) -> dict[str, Any]:
    """The REST body for a spec given as a YAML path, a dict or an ``EnvironmentSpec``."""
    if isinstance(spec, EnvironmentSpec):
        source, base_dir = YamlSource(spec.model_dump(by_alias=True, exclude_none=True)), Path.cwd()
    elif isinstance(spec, dict):
        source, base_dir = YamlSource(dict(spec)), Path.cwd()
    else:
        source, base_dir = read_yaml_file(spec), Path(spec).parent
    if isinstance(source.data, dict):
        source.data.update({k: v for k, v in (("name", name), ("version", version)) if v is not None})
    validated: EnvironmentSpec = validate_model(EnvironmentSpec, source)
    body = validated.model_dump(mode="json", by_alias=True, exclude_none=True)
    return inline_environment_files(body, base_dir, source, ())


def inline_environment_files(
    body: dict[str, Any], base_dir: Path, source: YamlSource | None, at: FieldPath
) -> dict[str, Any]:
    """Replace the ``conda_file`` / ``pip_requirements`` paths in ``body`` by the files' content."""
    result = dict(body)
    conda = result.get("conda_file")
    if isinstance(conda, str):
        loc = (*at, "conda_file")
        parsed = validate_model(CondaFile, read_yaml_file(_local_file(base_dir, conda, loc, source)))
        result["conda_file"] = parsed.model_dump(mode="json", exclude_none=True)
    requirements = result.get("pip_requirements")
    if isinstance(requirements, str):
        path = _local_file(base_dir, requirements, (*at, "pip_requirements"), source)
        result["pip_requirements"] = path.read_text().splitlines()
    build = result.get("build")
    if isinstance(build, dict) and build.get("dockerfile") is None:
        result["build"] = _inline_build(build, base_dir, source, (*at, "build"))
    return result


def _inline_build(build: dict[str, Any], base_dir: Path, source: YamlSource | None, at: FieldPath) -> dict[str, Any]:
    """The Dockerfile and the requirement files it installs (those the context has), read from the context."""
    where = f"{source.where((*at, 'path'))}: " if source else ""
    folder = str(build.get("path", ""))
    if "://" in folder or folder.startswith("git@"):
        raise InvalidSpec(
            f"{where}{format_loc((*at, 'path'))}: '{folder}': kiln reads a build context from a local folder only; "
            "download it and give its path"
        )
    context = base_dir / folder
    if not context.is_dir():
        raise InvalidSpec(
            f"{where}{format_loc((*at, 'path'))}: folder '{folder}' not found (looked for {context.resolve()})"
        )
    dockerfile = _local_file(
        context, str(build.get("dockerfile_path") or "Dockerfile"), (*at, "dockerfile_path"), source
    )
    from kiln.environments.dockerfile import read_dockerfile  # its parser is built for a build context only

    text = dockerfile.read_text()
    files: dict[str, str] = {}
    for name in read_dockerfile(text).context_files():
        path = context / name
        if path.is_file() and path.stat().st_size <= MAX_CONTEXT_FILE:
            files[name] = path.read_text()
    return {**build, "dockerfile": text, "files": files}


def _local_file(base_dir: Path, value: str, loc: FieldPath, source: YamlSource | None) -> Path:
    path = base_dir / value
    if not path.is_file():
        where = f"{source.where(loc)}: " if source else ""
        raise InvalidSpec(f"{where}{format_loc(loc)}: file '{value}' not found (looked for {path.resolve()})")
    return path
