"""DP-SGD: a job that reads a private version must declare privacy: {epsilon, delta} and is charged it at submit
(refused when the budget cannot pay); examples/privacy/dp-sgd.yml trains with Opacus on generated data, reaches an
accuracy floor, its achieved epsilon stays within what it declared, and its model is registered with its privacy
guarantee in its tags and lineage model -> job -> private data version."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kiln.errors import Conflict, InvalidSpec
from kiln.specs.model import LineageNode
from kiln.specs.views import JobStatus
from tests.conftest import UNSANDBOXED, WorkspaceServer, server_env
from tests.lanes import server_fixture

METADATA = {
    "max_ids": 1, "pid": {"type": "int", "private_id": True}, "x1": {"type": "float", "lower": -4.0, "upper": 4.0},
    "x2": {"type": "float", "lower": -4.0, "upper": 4.0}, "y": {"type": "int", "lower": 0, "upper": 1},
}  # fmt: skip


@server_fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-privacy-dp-sgd-home")
    started = WorkspaceServer(home, server_env(home, **UNSANDBOXED)).start()
    yield started
    started.stop()


def write_credit(folder: Path, rows: int = 2000) -> Path:
    """credit.csv: two features and a label they decide (with a little noise)."""
    chance = random.Random(3)
    path = folder / "credit.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pid", "x1", "x2", "y"])
        for pid in range(rows):
            x1, x2 = chance.uniform(-3, 3), chance.uniform(-3, 3)
            writer.writerow([pid, round(x1, 4), round(x2, 4), int(x1 + 0.5 * x2 + chance.gauss(0, 0.3) > 0)])
    return path


def test_the_dp_sgd_example_is_charged_at_submit_and_stays_within_its_epsilon(
    server: WorkspaceServer, tmp_path: Path
) -> None:
    spec = {"name": "credit", "version": "1", "type": "uri_file", "path": str(write_credit(tmp_path)),
            "privacy": {"epsilon": 1.5, "delta": 1e-5, "metadata": METADATA}}  # fmt: skip
    example = yaml.safe_load(Path("examples/privacy/dp-sgd.yml").read_text())
    with server.client() as client:
        client.data.create(spec)
        undeclared = {k: v for k, v in example.items() if k != "privacy"}
        undeclared["code"] = "examples/privacy/dp-sgd"
        with pytest.raises(InvalidSpec, match="privacy: inputs.table .* is private data: declare"):
            client.jobs.create(undeclared)
        job = client.jobs.create("examples/privacy/dp-sgd.yml").wait(timeout=400)
        log = "".join(client.jobs.logs(job.name))
        assert job.status == JobStatus.COMPLETED, log[-3000:]
        metrics = job.metrics
        with pytest.raises(Conflict, match="the privacy budget left is epsilon 0.5"):
            client.jobs.create("examples/privacy/dp-sgd.yml")  # 1.0 more than the 0.5 left: refused at submit
        budget = client.privacy.budget("credit", "1")
        model = client.models.get_version("dp-credit", "latest")
        lineage = client.models.lineage("dp-credit", model.version)
        with pytest.raises(InvalidSpec, match="privacy guarantee, which kiln sets from the privacy ledger"):
            client.models.update("dp-credit", version=model.version, tags={"privacy.epsilon": "0.01"})
    shown = server.cli("model", "show", "-n", "dp-credit", "-v", model.version, check=True).stdout
    assert metrics["accuracy"] >= 0.8, log[-2000:]
    assert 0 < metrics["dp_epsilon"] <= 1.0
    assert [(c.kind, c.epsilon, c.delta) for c in budget.charges] == [("job", 1.0, 1e-6)]
    assert "train.py" in budget.charges[0].what
    # the registered model carries its guarantee: achieved (the job's accountant), declared and charged (the ledger)
    assert model.job == job.name
    tags = model.tags
    assert float(tags["privacy.epsilon"]) == pytest.approx(metrics["dp_epsilon"], rel=1e-4)
    assert float(tags["privacy.delta"]) == 1e-6 and tags["privacy.accountant"] == "opacus rdp"
    assert (tags["privacy.declared_epsilon"], tags["privacy.declared_delta"]) == ("1", "1e-06")
    assert tags["privacy.data"] == "credit:1" and tags["privacy.charges"] == f"credit:1#{budget.charges[0].id}"
    assert "privacy.data=credit:1" in shown and "privacy.epsilon=" in shown and "data credit:1" in shown
    assert _upstream(lineage, "job") == [job.name]
    (job_node,) = lineage.upstream
    assert [(n.id, n.details.get("private")) for n in job_node.upstream if n.kind == "data"] == [("credit:1", True)]


def _upstream(node: LineageNode, kind: str) -> list[str]:
    return [n.id for n in node.upstream if n.kind == kind]
