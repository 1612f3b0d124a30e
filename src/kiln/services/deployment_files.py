"""The files a deployment serves, pinned and put on local disk once: a registered model version
(downloaded from MLflow's registry), an uploaded model folder, and the scoring code.

Folders are named by model version or content hash, so replicas of every generation can
share them and a restarted server finds them again.

Azure's model folder layout: ``AZUREML_MODEL_DIR`` is the folder that CONTAINS what the model was
registered from, under its own name: a model registered from the file ``model.pkl`` is
``$AZUREML_MODEL_DIR/model.pkl``; one registered from the folder ``model/`` (an MLflow model too) is
``$AZUREML_MODEL_DIR/model/…``. kiln's ``KILN_MODEL_DIR`` is the model's files themselves (the file, or the
folder's contents). ``_azureml_layout`` makes the former beside the latter, with hard links, not copies."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from kiln.artifacts.store import ArtifactStore
from kiln.errors import InvalidSpec
from kiln.services.environments import EnvironmentService
from kiln.services.models import SOURCE_FOLDER_TAG, ModelService, upload_folder_name
from kiln.services.uploads import UploadService
from kiln.specs.endpoint import InlineModel, OnlineDeploymentSpec
from kiln.specs.model import ModelSpec
from kiln.specs.references import is_asset_reference, parse_asset_reference
from kiln.tracking.mlflow_secret import send_with_mlflow_client


class DeploymentFiles:
    def __init__(
        self,
        models: ModelService,
        uploads: UploadService,
        store: ArtifactStore,
        root: Path,
        environments: EnvironmentService,
    ) -> None:
        self._models = models
        self._environments = environments
        self._uploads = uploads
        self._store = store
        self._root = root  # KILN_HOME/endpoints/files

    def pin(self, spec: OnlineDeploymentSpec, created_by: str | None = None) -> dict[str, Any]:
        """Resolve the model (and code) to exact versions on local disk; what the replica row records.
        An inline model with a name is registered (or resolved) first, as Azure does."""
        pinned = self._pin_model(spec, created_by)
        if spec.code_configuration is not None:
            key, digest = self._uploads.resolve(spec.code_configuration.code, "code_configuration.code")
            code_dir = self._materialize(f"code/{digest}", lambda dest: self._store.get(key, dest))
            if not (code_dir / spec.code_configuration.scoring_script).is_file():
                raise InvalidSpec(
                    f"code_configuration.scoring_script: '{spec.code_configuration.scoring_script}' is not a file "
                    "in code_configuration.code"
                )
            pinned["code_dir"] = str(code_dir)
        elif pinned["type"] != "mlflow_model":
            raise InvalidSpec(
                "code_configuration: a custom_model needs a scoring script (code + scoring_script with init() and run()); "
                "only MLflow models deploy without code"
            )
        if spec.environment is not None:
            pinned["environment"] = self._pin_environment(spec.environment)
        return pinned

    def _pin_environment(self, environment: Any) -> dict[str, Any]:
        """Replicas run the environment's Python with kiln's serving stack from the server's
        installation behind the environment's own packages, so the Python must be the server's."""
        pin = self._environments.pin_environment(environment)
        wanted = ".".join(str(pin.python or "").split(".")[:2])
        server = f"{sys.version_info.major}.{sys.version_info.minor}"
        if wanted != server:
            raise InvalidSpec(
                f"environment: a deployment's environment must use the workspace server's Python {server} "
                f"(kiln's serving stack is shared with it), not {wanted or 'an unknown version'}"
            )
        return pin.record()

    def _pin_model(self, spec: OnlineDeploymentSpec, created_by: str | None) -> dict[str, Any]:
        path = spec.model_path
        model = spec.model
        if isinstance(model, InlineModel) and model.name is not None:
            registered = self._models.ensure(
                ModelSpec(
                    name=model.name, version=model.version, type=model.type, path=model.path,
                    description=model.description, tags=model.tags,
                ),
                created_by,
            )  # fmt: skip
            path = f"azureml:{registered.name}:{registered.version}"
        if is_asset_reference(path):
            version = self._models.resolve(parse_asset_reference(path, "model"))
            view = self._models.version_view(version)
            model_dir = self._materialize(
                f"models/{view.name}/{view.version}", lambda dest: download_model_version(view.name, view.version, dest)
            )
            folder = version.tags.get(SOURCE_FOLDER_TAG)
            return {
                "source": "registered",
                "name": view.name,
                "version": view.version,
                "type": view.type,
                "model_dir": str(model_dir),
                "azureml_model_dir": str(self._azureml_layout(f"models/{view.name}/{view.version}", model_dir, folder)),
            }
        key, digest = self._uploads.resolve(path, "model")
        model_dir = self._materialize(f"uploads/{digest}", lambda dest: self._store.get(key, dest))
        folder = upload_folder_name(path)  # the file's name, or the folder's when the client sent it
        model_type = (
            spec.model.type
            if not isinstance(spec.model, str)
            else ("mlflow_model" if (model_dir / "MLmodel").is_file() else "custom_model")
        )
        name = spec.model.name if not isinstance(spec.model, str) and spec.model.name else spec.name
        return {
            "source": "upload",
            "name": name,
            "version": "1",
            "type": model_type,
            "content_hash": digest,
            "model_dir": str(model_dir),
            "azureml_model_dir": str(self._azureml_layout(f"uploads/{digest}", model_dir, folder)),
        }

    def _azureml_layout(self, relative: str, model_dir: Path, folder: str | None) -> Path:
        """The folder to give as ``AZUREML_MODEL_DIR``: one holding the model under the name it was registered
        from. A file model downloaded from the registry already sits in such a folder; a file upload is the
        file itself; a folder model gets a folder with a link named after it. A folder whose name is not
        known (uploaded by a REST client as bare contents, or registered before kiln kept the name) is
        given as it is."""
        if model_dir.is_file():
            name = folder or model_dir.name
            return self._materialize(f"azureml/{relative}", lambda dest: _link(dest, name, model_dir))
        if folder is None:
            return model_dir
        return self._materialize(f"azureml/{relative}", lambda dest: _link(dest, folder, model_dir))

    def _materialize(self, relative: str, fill: Any) -> Path:
        """``fill(dest)`` into a scratch folder, then move it in place: a half-written folder is never used."""
        final = self._root / relative
        if final.is_dir():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=".partial-"))
        try:
            fill(scratch / "content")
            try:
                (scratch / "content").rename(final)
            except OSError:
                if not final.is_dir():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return final


def _link(dest: Path, name: str, target: Path) -> None:
    """``dest/name`` holds ``target``'s files as hard links (a copy across file systems): not a symbolic
    link, which MLflow refuses to load through ("resolved path is outside the artifact directory")."""
    dest.mkdir(parents=True)
    if target.is_dir():
        shutil.copytree(target, dest / name, copy_function=_link_or_copy, symlinks=True)
    else:
        _link_or_copy(str(target), str(dest / name))


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def download_model_version(name: str, version: str, dest: Path) -> None:
    """A registered version's files from MLflow's registry into ``dest`` (which must not exist yet)."""
    send_with_mlflow_client()  # MLflow imported once, under its lock; the fluent API's calls carry the secret
    import mlflow

    dest.parent.mkdir(parents=True, exist_ok=True)
    local = Path(
        mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(dest.parent / "download"))
    )
    local.rename(dest)
