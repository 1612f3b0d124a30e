"""Workspace settings: defaults < ``KILN_HOME/config.yaml`` < ``KILN_*`` variables < flags.

Settings are built explicitly (``Settings.load``) and passed in; nothing reads them at
import time, so tests can run several workspaces side by side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kiln.config_file import CONFIG_FILE_NAME, default_home, read_config_file
from kiln.logs import DEFAULT_JOB_LOG_LIMIT_BYTES

__all__ = ["CONFIG_FILE_NAME", "Settings", "default_home"]


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads ``config.yaml`` from the home that the flags or the environment name."""

    def __init__(self, settings_cls: type[BaseSettings], init_kwargs: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = read_config_file(init_kwargs.get("home"))

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KILN_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Workspace folder (token, logs, SQLite files).")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite in the home folder. postgresql:// (or postgres://) uses "
        "psycopg 3; several servers, each with its own home, may share one PostgreSQL database.",
    )
    artifact_root: str | None = Field(
        None, description="fsspec URL of the artifact store (s3://bucket/prefix for teams); default a local folder."
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3 API endpoint of an s3:// artifact root; default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS. "
        "Credentials come only from the standard AWS variables and files.",
    )
    mlflow_backend_store_uri: str | None = Field(
        None,
        description="MLflow's own store; default SQLite in the home, or with a PostgreSQL database_url the "
        "database <name>_mlflow on the same server (created if missing).",
    )
    host: str = "127.0.0.1"
    port: int = Field(0, description="0 picks a free port; the chosen one is written to server.json.")
    local_concurrency: int = Field(0, description="Jobs run at once on local compute; 0 means one per core.")
    job_cancel_grace_seconds: float = 5.0
    job_log_limit_bytes: int = Field(
        DEFAULT_JOB_LOG_LIMIT_BYTES,
        ge=1024,
        description="A job's log stops there, with a note at the cut (what the job writes after is not kept).",
    )
    gpus: str | None = Field(
        None,
        description="GPU ids local compute hands out to jobs (CUDA_VISIBLE_DEVICES names: '0,1'); '' for none; "
        "unset: those nvidia-smi lists.",
    )
    job_sandbox: str = Field(
        "bwrap",
        description="The bubblewrap program local jobs run in (a name on PATH or a path). Where it is missing or "
        "cannot make a sandbox here, jobs run without isolation and say so in their log and view.",
    )
    job_sandbox_uid: int = Field(
        65534, description="The unprivileged uid (and gid) sandboxed jobs run as when the server runs as root."
    )
    allow_unisolated_jobs: bool = Field(
        False,
        description="Let a team server (users exist, or a PostgreSQL database) start although jobs cannot be "
        "sandboxed on this machine; a job could then read the workspace's token, keys and databases.",
    )

    unknown_azureml_compute: Literal["local", "refuse"] | None = Field(
        None,
        description="What a job naming 'compute: azureml:NAME' gets when no compute target NAME is registered: "
        "local runs it on local compute with a notice in its log; refuse answers with the 'kiln compute create "
        "--name NAME --type local' line that makes the name work. Default: local in an embedded (single-user) "
        "workspace (SQLite, listening on loopback only), refuse on a team server.",
    )

    local_datastore_roots: str = Field(
        "",
        description="Folders on the server's machine that 'local' datastores may point into, comma-separated "
        "(config.yaml may list them); empty: local datastores are refused. Never inside the home.",
    )
    remote_private_hosts: str = Field(
        "",
        description="HOST:PORT entries on loopback or private networks that remote data (https URLs, S3 "
        "endpoints) may reach, comma-separated; every other loopback, private or link-local address is refused.",
    )

    plugins: str = Field(
        "",
        description="Capability plug-ins to load beside the built-in ones: Python modules, comma-separated "
        "(config.yaml may list them), each exposing CAPABILITY (a kiln.capabilities.Capability).",
    )
    privacy_engine_python: str = Field(
        "",
        description="The Python of kiln privacy's engine (SmartNoise SQL, OpenDP in an environment of their own); "
        "empty: .venv-privacy/bin/python beside kiln's environment (what scripts/install.sh privacy makes).",
    )

    @field_validator(
        "gpus", "plugins", "local_datastore_roots", "remote_private_hosts", mode="before",
        json_schema_input_type=str | int | list[str | int] | None,
    )  # fmt: skip
    @classmethod
    def _list_as_text(cls, value: Any) -> Any:
        """config.yaml may list the values (``gpus: [0, 1]``); the environment gives ``KILN_GPUS=0,1``."""
        if isinstance(value, list | tuple):
            return ",".join(str(item) for item in value)
        if isinstance(value, int):
            return str(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs = init_settings() if callable(init_settings) else {}
        return (init_settings, env_settings, _ConfigFileSource(settings_cls, init_kwargs))

    @classmethod
    def load(cls, **flags: Any) -> Settings:
        """Build settings from flags given on the command line (``None`` means not given)."""
        return cls(**{k: v for k, v in flags.items() if v is not None})

    # Derived locations -------------------------------------------------------------
    @property
    def plugin_modules(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.plugins.split(",") if name.strip())

    @property
    def local_datastore_folders(self) -> tuple[Path, ...]:
        return tuple(Path(name.strip()) for name in self.local_datastore_roots.split(",") if name.strip())

    @property
    def remote_private_host_ports(self) -> frozenset[str]:
        return frozenset(name.strip().lower() for name in self.remote_private_hosts.split(",") if name.strip())

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_home / 'kiln.db'}"

    @property
    def resolved_artifact_root(self) -> str:
        return self.artifact_root or str(self.resolved_home / "artifacts")

    @property
    def resolved_mlflow_store_uri(self) -> str:
        return self.mlflow_backend_store_uri or f"sqlite:///{self.resolved_home / 'mlflow' / 'mlflow.db'}"

    @property
    def is_embedded(self) -> bool:
        """A single user's workspace: its own SQLite database, reachable from this machine only."""
        loopback = self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
        return loopback and self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_unknown_azureml_compute(self) -> Literal["local", "refuse"]:
        if self.unknown_azureml_compute is not None:
            return self.unknown_azureml_compute
        return "local" if self.is_embedded else "refuse"

    @property
    def resolved_local_concurrency(self) -> int:
        return self.local_concurrency or (os.cpu_count() or 1)

    @property
    def token_file(self) -> Path:
        return self.resolved_home / "token"

    @property
    def server_info_file(self) -> Path:
        return self.resolved_home / "server.json"

    @property
    def server_log_file(self) -> Path:
        return self.resolved_home / "server.log"

    @property
    def jobs_dir(self) -> Path:
        """Where the local runner keeps each job's working folder and log."""
        return self.resolved_home / "jobs"
