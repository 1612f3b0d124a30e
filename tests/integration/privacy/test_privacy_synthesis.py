"""DP synthetic data: a new, non-private version with lineage to its private source and the spend in its tags,
close to the source's marginals at a large epsilon, charged to the source's ledger; refused, nothing is made."""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from kiln.errors import Conflict
from tests.conftest import WorkspaceServer, server_env
from tests.integration.privacy.conftest import installed_engine
from tests.integration.privacy.test_privacy_queries import private_version
from tests.lanes import server_fixture


@server_fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    engine = installed_engine()
    home = tmp_path_factory.mktemp("kiln-privacy-synth-home")
    started = WorkspaceServer(home, server_env(home, privacy_engine_python=str(engine))).start()
    yield started
    started.stop()


def synthetic_rows(client, name: str, folder: Path) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    downloaded = client.data.download(name, "1", download_path=folder)
    (table,) = [p for p in Path(downloaded).rglob("*.csv")]
    with table.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_mst_makes_a_non_private_version_close_to_the_marginals_with_lineage_and_its_charge(
    server: WorkspaceServer, tmp_path: Path
) -> None:
    name, truth = private_version(server, tmp_path, epsilon=30.0, rows=2000)
    made = server.cli(
        "privacy", "synthesize", "-n", name, "-v", "1", "--epsilon", "20", "--synthesizer", "mst", "--rows", "2000",
        "--name", f"{name}-synth", check=True,
    )  # fmt: skip
    assert f"created data asset {name}-synth:1" in made.stdout
    with server.client() as client:
        view = client.data.get(f"{name}-synth", "1")
        assert view.privacy is None and view.tags["kiln.privacy.source"] == f"{name}:1"
        assert view.tags["kiln.privacy.synthesizer"] == "mst" and float(view.tags["kiln.privacy.epsilon"]) == 20.0
        rows = synthetic_rows(client, f"{name}-synth", tmp_path / "synthetic")
        budget = client.privacy.budget(name, "1")
    assert len(rows) == 2000 and set(rows[0]) == {"sex", "age"}  # never the private id
    share = sum(r["sex"] == "F" for r in rows) / len(rows)
    assert abs(share - truth.females / truth.rows) < 0.06
    assert abs(sum(float(r["age"]) for r in rows) / len(rows) - truth.mean_age) < 4.0
    assert [(c.kind, c.epsilon) for c in budget.charges] == [("synthesis", 20.0)]
    assert f"as data asset {name}-synth" in budget.charges[0].what


def test_a_synthesis_the_budget_cannot_pay_makes_nothing(server: WorkspaceServer, tmp_path: Path) -> None:
    name, _ = private_version(server, tmp_path, epsilon=1.0, rows=200)
    with server.client() as client:
        client.privacy.query(name, "1", f"SELECT COUNT(*) AS n FROM {name}", epsilon=0.9)
        with pytest.raises(Conflict, match="the privacy budget left"):
            client.privacy.synthesize(name, "1", synthesizer="mwem", epsilon=0.5, rows=10, to=f"{name}-synth")
        assert [d.name for d in client.data.list() if d.name == f"{name}-synth"] == []
        assert len(client.privacy.budget(name, "1").charges) == 1


def engine_processes(server: WorkspaceServer) -> list[psutil.Process]:
    """The server's privacy engine processes (kiln/privacy/engine_process.py in the engine's Python)."""
    children = psutil.Process(server.process.pid).children(recursive=True)
    return [p for p in children if any("engine_process.py" in part for part in p.cmdline())]


def engines_cpu(server: WorkspaceServer) -> float:
    """The CPU seconds the server's engine processes have used (an idle engine uses none)."""
    return sum(sum(p.cpu_times()[:2]) for p in engine_processes(server))


def test_a_query_is_answered_while_a_synthesizer_runs(server: WorkspaceServer, tmp_path: Path) -> None:
    """Synthesis has its own engine process: a query does not wait the tens of seconds MST takes."""
    name, _ = private_version(server, tmp_path, epsilon=30.0, rows=2000)
    with server.client() as client:
        client.privacy.query(name, "1", f"SELECT COUNT(*) AS n FROM {name}", epsilon=0.5)  # the query engine is up
        outcome: list[object] = []

        def synthesize() -> None:
            with server.client() as other:
                outcome.append(
                    other.privacy.synthesize(name, "1", synthesizer="mst", epsilon=5.0, rows=500, to=f"{name}-bg")
                )

        synthesis = threading.Thread(target=synthesize)
        synthesis.start()
        before = engines_cpu(server)
        while synthesis.is_alive() and engines_cpu(server) < before + 0.3:
            # until an engine is busy synthesising: asked early in MST's several seconds of CPU, so that on a loaded
            # machine the query's own time cannot outlast what is left of the synthesis (stop 29's suite saw it)
            synthesis.join(0.02)
        answer = client.privacy.query(name, "1", f"SELECT COUNT(*) AS n FROM {name}", epsilon=0.5)
        answered_during_synthesis = synthesis.is_alive()
        synthesis.join()
        engines = engine_processes(server)
    assert answered_during_synthesis, "the query waited for the synthesis"
    assert 1500 < answer.rows[0][0] < 2500 and len(outcome) == 1
    assert len(engines) == 2  # one for queries, one for syntheses: bounded, whatever the requests
