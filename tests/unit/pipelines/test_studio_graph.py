"""A pipeline's step graph for kiln studio: columns by the longest chain of bindings, an edge per step whose
outputs another binds (naming the outputs and inputs), each step's status, job link and the job it reused."""

from __future__ import annotations

from kiln.pipelines.spec import PipelineJobSpec
from kiln.pipelines.studio import NOT_RUN, WAITING, step_graph
from kiln.store.tables import JobRow
from kiln.studio.lineage_graph import COLUMN_GAP, NODE_HEIGHT, NODE_WIDTH

SPEC = PipelineJobSpec.model_validate({
    "type": "pipeline",
    "inputs": {"rate": 0.1},
    "jobs": {
        "prep": {"command": "python -c 1", "outputs": {"data": {"type": "uri_folder"}}},
        "train": {"command": "python -c 1", "display_name": "<b>train</b>",
                  "inputs": {"data": "${{parent.jobs.prep.outputs.data}}", "rate": "${{parent.inputs.rate}}"},
                  "outputs": {"model": {"type": "uri_folder"}}},
        "score": {"command": "python -c 1",
                  "inputs": {"data": "${{parent.jobs.prep.outputs.data}}",
                             "model": "${{parent.jobs.train.outputs.model}}"}},
        "report": {"command": "python -c 1"},
    },
})  # fmt: skip


def job(name: str, status: str, reused_from: str | None = None) -> JobRow:
    tags = {"kiln.pipeline.reused_from": reused_from} if reused_from else {}
    return JobRow(name=name, status=status, spec={"type": "command", "tags": tags})


def test_steps_stand_in_columns_by_their_longest_chain_of_bindings_with_an_edge_per_bound_step() -> None:
    graph = step_graph(SPEC, {}, live=True)
    columns = {step.name: step.node.column for step in graph.steps}
    assert columns == {"prep": 0, "report": 0, "train": 1, "score": 2}
    edges = {(edge.source, edge.target) for edge in graph.graph.edges}
    assert edges == {("prep", "train"), ("prep", "score"), ("train", "score")}  # a pipeline input draws no edge
    assert graph.bindings[("train", "score")] == ["model → model"]
    assert graph.bindings[("prep", "score")] == ["data → data"]
    xs = {step.name: step.node.x for step in graph.steps}
    assert xs["score"] - xs["train"] == NODE_WIDTH + COLUMN_GAP
    assert graph.graph.width == 2 * 8 + 3 * NODE_WIDTH + 2 * COLUMN_GAP
    assert {step.name: step.status for step in graph.steps} == dict.fromkeys(columns, WAITING)
    assert all(step.node.href is None and step.job is None for step in graph.steps)
    assert "prep → train" in graph.describe() and graph.describe().startswith("4 steps")


def test_each_step_shows_its_jobs_status_link_and_the_job_it_reused() -> None:
    jobs = {"prep": job("p-2", "completed", reused_from="p-1"), "train": job("t-2", "running")}
    graph = step_graph(SPEC, jobs, live=False)
    by_name = {step.name: step for step in graph.steps}
    assert by_name["prep"].reused_from == "p-1" and by_name["prep"].status == "completed"
    assert by_name["prep"].node.href == "/ui/jobs/p-2"
    assert by_name["train"].reused_from is None and by_name["train"].status == "running"
    assert by_name["train"].label == "<b>train</b>"  # the template escapes it
    assert by_name["score"].status == NOT_RUN and by_name["score"].status_class == "not-run"


def test_an_edge_that_skips_a_column_runs_under_the_boxes_not_through_them() -> None:
    graph = step_graph(SPEC, {}, live=True)
    nodes = {step.name: step.node for step in graph.steps}
    paths = {(edge.source, edge.target): edge.path for edge in graph.graph.edges}
    start, control, _, end = (
        tuple(map(int, point.strip("MC").split(","))) for point in paths[("prep", "score")].split()
    )
    bottoms = [node.y + NODE_HEIGHT for node in nodes.values()]
    assert start == (nodes["prep"].x + NODE_WIDTH // 2, nodes["prep"].y + NODE_HEIGHT)  # from prep's bottom
    assert end[0] == nodes["score"].x + NODE_WIDTH // 2 and end[1] > nodes["score"].y + NODE_HEIGHT  # to score's
    assert control[1] > max(bottoms) and graph.graph.height > (start[1] + 3 * control[1]) / 4  # under all, inside
    assert paths[("prep", "train")].endswith(f"{nodes['train'].x - 6},{nodes['train'].y + NODE_HEIGHT // 2}")
