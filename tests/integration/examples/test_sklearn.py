"""The scikit-learn examples end to end: job → registered model with a signature → loaded back and predicting."""

from __future__ import annotations

import json

import mlflow
import pytest
from sklearn.datasets import load_diabetes, load_wine

from tests.conftest import REPO, WorkspaceServer

EXAMPLES = {
    "sklearn-regression": ("diabetes-regressor", load_diabetes, "test_r2", 0.3),
    "sklearn-clustering": ("wine-clusters", load_wine, "adjusted_rand_vs_cultivar", 0.7),
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_trains_registers_and_predicts(example: str, workspace: WorkspaceServer, mlflow_client) -> None:  # type: ignore[no-untyped-def]
    model_name, loader, metric, floor = EXAMPLES[example]
    result = workspace.cli(
        "job", "create", "-f", str(REPO / "examples" / example / "job.yml"), "--stream", "-o", "json", check=True
    )
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed"
    assert mlflow_client.get_run(view["id"]).data.metrics[metric] > floor  # visible to the real mlflow client

    latest = max(mlflow_client.search_model_versions(f"name = '{model_name}'"), key=lambda v: int(v.version))
    assert latest.run_id == view["id"]
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{latest.version}")
    # a signature an endpoint can check requests against: the dataset's columns, by name, as doubles
    X, _ = loader(return_X_y=True, as_frame=True)
    schema = model.metadata.get_input_schema()
    assert schema is not None and not schema.is_tensor_spec()
    assert schema.input_names() == list(X.columns)
    assert {column.type.name for column in schema.inputs} == {"double"}
    assert len(model.predict(X.head(4))) == 4
