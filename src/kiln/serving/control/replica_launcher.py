"""Starting one scoring replica: write its ReplicaConfig, start ``python -m kiln.serving.replica``.

Replicas run in their own session and do not die with the server, so a server that crashed
re-adopts them (pid + create time) instead of restarting them; a server that stops on
purpose stops them first. Each replica gets a secret of its own (``kiln.internal_secret``) in its
config file, which only the server's OS user can read (0600): the gateway sends it with every
request, and a server that re-adopts the replica reads it back from there (``read_secret``)."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from pydantic import ValidationError

from kiln.environments.resolver import EnvironmentResolver
from kiln.internal_secret import new_secret
from kiln.processes import child_environment, free_port
from kiln.runners.local.processes import ProcessHandle
from kiln.specs.endpoint import OnlineDeploymentSpec
from kiln.specs.pins import ServerInterpreterPin, environment_pin
from kiln.specs.replica import ReplicaConfig
from kiln.store.tables import OnlineDeploymentRow


@dataclass
class LaunchedReplica:
    port: int
    secret: str
    handle: ProcessHandle
    log: Path


# Run the replica module with the environment's interpreter; the server's site-packages (and
# kiln itself) are added after the environment's own, so the environment's packages win.
_OVERLAY = (
    "import runpy, site, sys; [site.addsitedir(p) for p in sys.argv[1].split('\\n')]; "
    "sys.argv = [sys.argv[0], *sys.argv[2:]]; runpy.run_module('kiln.serving.replica', run_name='__main__')"
)


def _server_paths() -> str:
    import kiln

    paths = [str(Path(kiln.__file__).resolve().parent.parent), *site.getsitepackages()]
    return "\n".join(dict.fromkeys(paths))


class ReplicaLauncher:
    def __init__(self, root: Path, environments: EnvironmentResolver | None = None) -> None:
        self.root = root  # KILN_HOME/endpoints/replicas
        self._environments = environments

    def folder(self, endpoint: str, deployment: str) -> Path:
        return self.root / endpoint / deployment

    def launch(self, row: OnlineDeploymentRow, spec: OnlineDeploymentSpec, index: int) -> LaunchedReplica:
        folder = self.folder(row.endpoint, row.name)
        folder.mkdir(parents=True, exist_ok=True)
        port, secret = free_port(), new_secret()
        pinned = row.model
        config = ReplicaConfig(
            endpoint=row.endpoint, deployment=row.name, replica_index=index, port=port, secret=secret,
            model_name=str(pinned.get("name") or row.name), model_version=str(pinned.get("version") or "1"),
            model_dir=Path(pinned["model_dir"]) if pinned.get("model_dir") else None,
            azureml_model_dir=Path(pinned["azureml_model_dir"]) if pinned.get("azureml_model_dir") else None,
            code_dir=Path(pinned["code_dir"]) if pinned.get("code_dir") else None,
            scoring_script=spec.code_configuration.scoring_script if spec.code_configuration else None,
            environment_variables=spec.environment_variables,
            request_timeout_ms=spec.request_settings.request_timeout_ms,
            max_concurrent_requests=spec.request_settings.max_concurrent_requests_per_instance,
            batching=spec.batching, runtime=spec.runtime, onnx=spec.onnx, encryption=spec.encryption,
        )  # fmt: skip
        stem = f"replica-{index}-g{row.generation}"
        log = folder / f"{stem}.log"
        config_file = config_file_of(log)
        _write_private(config_file, config.model_dump_json(indent=2))
        env = child_environment({**spec.environment_variables, "PYTHONUNBUFFERED": "1"})
        with open(os.devnull, "rb") as devnull, log.open("ab") as output:
            popen = subprocess.Popen(
                self._command(row, config_file, log),
                cwd=folder, env=env, stdin=devnull, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = time.time()
        return LaunchedReplica(port, secret, ProcessHandle(popen.pid, create_time, popen), log)

    def _command(self, row: OnlineDeploymentRow, config_file: Path, log: Path) -> list[str]:
        pinned = environment_pin(row.model["environment"]) if row.model.get("environment") else None
        if pinned is None or self._environments is None or isinstance(pinned, ServerInterpreterPin):
            return [sys.executable, "-m", "kiln.serving.replica", str(config_file)]
        prepared = self._environments.prepare(pinned, log)  # built once, then a cache hit
        return [str(prepared.bin_dir / "python"), "-c", _OVERLAY, _server_paths(), str(config_file)]


def config_file_of(log: Path) -> Path:
    """A replica's config file, beside its log (``replica-I-gG.log`` → ``replica-I-gG.json``)."""
    return log.with_suffix(".json")


def read_secret(log: Path) -> str | None:
    """The secret of the replica whose log is ``log``, from its config file; None if it cannot be read."""
    try:
        return ReplicaConfig.model_validate_json(config_file_of(log).read_bytes()).secret
    except (OSError, ValidationError):
        return None


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by this OS user only, also when it exists already with other permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
