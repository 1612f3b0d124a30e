"""kiln studio's pipeline pages: the pipelines (``/ui/pipelines``, newest first) and a pipeline's step graph
(``/ui/pipelines/NAME/part``, without the layout: the pipeline's job page loads it, and it reloads itself every
two seconds while the pipeline runs). The graph is drawn as SVG on the server: a box per step in the column of
its longest chain of bindings (``kiln.studio.lineage_graph.arrange``), an arrow per step whose outputs another
binds (``${{parent.jobs.X.outputs.y}}``), each box coloured and labelled by its step's status and linked to the
step's job page; a table under it names each step's job and the job a reused step reused. Read with the roles of
``jobs.list`` and ``jobs.show``: a pipeline and its steps are jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.errors import NotFound
from kiln.pipelines.job_outputs import REUSED_FROM_TAG
from kiln.pipelines.service import LIVE, PipelineService
from kiln.pipelines.spec import JOB_TYPE, PipelineJobSpec, binding_of
from kiln.pipelines.steps import STEP_TAG
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.specs.job_status import JobStatus
from kiln.store.tables import JobRow
from kiln.studio.lineage_graph import MARGIN, NODE_HEIGHT, NODE_WIDTH, GraphEdge, GraphNode, LineageGraph, arrange
from kiln.studio.pages import StudioPage
from kiln.studio.rendering import NO_STORE, fragment, render

PAGES = (StudioPage("pipelines", "Pipelines", "kiln.pipelines.studio:routes", order=14),)
REFRESH_SECONDS = 2  # how often a live pipeline's part reloads itself
LISTED = 200  # pipelines on the list page
WAITING = "waiting"  # a step not started yet, while its pipeline runs
NOT_RUN = "not run"  # a step never started, its pipeline ended
SKIP_DIP = 40  # pixels under the boxes that an edge skipping a column dips to
Service = Annotated[PipelineService, Depends(capability_service("pipelines"))]


@dataclass(frozen=True)
class StepBox:
    """One step of the graph: its box (``node``), its job (None: not started) and the job it reused."""

    name: str
    label: str  # its display name, or its name
    status: str
    job: str | None
    reused_from: str | None
    node: GraphNode

    @property
    def status_class(self) -> str:
        return self.status.replace(" ", "-")


@dataclass(frozen=True)
class StepGraph:
    steps: list[StepBox]  # column by column, top to bottom
    graph: LineageGraph
    bindings: dict[tuple[str, str], list[str]]  # (source step, target step): "y → input" for each binding

    def describe(self) -> str:
        """The graph in words, for the SVG's <desc> (screen readers)."""
        edges = [f"{source} → {target}" for source, target in self.bindings]
        return f"{len(self.steps)} steps" + (f"; {', '.join(edges)}" if edges else "")


def step_graph(spec: PipelineJobSpec, jobs: dict[str, JobRow], live: bool) -> StepGraph:
    """The steps of ``spec`` laid out left to right by their bindings, each with its job in ``jobs`` (by step
    name) and its status (``waiting`` or ``not run`` for a step without a job, as the pipeline is ``live``)."""
    bindings: dict[tuple[str, str], list[str]] = {}
    for name, step in spec.jobs.items():
        for input_name, value in step.inputs.items():
            binding = binding_of(value)
            if binding is not None and binding.step in spec.jobs and binding.output:
                bindings.setdefault((binding.step, name), []).append(f"{binding.output} → {input_name}")
    nodes: dict[str, GraphNode] = {}
    for name, step in spec.jobs.items():
        job = jobs.get(name)
        href = f"/ui/jobs/{quote(job.name)}" if job else None
        upstream = [source for source, target in bindings if target == name]
        nodes[name] = GraphNode(name, "step", step.display_name or name, href, upstream=upstream)
    graph = _skips_below(arrange(nodes))
    steps = [_box(node, jobs.get(node.key), live) for node in graph.nodes]
    return StepGraph(steps, graph, bindings)


