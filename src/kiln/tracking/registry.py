"""MLflow's model registry, as the workspace uses it (on loopback, without the proxy).

Every call goes through :func:`kiln.tracking.mlflow_errors.caller_errors`, so what MLflow refuses
reaches the caller as a 4xx naming what was asked; a version that is not a number MLflow can hold
is answered NotFound without asking MLflow (it would fail with a 500, and its client retry that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidSpec, NotFound
from kiln.tracking.mlflow_client import mlflow_client
from kiln.tracking.mlflow_errors import as_kiln_error, caller_errors, version_number
from kiln.tracking.mlflow_secret import send_with_mlflow_client

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.tracking import MlflowClient

ARCHIVED_TAG = "kiln.archived"
TYPE_TAG = "kiln.type"
CREATED_BY_TAG = "kiln.created_by"  # who registered the version (kept by kiln, set through /mlflow too)


class ModelRegistry:
    def __init__(self, tracking_uri: str, ready: Callable[[], None] | None = None) -> None:
        # each use waits for ready() first; made at first use, with the fluent API's URIs (register_model)
        self._client: MlflowClient = mlflow_client(tracking_uri, ready, registry=True)

    def register(self, name: str, source: str, tags: dict[str, str], description: str | None) -> ModelVersion:
        """A new version of ``name`` (created on first use) from ``runs:/…`` or an artifact URI."""
        send_with_mlflow_client()  # MLflow imported once, under its lock; the fluent API's calls carry the secret
        import mlflow
        from mlflow.exceptions import MlflowException

        existed = self._exists(name)
        try:
            version = mlflow.register_model(source, name, tags=tags)
        except MlflowException as exc:
            if not existed:  # MLflow made the model before it looked at the source: nothing is left behind
                self._delete_if_empty(name)
            # MLflow raises this one with INTERNAL_ERROR (its NOT_FOUND code is not one MlflowException keeps)
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "Unable to find a logged_model" in exc.message:
                raise NotFound(
                    f"{source} holds no model (no MLmodel file there, and no logged model of that name)"
                ) from None
            raise as_kiln_error(exc, f"path: registering {source!r} as model '{name}'") from exc
        if description:
            with caller_errors(f"description: of model '{name}' version {version.version}"):
                version = self._client.update_model_version(name, version.version, description=description)
        return version

    def _exists(self, name: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self._client.get_registered_model(name)
        except MlflowException:
            return False
        return True

    def _delete_if_empty(self, name: str) -> None:
        if not self._client.search_model_versions(f"name = '{_quote(name)}'", max_results=1):
            self._client.delete_registered_model(name)

    def register_run_files(
        self, name: str, run_id: str, artifact_path: str, tags: dict[str, str], description: str | None
    ) -> ModelVersion:
        """A new version whose files are the run's artifacts under ``artifact_path``."""
        from mlflow.exceptions import MlflowException

        with caller_errors(f"registering model '{name}'"):
            try:
                self._client.create_registered_model(name)
            except MlflowException as exc:
                if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                    raise
            artifact_uri = self._client.get_run(run_id).info.artifact_uri
            return self._client.create_model_version(
                name, f"{artifact_uri}/{artifact_path}", run_id=run_id, tags=tags, description=description
            )

    def model(self, name: str) -> RegisteredModel:
        try:
            with caller_errors(f"model '{name}'"):
                return self._client.get_registered_model(name)
        except (NotFound, InvalidSpec):  # a name MLflow refuses is no model's name either
            raise NotFound(f"model '{name}' not found (kiln model list shows the models there are)") from None

    def models(self) -> list[RegisteredModel]:
        with caller_errors("listing models"):
            return list(self._client.search_registered_models(max_results=1000))

    def all_versions(self) -> list[ModelVersion]:
        """Every version of every model, in pages of 10,000 (a listing's few calls, not three per model)."""
        found: list[ModelVersion] = []
        token: str | None = None
        with caller_errors("listing model versions"):
            while True:
                page = self._client.search_model_versions(max_results=10_000, page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    return found

    def versions(self, name: str) -> list[ModelVersion]:
        self.model(name)
        with caller_errors(f"versions of model '{name}'"):
            found = self._client.search_model_versions(f"name = '{_quote(name)}'", max_results=10_000)
        return sorted(found, key=lambda v: int(v.version))

    def version(self, name: str, version: str) -> ModelVersion:
        if version_number(version) is not None:
            try:
                with caller_errors(f"version '{version}' of model '{name}'"):
                    return self._client.get_model_version(name, version)
            except NotFound:
                pass
        existing = ", ".join(v.version for v in self.versions(name)) or "none"
        raise NotFound(f"model '{name}' has no version '{version}' (versions: {existing})")

    def by_alias(self, name: str, alias: str) -> ModelVersion:
        try:
            with caller_errors(f"alias '{alias}' of model '{name}'"):
                return self._client.get_model_version_by_alias(name, alias)
        except (NotFound, InvalidSpec):  # a name MLflow refuses as an alias is no alias of the model either
            pass
        aliases = ", ".join(sorted(self.model(name).aliases)) or "none"
        raise NotFound(f"model '{name}' has no alias '{alias}' (aliases: {aliases})")

    def set_tags(self, name: str, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            with caller_errors(f"tags: tag {key!r} of model '{name}' version {version}"):
                self._client.set_model_version_tag(name, version, key, str(value))

    def delete_tag(self, name: str, version: str, key: str) -> None:
        with caller_errors(f"tag {key!r} of model '{name}' version {version}"):
            self._client.delete_model_version_tag(name, version, key)

    def set_model_tags(self, name: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            with caller_errors(f"tags: tag {key!r} of model '{name}'"):
                self._client.set_registered_model_tag(name, key, value)

    def describe_model(self, name: str, description: str) -> None:
        with caller_errors(f"description: of model '{name}'"):
            self._client.update_registered_model(name, description=description)

    def describe_version(self, name: str, version: str, description: str) -> None:
        with caller_errors(f"description: of model '{name}' version {version}"):
            self._client.update_model_version(name, version, description=description)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        with caller_errors(f"alias '{alias}' of model '{name}'"):
            self._client.set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        with caller_errors(f"alias '{alias}' of model '{name}'"):
            self._client.delete_registered_model_alias(name, alias)


def _quote(name: str) -> str:
    return name.replace("'", "\\'")
