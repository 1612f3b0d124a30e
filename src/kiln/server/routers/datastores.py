"""REST for datastores (``kiln.api.datastores``): credentials go in, never out."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kiln import api
from kiln.server.dependencies import Datastores
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.datastore import DatastoreSpec, DatastoreView


def datastores_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.datastores.CREATE)
    def create_datastore(datastores: Datastores, spec: DatastoreSpec, principal: Caller) -> DatastoreView:
        return datastores.create(spec, principal.name)

    @bind(router, api.datastores.LIST)
    def list_datastores(datastores: Datastores) -> list[DatastoreView]:
        return datastores.list()

    @bind(router, api.datastores.SHOW)
    def show_datastore(datastores: Datastores, name: str) -> DatastoreView:
        return datastores.get(name)

    @bind(router, api.datastores.DELETE)
    def delete_datastore(datastores: Datastores, name: str) -> Response:
        datastores.delete(name)
        return Response(status_code=204)

    return router
