"""A lineage tree (``kiln lineage``'s ``LineageNode``) as a graph laid out left to right, for an SVG.

Each node stands once (a job that two models came from is one node), in the column of its longest path
from a source (data, code, environment → job → model → deployment; base model → its fine-tuning job →
the fine-tuned model), ordered in its column by where its upstream nodes stand, so edges cross little.
Each node has the studio page it links to (None for what has no page: code, uploads). No JS: the page
draws the result as SVG (``templates/models/lineage.html``). ``arrange`` is the layout alone, for any graph
(a pipeline's steps use it too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from kiln.specs.model import LineageNode

NODE_WIDTH = 200
NODE_HEIGHT = 46
COLUMN_GAP = 64
ROW_GAP = 18
MARGIN = 8
LABEL_LIMIT = 24  # characters of a node's text before it is cut (the whole text is its title)


@dataclass
class GraphNode:
    key: str  # "kind id": one node per thing
    kind: str
    label: str
    href: str | None
    upstream: list[str] = field(default_factory=list)
    column: int = 0
    row: int = 0
    x: int = 0
    y: int = 0
    missing: bool = False
    current: bool = False  # the version the page is about

    @property
    def text(self) -> str:
        return self.label if len(self.label) <= LABEL_LIMIT else self.label[: LABEL_LIMIT - 1] + "…"


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    path: str  # the SVG path's d


@dataclass
class LineageGraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    width: int
    height: int

    def describe(self) -> str:
        """The graph in words, for the SVG's <desc> (screen readers)."""
        by_key = {node.key: node for node in self.nodes}
        return "; ".join(f"{by_key[e.source].kind} {by_key[e.source].label} → "
                         f"{by_key[e.target].kind} {by_key[e.target].label}" for e in self.edges)  # fmt: skip


def link_of(kind: str, ident: str, details: dict[str, object]) -> str | None:
    """The studio page of a lineage node (None: nothing to open)."""
    if kind in ("model", "data") and ":" in ident:
        name, _, version = ident.rpartition(":")
        return f"/ui/{'models' if kind == 'model' else 'data'}/{quote(name)}/{quote(version)}"
    if kind == "job":
        return f"/ui/jobs/{quote(ident)}"
    if kind == "deployment":
        return f"/ui/endpoints/{quote(ident.split('/', 1)[0])}"
    if kind == "environment" and details.get("kind") == "kiln" and details.get("name") and details.get("version"):
        return f"/ui/environments/{quote(str(details['name']))}/{quote(str(details['version']))}"
    return None


def collect(root: LineageNode) -> dict[str, GraphNode]:
    """Every node of the tree once, with the keys of its upstream nodes; a model's ``served_by``
    deployments become nodes downstream of it."""
    nodes: dict[str, GraphNode] = {}

    def visit(node: LineageNode) -> str:
        key = f"{node.kind} {node.id}"
        if key not in nodes:
            nodes[key] = GraphNode(
                key, node.kind, node.id, link_of(node.kind, node.id, node.details),
                missing=bool(node.details.get("missing")),
            )  # fmt: skip
        for deployment in node.details.get("served_by") or []:
            served = f"deployment {deployment}"
            nodes.setdefault(served, GraphNode(served, "deployment", deployment, link_of("deployment", deployment, {})))
            if key not in nodes[served].upstream:
                nodes[served].upstream.append(key)
        for parent in node.upstream:
            parent_key = visit(parent)
            if parent_key not in nodes[key].upstream:
                nodes[key].upstream.append(parent_key)
        return key

    nodes[visit(root)].current = True
    return nodes


def layout(root: LineageNode) -> LineageGraph:
    return arrange(collect(root))  # discovery order: the root first, then upstream depth-first


def arrange(nodes: dict[str, GraphNode]) -> LineageGraph:
    """``nodes`` (each naming its upstream nodes' keys) placed in columns by their longest path from a source,
    ordered in a column by where their upstream nodes stand (ties: the order of ``nodes``), with an edge per
    upstream link. Also the layout of a pipeline's step graph (``kiln.pipelines.studio``)."""
    order = list(nodes)

    def column(key: str, seen: frozenset[str] = frozenset()) -> int:
        node = nodes[key]
        if node.column or not node.upstream:
            return node.column
        parents = [p for p in node.upstream if p not in seen]  # a cycle cannot happen; guard anyway
        node.column = 1 + max((column(p, seen | {key}) for p in parents), default=-1)
        return node.column

    for key in order:
        column(key)
    columns: dict[int, list[GraphNode]] = {}
    for key in order:
        columns.setdefault(nodes[key].column, []).append(nodes[key])
    for index in sorted(columns):
        members = columns[index]
        if index > 0:  # by the mean row of their upstream nodes (already placed), stable for ties
            members.sort(key=lambda n: sum(nodes[p].row for p in n.upstream) / max(len(n.upstream), 1))
        for row, node in enumerate(members):
            node.row = row
    tallest = max(len(members) for members in columns.values())
    height = 2 * MARGIN + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
    for members in columns.values():
        offset = (height - len(members) * NODE_HEIGHT - (len(members) - 1) * ROW_GAP) // 2  # centred
        for node in members:
            node.x = MARGIN + node.column * (NODE_WIDTH + COLUMN_GAP)
            node.y = offset + node.row * (NODE_HEIGHT + ROW_GAP)
    edges = [
        GraphEdge(parent, node.key, _curve(nodes[parent], node)) for node in nodes.values() for parent in node.upstream
    ]
    width = 2 * MARGIN + len(columns) * NODE_WIDTH + (len(columns) - 1) * COLUMN_GAP
    placed = sorted(nodes.values(), key=lambda n: (n.column, n.row))
    return LineageGraph(placed, edges, width, height)


def _curve(source: GraphNode, target: GraphNode) -> str:
    x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2
    x2, y2 = target.x - 6, target.y + NODE_HEIGHT // 2  # room for the arrowhead
    bend = (x2 - x1) // 2
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
