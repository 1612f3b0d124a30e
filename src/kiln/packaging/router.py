"""The packaging capability's routes: thin, each one call of ``PackagingService`` answered as a download."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from kiln.packaging import api
from kiln.packaging.kubernetes import Autoscale
from kiln.packaging.service import Package, PackagingService
from kiln.packaging.triton import DEFAULT_MAX_BATCH_SIZE, TritonOptions
from kiln.server.capabilities import capability_service
from kiln.server.routes import bind

Service = Annotated[PackagingService, Depends(capability_service("packaging"))]
IMAGE = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"  # an image reference: registry/name:tag or @digest


def packaging_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.PACKAGE_MODEL)
    def package_model(service: Service, name: str, version: str, to: Literal["docker"] = "docker") -> StreamingResponse:
        return _download(service.package_model(name, version, to))

    @bind(router, api.EXPORT_MODEL)
    def export_model(
        service: Service,
        name: str,
        version: str,
        to: Literal["triton"] = "triton",
        max_batch_size: int = Query(DEFAULT_MAX_BATCH_SIZE, ge=0, le=1 << 16),
        instance_kind: Literal["gpu", "cpu"] = "gpu",
        instance_count: int = Query(1, ge=1, le=64),
    ) -> StreamingResponse:
        options = TritonOptions(
            max_batch_size=max_batch_size, instance_kind=instance_kind, instance_count=instance_count
        )
        return _download(service.export_model(name, version, to, options))

    @bind(router, api.PACKAGE_DEPLOYMENT)
    def package_deployment(
        service: Service,
        name: str,
        deployment: str,
        to: Literal["docker", "kubernetes"] = "docker",
        image: str | None = Query(None, pattern=IMAGE),
        autoscale: str | None = Query(None, max_length=32),
    ) -> StreamingResponse:
        scaling = Autoscale.parse(autoscale) if autoscale is not None else None
        return _download(service.package_deployment(name, deployment, to, image, scaling))

    return router


def _download(package: Package) -> StreamingResponse:
    headers = {"content-disposition": f'attachment; filename="{package.file_name}"'}
    return StreamingResponse(package.chunks, media_type=api.GZIP_TAR, headers=headers)
