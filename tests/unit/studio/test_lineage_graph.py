"""The lineage graph's layout: one node per thing, columns by longest path, links to studio pages."""

from __future__ import annotations

from kiln.specs.model import LineageNode
from kiln.studio.lineage_graph import COLUMN_GAP, NODE_WIDTH, layout, link_of


def _fine_tuned() -> LineageNode:
    """digits-tuned:1 ← tune-job ← (digits-base:2 ← base-job ← data pixels:3), env, code; served by ep/blue."""
    base_job = LineageNode(
        kind="job", id="base-job",
        upstream=[LineageNode(kind="data", id="pixels:3"), LineageNode(kind="code", id="abc123")],
    )  # fmt: skip
    base = LineageNode(kind="model", id="digits-base:2", upstream=[base_job])
    environment = LineageNode(
        kind="environment", id="torch:1", details={"kind": "kiln", "name": "torch", "version": "1"}
    )
    tune_job = LineageNode(
        kind="job", id="tune-job", upstream=[base, environment, LineageNode(kind="code", id="abc123")]
    )
    return LineageNode(kind="model", id="digits-tuned:1", details={"served_by": ["ep/blue"]}, upstream=[tune_job])


def test_columns_follow_the_longest_path_from_a_source_and_each_thing_stands_once() -> None:
    graph = layout(_fine_tuned())
    columns = {node.key: node.column for node in graph.nodes}
    assert columns == {
        "data pixels:3": 0, "code abc123": 0, "environment torch:1": 0, "job base-job": 1, "model digits-base:2": 2,
        "job tune-job": 3, "model digits-tuned:1": 4, "deployment ep/blue": 5,
    }  # fmt: skip
    edges = {(edge.source, edge.target) for edge in graph.edges}
    assert ("code abc123", "job base-job") in edges and ("code abc123", "job tune-job") in edges  # one code node
    assert ("model digits-base:2", "job tune-job") in edges  # base model → fine-tuning job
    assert ("model digits-tuned:1", "deployment ep/blue") in edges
    assert len(edges) == len(graph.edges) == 8
    current = [node.key for node in graph.nodes if node.current]
    assert current == ["model digits-tuned:1"]


def test_geometry_every_edge_runs_left_to_right_and_nodes_do_not_overlap() -> None:
    graph = layout(_fine_tuned())
    by_key = {node.key: node for node in graph.nodes}
    for edge in graph.edges:
        assert by_key[edge.source].x + NODE_WIDTH <= by_key[edge.target].x - COLUMN_GAP + COLUMN_GAP
        assert edge.path.startswith(f"M{by_key[edge.source].x + NODE_WIDTH},")
    places = [(node.x, node.y) for node in graph.nodes]
    assert len(set(places)) == len(places)
    assert graph.width == max(node.x for node in graph.nodes) + NODE_WIDTH + 8
    assert all(0 <= node.y and node.y + 46 <= graph.height for node in graph.nodes)
    assert "model digits-base:2 → job tune-job" in graph.describe()


def test_each_node_links_to_its_page_and_what_has_no_page_has_no_link() -> None:
    assert link_of("model", "iris:3", {}) == "/ui/models/iris/3"
    assert link_of("data", "iris-table:1", {}) == "/ui/data/iris-table/1"
    assert link_of("job", "brave_owl_1", {}) == "/ui/jobs/brave_owl_1"
    assert link_of("deployment", "ep/blue", {}) == "/ui/endpoints/ep"
    assert link_of("environment", "torch:1", {"kind": "kiln", "name": "torch", "version": "1"}) == (
        "/ui/environments/torch/1"
    )
    assert link_of("environment", "server-interpreter", {"kind": "server-interpreter"}) is None
    assert link_of("code", "abc", {}) is None and link_of("upload", "abc", {}) is None
    assert link_of("model", "a b:1", {}) == "/ui/models/a%20b/1"


def test_a_lone_model_and_a_deleted_upstream_model() -> None:
    lone = layout(LineageNode(kind="model", id="uploaded:1"))
    assert [(n.key, n.column, n.row) for n in lone.nodes] == [("model uploaded:1", 0, 0)] and lone.edges == []
    gone = LineageNode(kind="model", id="old:1", details={"missing": True})
    graph = layout(LineageNode(kind="model", id="new:1", upstream=[LineageNode(kind="job", id="j", upstream=[gone])]))
    assert next(n for n in graph.nodes if n.key == "model old:1").missing


def test_long_names_are_cut_in_the_box_and_whole_in_the_label() -> None:
    name = "a-really-long-model-name-that-goes-on:12"
    node = layout(LineageNode(kind="model", id=name)).nodes[0]
    assert node.label == name and node.text.endswith("…") and len(node.text) == 24