def _skips_below(graph: LineageGraph) -> LineageGraph:
    """The graph with each edge that skips a column drawn under the boxes (bottom to bottom), not through the
    boxes of the columns between (prep → score past train), the graph made taller for it."""
    by_key = {node.key: node for node in graph.nodes}
    skipping = [e for e in graph.edges if by_key[e.target].column - by_key[e.source].column > 1]
    if not skipping:
        return graph
    below = graph.height - MARGIN + SKIP_DIP
    edges = []
    for edge in graph.edges:
        if edge in skipping:
            source, target = by_key[edge.source], by_key[edge.target]
            x1, y1 = source.x + NODE_WIDTH // 2, source.y + NODE_HEIGHT
            x2, y2 = target.x + NODE_WIDTH // 2, target.y + NODE_HEIGHT + 2  # room for the arrowhead
            edge = GraphEdge(edge.source, edge.target, f"M{x1},{y1} C{x1},{below} {x2},{below} {x2},{y2}")
        edges.append(edge)
    return LineageGraph(graph.nodes, edges, graph.width, graph.height + SKIP_DIP)


def _box(node: GraphNode, job: JobRow | None, live: bool) -> StepBox:
    if job is None:
        return StepBox(node.key, node.label, WAITING if live else NOT_RUN, None, None, node)
    reused = job.spec.get("tags", {}).get(REUSED_FROM_TAG)
    return StepBox(node.key, node.label, job.status, job.name, str(reused) if reused else None, node)


def routes(router: APIRouter) -> None:
    @router.get("/ui/pipelines")
    def pipelines(request: Request, service: Service, principal: Caller) -> HTMLResponse:
        principal.ensure(api.jobs.LIST.role, api.jobs.LIST.action)
        repository = service.jobs.jobs
        rows = repository.of_type(JOB_TYPE, list(JobStatus))[::-1][:LISTED]
        listed = [_listing(row, step_jobs(service, row)) for row in rows]
        return render(request, "pipelines/list.html", pipelines=listed)

    @router.get("/ui/pipelines/{name}/part")
    def steps_part(name: str, service: Service, principal: Caller) -> HTMLResponse:
        """The pipeline's step graph, without the layout (its job page shows it)."""
        principal.ensure(api.jobs.SHOW.role, api.jobs.SHOW.action)
        row = service.jobs.jobs.get(name)
        if row.spec.get("type") != JOB_TYPE:
            raise NotFound(f"job '{row.name}' is a {row.spec.get('type')} job, not a pipeline: /ui/jobs/{row.name}")
        return HTMLResponse(fragment("pipelines/_steps.html", **pipeline_view(service, row)), headers=NO_STORE)


def step_jobs(service: PipelineService, row: JobRow) -> dict[str, JobRow]:
    """The pipeline's step jobs by step name (its child jobs with the tag ``kiln.pipeline.step``)."""
    children = service.jobs.jobs.children(row.name)
    return {str(job.spec["tags"][STEP_TAG]): job for job in children if job.spec.get("tags", {}).get(STEP_TAG)}


def pipeline_view(service: PipelineService, row: JobRow) -> dict[str, Any]:
    live = JobStatus(row.status) in LIVE
    graph = step_graph(PipelineJobSpec.model_validate(row.spec), step_jobs(service, row), live)
    ended = sum(1 for step in graph.steps if step.job and JobStatus(step.status).is_terminal)
    reused = sum(1 for step in graph.steps if step.reused_from)
    return {
        "pipeline": row, "graph": graph, "live": live, "refresh": REFRESH_SECONDS, "ended": ended, "reused": reused,
        "node_width": NODE_WIDTH, "node_height": NODE_HEIGHT,
    }  # fmt: skip


def _listing(row: JobRow, jobs: dict[str, JobRow]) -> dict[str, Any]:
    steps = row.spec.get("jobs", {})
    return {
        "name": row.name, "display_name": row.display_name or "", "status": row.status, "created_at": row.created_at,
        "steps": len(steps), "started": len(jobs),
        "reused": sum(1 for job in jobs.values() if job.spec.get("tags", {}).get(REUSED_FROM_TAG)),
        "experiment": row.spec.get("experiment_name") or "", "created_by": row.created_by,
    }  # fmt: skip
