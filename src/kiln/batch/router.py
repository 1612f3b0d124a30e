"""REST for the batch capability (``kiln.batch.api``): thin, the service does the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from kiln.batch import api
from kiln.batch.service import BatchService
from kiln.batch.spec import (
    BatchDeploymentSpec,
    BatchDeploymentView,
    BatchEndpointSpec,
    BatchEndpointView,
    BatchInvokeRequest,
)
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.views import JobView

Service = Annotated[BatchService, Depends(capability_service("batch"))]


def batch_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.CREATE)
    def create(body: BatchEndpointSpec, service: Service, principal: Caller) -> BatchEndpointView:
        return service.create_endpoint(body, created_by=principal.name)

    @bind(router, api.LIST)
    def list_endpoints(service: Service) -> list[BatchEndpointView]:
        return service.list_endpoints()

    @bind(router, api.SHOW)
    def show(name: str, service: Service) -> BatchEndpointView:
        return service.get_endpoint(name)

    @bind(router, api.DELETE)
    def delete(name: str, service: Service) -> None:
        service.delete_endpoint(name)

    @bind(router, api.INVOKE)
    def invoke(name: str, body: BatchInvokeRequest, service: Service, principal: Caller) -> JobView:
        return service.invoke(name, body, created_by=principal.name, role=principal.role)

    @bind(router, api.LIST_JOBS)
    def list_jobs(name: str, service: Service) -> list[JobView]:
        return service.list_jobs(name)

    @bind(router, api.CREATE_DEPLOYMENT)
    def create_deployment(
        name: str, body: BatchDeploymentSpec, service: Service, principal: Caller, set_default: bool = False
    ) -> BatchDeploymentView:
        return service.create_deployment(name, body, set_default=set_default, created_by=principal.name)

    @bind(router, api.LIST_DEPLOYMENTS)
    def list_deployments(name: str, service: Service) -> list[BatchDeploymentView]:
        return service.list_deployments(name)

    @bind(router, api.SHOW_DEPLOYMENT)
    def show_deployment(name: str, deployment: str, service: Service) -> BatchDeploymentView:
        return service.get_deployment(name, deployment)

    @bind(router, api.DELETE_DEPLOYMENT)
    def delete_deployment(name: str, deployment: str, service: Service) -> None:
        service.delete_deployment(name, deployment)

    return router
