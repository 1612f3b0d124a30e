"""What the rollout modules share: an endpoint of the iris model with deployments ready to roll out."""

from __future__ import annotations

from pathlib import Path

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.conftest import WorkspaceServer

IRIS = load_iris(as_frame=True)
FAST_PROBES = "readiness_probe: {initial_delay: 0, period: 1, failure_threshold: 60}\n"
FAILING_SCRIPT = """\
import itertools, json

calls = itertools.count(1)

def init():
    pass

def run(raw_data):
    if next(calls) % 3 == 0:
        raise RuntimeError("one request in three fails in this deployment")
    return [0 for _ in json.loads(raw_data)["input_data"]["data"]]
"""


def create_endpoint(server: WorkspaceServer, folder: Path, name: str, deployments: tuple[str, ...]) -> None:
    """Endpoint ``name`` with ``deployments`` of one iris model, all ready, the first taking all the traffic; one
    named ``red`` runs the failing script instead (one request in three fails)."""
    mlflow.sklearn.save_model(
        LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target), str(folder / "model"), input_example=IRIS.data[:2]
    )
    (folder / "code").mkdir()
    (folder / "code" / "score.py").write_text(FAILING_SCRIPT)
    with server.client() as client:
        version = client.models.create(name=f"{name}-iris", path=str(folder / "model")).version
        client.online_endpoints.create({"name": name})
        model = f"kiln:{name}-iris:{version}"
        for deployment in deployments:
            code = "code_configuration: {code: ./code, scoring_script: score.py}\n" if deployment == "red" else ""
            (folder / f"{deployment}.yml").write_text(
                f"name: {deployment}\nendpoint_name: {name}\nmodel: {model}\n{FAST_PROBES}{code}"
            )
            client.online_deployments.create(folder / f"{deployment}.yml", all_traffic=deployment == deployments[0])
        assert client.online_endpoints.get(name).traffic == {deployments[0]: 100}
