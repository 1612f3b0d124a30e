"""The packaging capability's service: a model version or a deployment out as files, made on the server.

It reads files only (MLmodel, requirements, the ONNX graph's protobuf, the deployment's pinned folders) and
never loads a model: loading runs user code, which the workspace server never does. Each call makes the
files in a scratch folder under the capability's own folder and answers them as a gzip tar.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kiln.capabilities.services import CapabilityContext
from kiln.errors import InvalidSpec
from kiln.packaging.archive import gzip_tar
from kiln.packaging.docker import ServedModel, write_docker_context
from kiln.packaging.kubernetes import Autoscale, manifests, object_name, write_manifests
from kiln.packaging.triton import TritonOptions, onnx_file_of, write_triton_repository
from kiln.services.deployment_files import download_model_version

ModelPackage = Literal["docker"]
ModelExport = Literal["triton"]
DeploymentPackage = Literal["docker", "kubernetes"]


@dataclass(frozen=True)
class Package:
    file_name: str  # what the download is called
    chunks: Iterator[bytes]


class PackagingService:
    def __init__(self, context: CapabilityContext) -> None:
        self._models = context.models
        self._endpoints = context.endpoints
        self._scratch = context.folder / "scratch"
        self._wheels = context.folder / "wheels"
        self._scratch.mkdir(parents=True, exist_ok=True)

    def package_model(self, name: str, version: str, to: ModelPackage) -> Package:
        """A Docker build context serving the version (an MLflow model: it deploys without code)."""
        view = self._models.get_version(name, version)
        if view.type != "mlflow_model":
            raise InvalidSpec(
                f"model {view.name}:{view.version} is a {view.type}, which serves only with a scoring script: "
                "deploy it with one, then package the deployment (kiln online-deployment package)"
            )
        folder = self._folder()
        try:
            model_dir = self._download(view.name, view.version, folder)
            served = ServedModel(
                endpoint=view.name, deployment="default", model_name=view.name, model_version=view.version,
                model_dir=model_dir,
            )  # fmt: skip
            write_docker_context(folder / "context", served, self._wheels)
        except BaseException:
            _remove(folder)
            raise
        return self._answer(folder, "context", f"{view.name}-{view.version}-{to}.tar.gz")

    def export_model(self, name: str, version: str, to: ModelExport, options: TritonOptions) -> Package:
        """A Triton model repository of an ONNX version (``NAME/config.pbtxt``, ``NAME/1/model.onnx``)."""
        view = self._models.get_version(name, version)
        folder = self._folder()
        try:
            model_dir = self._download(view.name, view.version, folder)
            onnx_file = onnx_file_of(model_dir, f"{view.name}:{view.version}")
            write_triton_repository(folder / "repository", view.name, onnx_file, options)
        except BaseException:
            _remove(folder)
            raise
        return self._answer(folder, "repository", f"{view.name}-{view.version}-{to}.tar.gz")

    def package_deployment(
        self, endpoint: str, deployment: str, to: DeploymentPackage, image: str | None, autoscale: Autoscale | None
    ) -> Package:
        spec, pinned = self._endpoints.pinned_deployment(endpoint, deployment)
        key_hashes = self._endpoints.key_hashes(endpoint)
        name = object_name(endpoint, deployment)
        folder = self._folder()
        try:
            if to == "kubernetes":
                tag = f"{name}:{pinned.get('version') or '1'}"
                write_manifests(folder / "out", manifests(spec, key_hashes, image or tag, autoscale))
            else:
                environment = pinned.get("environment") or {}
                served = ServedModel(
                    endpoint=endpoint, deployment=deployment, model_name=str(pinned.get("name") or deployment),
                    model_version=str(pinned.get("version") or "1"), model_dir=Path(pinned["model_dir"]),
                    azureml_model_dir=Path(pinned["azureml_model_dir"]) if pinned.get("azureml_model_dir") else None,
                    code_dir=Path(pinned["code_dir"]) if pinned.get("code_dir") else None,
                    scoring_script=spec.code_configuration.scoring_script if spec.code_configuration else None,
                    environment_variables=dict(spec.environment_variables),
                    request_timeout_ms=spec.request_settings.request_timeout_ms,
                    max_concurrent_requests=spec.request_settings.max_concurrent_requests_per_instance,
                    batching=spec.batching, environment_requirements=tuple(environment.get("requirements") or ()),
                    key_hashes=key_hashes, readiness=spec.readiness_probe,
                )  # fmt: skip
                write_docker_context(folder / "out", served, self._wheels)
        except BaseException:
            _remove(folder)
            raise
        return self._answer(folder, "out", f"{name}-{to}.tar.gz")

    def _folder(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self._scratch, prefix="package-"))

    def _download(self, name: str, version: str, folder: Path) -> Path:
        model_dir = folder / "model"
        download_model_version(name, version, model_dir)
        return model_dir

    def _answer(self, folder: Path, made: str, file_name: str) -> Package:
        try:
            chunks = gzip_tar(folder / made)
        finally:
            _remove(folder)
        return Package(file_name, chunks)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
