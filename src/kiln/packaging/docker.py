"""A Docker build context that serves one model the way kiln's local endpoints do.

The context holds:

- ``Dockerfile``: a slim Python base of the server's version, a non-root user, the pinned requirements,
  kiln from its wheel (``--no-deps``), the model files, a ``HEALTHCHECK`` on the replica's readiness
  route, and as ``ENTRYPOINT`` the replica command local endpoints run: ``python -m kiln.serving.replica
  replica.json`` (``kiln.serving.control.replica_launcher``), run in ``/app`` where every path in the
  config is relative, so the same command serves from the context folder outside a container too;
- ``requirements.txt`` (``requirements.py``), ``wheels/kiln-….whl`` (``wheel.py``);
- ``model/`` (and ``code/`` for a scoring script), ``replica.json`` (a ``ReplicaConfig`` in standalone
  mode: callers send an endpoint key, checked against key hashes, never the keys);
- for a deployment, ``endpoint-key-hashes.txt``: the SHA-256 of the endpoint's two keys.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

from kiln.artifacts.references import regular_files
from kiln.errors import InvalidSpec
from kiln.packaging import requirements as pins
from kiln.packaging.wheel import kiln_version, kiln_wheel
from kiln.specs.endpoint import ProbeSettings
from kiln.specs.replica import KEY_HASHES_VARIABLE, BatchingSettings, EndpointKeyAuth, ReplicaConfig

PORT = 8080
USER_ID = 10001
CONFIG_FILE = "replica.json"
KEY_HASHES_FILE = "endpoint-key-hashes.txt"
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
ENTRYPOINT = ("python", "-m", "kiln.serving.replica", CONFIG_FILE)


@dataclass(frozen=True)
class ServedModel:
    """What a build context serves: files on the server's disk, and how the replica runs them."""

    endpoint: str
    deployment: str
    model_name: str
    model_version: str
    model_dir: Path
    azureml_model_dir: Path | None = None
    code_dir: Path | None = None
    scoring_script: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    request_timeout_ms: int = 5000
    max_concurrent_requests: int = 64
    batching: BatchingSettings = field(default_factory=BatchingSettings)
    environment_requirements: tuple[str, ...] = ()  # a deployment environment's package list
    key_hashes: tuple[str, ...] = ()  # a deployment's endpoint keys' hashes; none: given at `docker run`
    readiness: ProbeSettings = field(default_factory=ProbeSettings)


