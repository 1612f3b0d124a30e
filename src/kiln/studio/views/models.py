"""Models: the registry (``/ui/models``) and a model's page (``/ui/models/NAME`` for its latest version,
``/ui/models/NAME/VERSION``): versions with the jobs that made them, aliases (set and moved through the
REST alias routes), tags, the signature and the version's lineage drawn as a graph; its ONNX conversions
(versions converted from it, each with its parity report, or its own report when it is one), a Convert form
for contributors (the REST ``models.convert`` route), and links to download it packaged or exported."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.conversion.report import SOURCE_TAG, ConversionReport, report_from_tags
from kiln.errors import NotFound
from kiln.server.dependencies import Lineage, Models
from kiln.server.permissions import Caller
from kiln.specs.model import ModelVersionView
from kiln.studio.lineage_graph import NODE_HEIGHT, NODE_WIDTH, layout
from kiln.studio.rendering import render


def routes(router: APIRouter) -> None:
    @router.get("/ui/models")
    def model_list(request: Request, models: Models, principal: Caller) -> HTMLResponse:
        principal.ensure(api.models.LIST.role, api.models.LIST.action)
        return render(request, "models/list.html", models=models.list())

    @router.get("/ui/models/{name}")
    def model_latest(request: Request, name: str, models: Models, lineage: Lineage, principal: Caller) -> HTMLResponse:
        return _model_page(request, name, None, models, lineage, principal)

    @router.get("/ui/models/{name}/{version}")
    def model_version(
        request: Request, name: str, version: str, models: Models, lineage: Lineage, principal: Caller
    ) -> HTMLResponse:
        return _model_page(request, name, version, models, lineage, principal)


def _model_page(
    request: Request, name: str, version: str | None, models: Models, lineage: Lineage, principal: Caller
) -> HTMLResponse:
    principal.ensure(api.models.SHOW.role, api.models.SHOW.action)
    model = models.get(name, include_archived=True)
    wanted = version or model.latest_version or (model.versions[-1].version if model.versions else None)
    chosen = next((v for v in model.versions if v.version == wanted), None)
    if chosen is None and version is None:
        raise NotFound(f"model '{name}' has no versions left (each was deleted); kiln model create registers one")
    if chosen is None:
        known = ", ".join(v.version for v in model.versions) or "none"
        raise NotFound(f"model '{name}' has no version '{version}' (deleted, or never made); its versions: {known}")
    principal.ensure(api.lineage.MODEL.role, api.lineage.MODEL.action)
    graph = layout(lineage.model(name, chosen.version))
    signature = models.signature(name, chosen.version) if chosen.type == "mlflow_model" else None
    own_report = report_from_tags(chosen.tags)
    return render(
        request, "models/model.html", model=model, chosen=chosen, graph=graph, signature=signature,
        node_width=NODE_WIDTH, node_height=NODE_HEIGHT, own_report=own_report,
        conversions=_conversions_of(models, f"{model.name}:{chosen.version}"),
        convertible=chosen.type == "mlflow_model" and own_report is None,
    )  # fmt: skip


def _conversions_of(models: Models, source: str) -> list[tuple[ModelVersionView, ConversionReport | None]]:
    """The versions converted from ``source`` (``NAME:VERSION``), newest first, each with its parity report."""
    found = [
        (version, report_from_tags(version.tags))
        for model in models.list(include_archived=True)
        for version in model.versions
        if version.tags.get(SOURCE_TAG) == source
    ]
    return sorted(found, key=lambda pair: pair[0].created_at, reverse=True)
