"""MLflow's model registry, as the workspace uses it (on loopback, without the proxy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.errors import NotFound

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.tracking import MlflowClient

ARCHIVED_TAG = "kiln.archived"
TYPE_TAG = "kiln.type"
CREATED_BY_TAG = "kiln.created_by"  # who registered the version (kept by kiln, set through /mlflow too)


class ModelRegistry:
    def __init__(self, tracking_uri: str) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(tracking_uri)  # the fluent register_model uses it; the server is its only user
        mlflow.set_registry_uri(tracking_uri)
        self._client: MlflowClient = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @property
    def client(self) -> MlflowClient:
        return self._client

    def register(self, name: str, source: str, tags: dict[str, str], description: str | None) -> ModelVersion:
        """A new version of ``name`` (created on first use) from ``runs:/…`` or an artifact URI."""
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
            raise
        if description:
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
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_registered_model(name)
        except MlflowException as exc:
            raise NotFound(f"model '{name}' not found (kiln model list shows the models there are)") from exc

    def models(self) -> list[RegisteredModel]:
        return list(self._client.search_registered_models(max_results=1000))

    def versions(self, name: str) -> list[ModelVersion]:
        self.model(name)
        found = self._client.search_model_versions(f"name = '{_quote(name)}'", max_results=10_000)
        return sorted(found, key=lambda v: int(v.version))

    def version(self, name: str, version: str) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_model_version(name, version)
        except MlflowException as exc:
            existing = ", ".join(v.version for v in self.versions(name)) or "none"
            raise NotFound(f"model '{name}' has no version '{version}' (versions: {existing})") from exc

    def by_alias(self, name: str, alias: str) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            aliases = ", ".join(sorted(self.model(name).aliases)) or "none"
            raise NotFound(f"model '{name}' has no alias '{alias}' (aliases: {aliases})") from exc

    def set_tags(self, name: str, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self._client.set_model_version_tag(name, version, key, str(value))

    def delete_tag(self, name: str, version: str, key: str) -> None:
        self._client.delete_model_version_tag(name, version, key)


def _quote(name: str) -> str:
    return name.replace("'", "\\'")