def write_docker_context(dest: Path, served: ServedModel, wheel_cache: Path) -> None:
    """Write the build context into the empty folder ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    model_dir, azureml_dir = _copy_model(served, dest)
    code_dir = None
    if served.code_dir is not None:
        _copy_tree(served.code_dir, dest / "code")
        code_dir = Path("code")
    auth = EndpointKeyAuth(hashes_file=Path(KEY_HASHES_FILE) if served.key_hashes else None)
    if served.key_hashes:
        (dest / KEY_HASHES_FILE).write_text("\n".join(served.key_hashes) + "\n")
    config = ReplicaConfig(
        endpoint=served.endpoint, deployment=served.deployment, host="0.0.0.0", port=PORT,
        endpoint_keys=auth, model_name=served.model_name, model_version=served.model_version,
        model_dir=model_dir, azureml_model_dir=azureml_dir, code_dir=code_dir, scoring_script=served.scoring_script,
        environment_variables=served.environment_variables, request_timeout_ms=served.request_timeout_ms,
        max_concurrent_requests=served.max_concurrent_requests, batching=served.batching,
    )  # fmt: skip
    (dest / CONFIG_FILE).write_text(config.model_dump_json(indent=2, exclude_none=True) + "\n")
    (dest / "requirements.txt").write_text(requirements_text(served))
    wheel = kiln_wheel(wheel_cache)
    (dest / "wheels").mkdir()
    shutil.copyfile(wheel, dest / "wheels" / wheel.name)
    (dest / "Dockerfile").write_text(dockerfile(served, wheel.name))
    (dest / ".dockerignore").write_text("Dockerfile\n.dockerignore\nREADME.md\n")
    (dest / "README.md").write_text(_readme(served))


def requirements_text(served: ServedModel) -> str:
    model_requirements: list[Requirement] = []
    model_file = served.model_dir / "requirements.txt" if served.model_dir.is_dir() else None
    if model_file is not None and model_file.is_file():
        model_requirements += pins.model_requirement_lines(model_file.read_text(), "the model's requirements.txt")
    if served.environment_requirements:
        text = "\n".join(served.environment_requirements)
        model_requirements += pins.model_requirement_lines(text, "the deployment environment's requirements")
    pinned = pins.pin(model_requirements, pins.serving_stack())
    header = (
        f"Pinned by kiln {kiln_version()} for {served.model_name} version {served.model_version}: the model's "
        "requirements, then kiln's serving stack\nat the versions installed beside the workspace server. kiln "
        "itself installs from wheels/ with --no-deps."
    )
    return pinned.text(header)


def dockerfile(served: ServedModel, wheel_name: str) -> str:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    probe = served.readiness
    healthcheck = (
        f"import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}{READY_PATH}', "
        f"timeout={probe.timeout}); sys.exit(0)"
    )
    copies = ["COPY model/ model/"]
    if served.code_dir is not None:
        copies.append("COPY code/ code/")
    if served.key_hashes:
        copies.append(f"COPY {KEY_HASHES_FILE} ./")
    lines = [
        f"# A kiln scoring replica for {_one_line(served.model_name)} version {_one_line(served.model_version)}, "
        f"made by kiln {kiln_version()}.",
        "# Build: docker build -t IMAGE .   Run: see README.md (callers send an endpoint key; the container holds",
        "# only the keys' SHA-256 hashes).",
        f"FROM python:{python}-slim",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"RUN useradd --create-home --uid {USER_ID} --shell /usr/sbin/nologin kiln",
        "WORKDIR /app",
        "COPY requirements.txt ./",
        "RUN pip install --no-cache-dir -r requirements.txt",
        f"COPY wheels/{wheel_name} wheels/",
        f"RUN pip install --no-cache-dir --no-deps wheels/{wheel_name}",
        *copies,
        f"COPY {CONFIG_FILE} ./",
        f"USER {USER_ID}",
        f"EXPOSE {PORT}",
        f"HEALTHCHECK --interval={probe.period}s --timeout={probe.timeout + 1}s "
        f"--start-period={probe.initial_delay}s --retries={probe.failure_threshold} "
        f"CMD {json.dumps(['python', '-c', healthcheck])}",
        f"ENTRYPOINT {json.dumps(list(ENTRYPOINT))}",
    ]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """``text`` fit for a Dockerfile comment: a name registered through MLflow's own API may hold a line break,
    which would start an instruction of its own."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _copy_model(served: ServedModel, dest: Path) -> tuple[Path, Path | None]:
    """The model's files under ``model/``; with Azure's layout (a folder holding the model under its registered
    name) when the deployment has one, so ``AZUREML_MODEL_DIR`` scripts find it as they do locally."""
    azureml = served.azureml_model_dir
    if azureml is not None and azureml.is_dir() and azureml.resolve() != served.model_dir.resolve():
        entries = [entry.name for entry in azureml.iterdir()]
        if len(entries) == 1:
            _copy_tree(azureml, dest / "model")
            return Path("model") / entries[0], Path("model")
    if served.model_dir.is_file():
        (dest / "model").mkdir()
        shutil.copyfile(served.model_dir, dest / "model" / served.model_dir.name)
        return Path("model") / served.model_dir.name, Path("model")
    _copy_tree(served.model_dir, dest / "model")
    return Path("model"), None


def _copy_tree(source: Path, target: Path) -> None:
    """Copy the regular files only: a link (to the server's files, say) is never followed into a package."""
    if not source.exists():
        raise InvalidSpec(
            f"the files to package are missing from the server's disk ({source.name}); "
            "update the deployment (kiln online-deployment update) to pin them again"
        )
    files, _links = regular_files(source)
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        relative = path.relative_to(source) if source.is_dir() else Path(path.name)
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)


def _readme(served: ServedModel) -> str:
    keys = (
        f"The image holds the SHA-256 hashes of the endpoint's keys ({KEY_HASHES_FILE}); `-e {KEY_HASHES_VARIABLE}=...` "
        "replaces them (after a key is regenerated, say)."
        if served.key_hashes
        else f"Give the hashes of the keys callers will send: `-e {KEY_HASHES_VARIABLE}=$(printf %s \"$KEY\" | sha256sum | cut -d' ' -f1)` "
        "(comma-separated for several). The replica refuses to start without one."
    )
    return f"""# {served.model_name} version {served.model_version}: a kiln scoring replica

    docker build -t {served.model_name.lower()}:{served.model_version} .
    docker run -p {PORT}:{PORT} -e {KEY_HASHES_VARIABLE}=... {served.model_name.lower()}:{served.model_version}

{keys}

Score with `Authorization: Bearer KEY`: `POST /score` (Azure), `POST /invocations` (MLflow),
`POST /v2/models/{served.model_name}/infer` (Open Inference V2). `GET {LIVE_PATH}` and `GET {READY_PATH}`
answer without a key (the container's probes). The entrypoint is kiln's own replica command:
`{" ".join(ENTRYPOINT)}`, run in /app.
"""
